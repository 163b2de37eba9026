"""Load the rail network with osmnx, keep the rail tags, correct lengths, cache the result.

Loading order: the parsed graph bundled next to the snapshot (``<name>.graph.npz``, written by
``make snapshot``), else the user cache (``settings.cache_dir()``), else the XML is parsed (slow)
and the cache written. Both files are the safe format of :mod:`simulator.network._cache`, keyed by
the snapshot's SHA-256 and the code's cache version; one that does not fit is rebuilt with one
line on stderr saying why.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from simulator import settings
from simulator._gc import cyclic_gc_paused
from simulator.errors import DataFileError, NetworkError
from simulator.network._cache import CACHE_VERSION, CacheError, read_cache, write_cache
from simulator.network.stations import StationIndex, read_aliases
from simulator.network.tags import parse_gauge, parse_maxspeed

__all__ = ["CACHE_VERSION", "RailNetwork", "bundled_graph_path", "load_network",
           "parse_snapshot"]

log = logging.getLogger(__name__)

#: the switch-angle test measures each edge's direction this far from its ends
HEADING_PROBE_M = 100.0
#: simplified geometry: the router widens its angle test by at most this much per edge
MAX_HEADING_ERROR = math.radians(30.0)
EARTH_RADIUS_M = 6_371_009.0

#: edge attributes that must not be merged across when simplifying
EDGE_ATTRS_DIFFER = ["name", "gauge", "country", "source", "maxspeed", "electrified",
                     "trainsim:geometry"]


@dataclass(eq=False)  # compared (and hashed) by identity: a network is one loaded object
class RailNetwork:
    """A rail network: the osmnx graph plus its stations and border crossings.

    Attributes
    ----------
    graph
        The osmnx graph (a ``networkx.MultiDiGraph``): nodes with ``x``, ``y`` and the OSM
        node tags in ``settings.useful_tags_node``; edges with ``length`` (m), ``geometry``,
        the OSM way tags in ``settings.useful_tags_way``, and ``gauges`` (a set of mm) and
        ``speed_limit`` (km/h or None) parsed from them.
    stations
        The station index (names in any script, aliases).
    source
        The snapshot it was read from.
    borders
        Nodes tagged as border crossings.
    arrays
        Per-edge arrays in ``graph.edges(keys=True)`` order (headings, see :func:`edge_arrays`).
    """

    graph: nx.MultiDiGraph
    stations: StationIndex
    source: Path
    borders: list[int] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def summary(self) -> dict[str, Any]:
        """Counts and km of track by country, gauge and source (each undirected edge once)."""
        km_country: dict[str, float] = defaultdict(float)
        km_gauge: dict[str, float] = defaultdict(float)
        km_source: dict[str, float] = defaultdict(float)
        seen: set[tuple[int, int, int]] = set()
        loops = 0
        for u, v, k, d in self.graph.edges(keys=True, data=True):
            key = (min(u, v), max(u, v), k)
            if key in seen:
                continue
            seen.add(key)
            km = d["length"] / 1000
            if u == v:  # a loop (a closed way) is held once per direction, under two keys
                loops += 1
                km /= 2
            km_country[str(d.get("country") or "?")] += km
            gauges = d.get("gauges") or frozenset()
            km_gauge[";".join(str(g) for g in sorted(gauges)) or "?"] += km
            km_source[_source_kind(d.get("source"))] += km
        comps = sorted(nx.weakly_connected_components(self.graph), key=len, reverse=True)
        comp_km = []
        for c in comps:
            km = sum(d["length"] for _u, _v, d in self.graph.subgraph(c).edges(data=True)) / 2000
            comp_km.append(km)
        return {
            "nodes": self.graph.number_of_nodes(),
            "edges": len(seen) - loops // 2,
            "components": len(comps),
            "component_km": comp_km,
            "stations": len(self.stations),
            "borders": [self.graph.nodes[n].get("name:en") or self.graph.nodes[n].get("name")
                        for n in self.borders],
            "km_by_country": dict(sorted(km_country.items())),
            "km_by_gauge": dict(sorted(km_gauge.items())),
            "km_by_source": dict(sorted(km_source.items())),
        }


def _source_kind(source: Any) -> str:
    text = ";".join(source) if isinstance(source, list) else str(source or "")
    if "station-table" in text:
        return "station table"
    if "connector" in text and "osm" not in text:
        return "connector"
    if "osm" in text:
        return "OSM-derived"
    return "other"


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_snapshot(path: Path) -> nx.MultiDiGraph:
    """Parse OSM XML with osmnx and turn it into trainsim's rail graph (slow: no cache)."""
    import osmnx as ox

    ox.settings.useful_tags_way = list(settings.useful_tags_way)
    ox.settings.useful_tags_node = list(settings.useful_tags_node)
    ox.settings.log_console = False
    try:
        g = ox.graph_from_xml(path, simplify=False, retain_all=True, bidirectional=False)
    except Exception as exc:  # osmnx raises many kinds on a broken file
        msg = f"{path}: cannot read as OSM XML ({exc.__class__.__name__}: {exc})"
        raise NetworkError(msg) from exc
    _apply_length_corrections(g)
    g = ox.simplify_graph(g, edge_attrs_differ=EDGE_ATTRS_DIFFER,
                          node_attrs_include=["railway", "border_crossing"])
    _add_parsed_attributes(g)
    return g


def _apply_length_corrections(g: nx.MultiDiGraph) -> None:
    """Station-table ways get their published length, calibrated OSM ways their scale."""
    for _u, _v, d in g.edges(data=True):
        if "trainsim:length" in d:
            d["length"] = float(d["trainsim:length"])
        elif "trainsim:length_scale" in d:
            d["length"] = d["length"] * float(d["trainsim:length_scale"])


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _add_parsed_attributes(g: nx.MultiDiGraph) -> None:
    # the graph is a function of the XML alone: no creation time, and the values osmnx gathers
    # from merged ways (in set order, which varies from run to run) sorted
    g.graph.pop("created_date", None)
    for _u, _v, d in g.edges(data=True):
        for key, value in d.items():
            if isinstance(value, list):
                d[key] = sorted(value, key=lambda x: (type(x).__name__, str(x)))
        d["gauges"] = parse_gauge(d.get("gauge"))
        d["speed_limit"] = parse_maxspeed(d.get("maxspeed"))
        for key in ("name", "name:en", "country", "source", "electrified", "trainsim:geometry"):
            if key in d:
                d[key] = _first(d[key])
    # nodes: the country of a station is that of its track
    for n, data in g.nodes(data=True):
        for _, _, d in g.edges(n, data=True):
            if d.get("country"):
                data.setdefault("country", d["country"])
                break


def edge_coords(g: nx.MultiDiGraph, u: int, v: int, d: dict[str, Any]) -> np.ndarray:
    """The edge's (lon, lat) points from u to v (osmnx stores a geometry u→v; a reversed one
    is turned round)."""
    geom = d.get("geometry")
    if geom is not None:
        coords = np.asarray(geom.coords, dtype=float)[:, :2]
        ux, uy = g.nodes[u]["x"], g.nodes[u]["y"]
        if (coords[0, 0] - ux) ** 2 + (coords[0, 1] - uy) ** 2 > (coords[-1, 0] - ux) ** 2 + (
            coords[-1, 1] - uy
        ) ** 2:
            coords = coords[::-1]
        return coords
    return np.array([[g.nodes[u]["x"], g.nodes[u]["y"]], [g.nodes[v]["x"], g.nodes[v]["y"]]])


def _heading(x: np.ndarray, y: np.ndarray, probe: float) -> float:
    """Direction (radians) from the first point to the point ``probe`` metres along the line."""
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    if cum[-1] <= 0:
        return 0.0
    target = min(probe, float(cum[-1]))
    return math.atan2(float(np.interp(target, cum, y)) - y[0],
                      float(np.interp(target, cum, x)) - x[0])


def edge_arrays(g: nx.MultiDiGraph, *, probe_m: float = HEADING_PROBE_M) -> dict[str, np.ndarray]:
    """What the router needs of each edge's geometry (in ``g.edges(keys=True)`` order).

    ``head_out``: direction leaving u; ``head_in``: direction arriving at v (radians, measured
    ``probe_m`` along the track); ``heading_error``: how far a simplified geometry's direction may
    be off (from ``trainsim:simplified_m``). Costly (a pass over every edge's geometry), so it is
    computed once when the XML is parsed and kept in the cache.
    """
    head_out, head_in, err = [], [], []
    for u, v, _k, d in g.edges(keys=True, data=True):
        c = edge_coords(g, u, v, d)
        lat0 = math.radians(float(c[:, 1].mean()))
        x = np.radians(c[:, 0]) * math.cos(lat0) * EARTH_RADIUS_M
        y = np.radians(c[:, 1]) * EARTH_RADIUS_M
        head_out.append(_heading(x, y, probe_m))
        head_in.append(_heading(x[::-1], y[::-1], probe_m) + math.pi)
        tol = float(_first(d.get("trainsim:simplified_m")) or 0.0)
        err.append(min(math.atan(2 * tol / max(float(d["length"]), 1.0)), MAX_HEADING_ERROR))
    return {"head_out": np.asarray(head_out), "head_in": np.asarray(head_in),
            "heading_error": np.asarray(err)}


def bundled_graph_path(snapshot: Path) -> Path:
    """Where ``make snapshot`` puts a snapshot's parsed graph (``x.osm.bz2`` → ``x.graph.npz``)."""
    return snapshot.with_name(snapshot.name.split(".", 1)[0] + ".graph.npz")


def _note(msg: str) -> None:
    """One line on stderr: the run goes on."""
    print(f"trainsim: note: {msg}", file=sys.stderr)


#: networks loaded in this process, by what they were loaded from (see :func:`load_network`)
_LOADED: OrderedDict[tuple[object, ...], RailNetwork] = OrderedDict()
#: how many loaded networks are kept
KEEP_LOADED = 4


@cyclic_gc_paused()  # a million objects that live on: collections would free nothing
def load_network(
    path: Path | str | None = None, *, cache: bool = True, cache_dir: Path | None = None
) -> RailNetwork:
    """Load a rail network snapshot (OSM XML, optionally .bz2/.gz).

    Within a process, loading the same unchanged files again returns the network loaded the
    first time (the same object, with its router already built): treat a network as read-only.

    Parameters
    ----------
    path
        The snapshot; the bundled ``data/rail/corridors.osm.bz2`` by default.
    cache
        Reuse the bundled parsed graph or the user cache (and write the latter) when they were
        made from this very snapshot by this code's cache version, and a network loaded before
        in this process; ``False`` parses the XML.
    cache_dir
        Where the user cache lives; ``settings.cache_dir()`` by default.

    Returns
    -------
    RailNetwork

    Raises
    ------
    DataFileError
        The snapshot is missing or not a regular file.
    NetworkError
        The snapshot is not OSM XML, or holds no rail network.

    Examples
    --------
    >>> from simulator import load_network
    >>> net = load_network()
    >>> net.stations.find("Dong Dang").label
    'Đồng Đăng'
    """
    path = Path(path) if path is not None else settings.default_snapshot
    if not path.exists():
        msg = f"{path}: rail network snapshot not found (run `make snapshot` to rebuild it)"
        raise DataFileError(msg)
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        msg = f"{path}: is {kind}; a rail network snapshot is an OSM XML file (.osm, .osm.bz2)"
        raise DataFileError(msg)
    folder = cache_dir or settings.cache_dir()
    aliases = settings.data_dir / "rail" / "aliases.csv"
    key = _loaded_key(path, folder, aliases) if cache else None
    if key is not None and key in _LOADED:
        _LOADED.move_to_end(key)
        return _LOADED[key]
    # the small input first: a bad aliases table fails before the graph is read
    alias_map = read_aliases(aliases) if aliases.is_file() else None
    digest = _file_hash(path)
    loaded: tuple[nx.MultiDiGraph, dict[str, np.ndarray]] | None = None
    cache_file = None
    if cache:
        bundled = bundled_graph_path(path)
        if bundled.is_file():
            loaded = _try_cache(bundled, digest, then="parsing the XML; `make snapshot` "
                                                      "rebuilds it")
        if loaded is None:
            cache_file = folder / f"network-{digest[:20]}-v{CACHE_VERSION}.npz"
            if cache_file.exists():
                loaded = _try_cache(cache_file, digest, then="rebuilding it")
    if loaded is None:
        graph = parse_snapshot(path)
        _check_not_empty(graph, path)
        arrays = edge_arrays(graph)
        if cache_file is not None:
            try:
                write_cache(cache_file, graph, snapshot_sha256=digest, arrays=arrays)
            except OSError as exc:  # a read-only cache folder only costs speed
                _note(f"could not write the network cache {cache_file}: {exc}")
    else:
        graph, arrays = loaded
    stations = StationIndex.from_graph(graph, alias_map)
    borders = [n for n, d in graph.nodes(data=True) if d.get("border_crossing")]
    network = RailNetwork(graph=graph, stations=stations, source=path, borders=borders,
                          arrays=arrays)
    if key is not None:
        key = _loaded_key(path, folder, aliases)  # with the cache file as it is now
        _LOADED[key] = network
        while len(_LOADED) > KEEP_LOADED:
            _LOADED.popitem(last=False)
    return network


def _loaded_key(snapshot: Path, cache_folder: Path, aliases: Path) -> tuple[object, ...]:
    """What a loaded network depends on: the files it was read from, as they are now (a
    changed file, a rebuilt cache, another cache folder or code's cache version loads anew)."""
    def stamp(p: Path) -> tuple[str, int, int] | None:
        try:
            st = p.stat()
        except OSError:
            return None
        return str(p.resolve()), st.st_mtime_ns, st.st_size

    caches = sorted(cache_folder.glob(f"network-*-v{CACHE_VERSION}.npz")) \
        if cache_folder.is_dir() else []
    return (stamp(snapshot), stamp(bundled_graph_path(snapshot)), str(cache_folder),
            tuple(stamp(c) for c in caches), stamp(aliases), CACHE_VERSION)


def _try_cache(file: Path, digest: str, *, then: str
               ) -> tuple[nx.MultiDiGraph, dict[str, np.ndarray]] | None:
    try:
        graph, arrays = read_cache(file, snapshot_sha256=digest)
        _check_not_empty(graph, file)
        if set(arrays) != {"head_out", "head_in", "heading_error"}:
            msg = "wrong shape: derived arrays"
            raise CacheError(msg)
        return graph, arrays
    except (CacheError, NetworkError) as exc:
        _note(f"network cache {file} not used ({exc}); {then}")
        return None


def _check_not_empty(graph: nx.MultiDiGraph, where: Path) -> None:
    """A network without track is an error of the file, never of a scenario."""
    if graph.number_of_edges() == 0:
        msg = f"{where}: holds no rail network (no track)"
        raise NetworkError(msg)
