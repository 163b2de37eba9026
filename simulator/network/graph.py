"""Load the rail network with osmnx, keep the rail tags, correct lengths, cache the result."""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from simulator import settings
from simulator._io import atomic_path
from simulator.errors import DataFileError, NetworkError
from simulator.network.stations import StationIndex
from simulator.network.tags import parse_gauge, parse_maxspeed

__all__ = ["RailNetwork", "load_network"]

log = logging.getLogger(__name__)

#: bump when the parsed form changes, so that old caches are not reused
CACHE_VERSION = "3"

#: edge attributes that must not be merged across when simplifying
EDGE_ATTRS_DIFFER = ["name", "gauge", "country", "source", "maxspeed", "electrified",
                     "trainsim:geometry"]


@dataclass
class RailNetwork:
    """A rail network: the osmnx graph plus its stations and border crossings."""

    graph: nx.MultiDiGraph
    stations: StationIndex
    source: Path
    borders: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Counts and km of track by country, gauge and source (each undirected edge once)."""
        km_country: dict[str, float] = defaultdict(float)
        km_gauge: dict[str, float] = defaultdict(float)
        km_source: dict[str, float] = defaultdict(float)
        seen: set[tuple[int, int, int]] = set()
        for u, v, k, d in self.graph.edges(keys=True, data=True):
            key = (min(u, v), max(u, v), k)
            if key in seen:
                continue
            seen.add(key)
            km = d["length"] / 1000
            km_country[str(d.get("country") or "?")] += km
            gauges = d.get("gauges") or frozenset()
            km_gauge[";".join(str(g) for g in sorted(gauges)) or "?"] += km
            km_source[_source_kind(d.get("source"))] += km
        return {
            "nodes": self.graph.number_of_nodes(),
            "edges": len(seen),
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
    for _u, _v, d in g.edges(data=True):
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


def load_network(
    path: Path | str | None = None, *, cache: bool = True, cache_dir: Path | None = None
) -> RailNetwork:
    """Load a rail network snapshot (OSM XML, optionally .bz2/.gz).

    Parameters
    ----------
    path
        The snapshot; the bundled ``data/rail/corridors.osm.bz2`` by default.
    cache
        Reuse (and write) a parsed copy keyed by the snapshot's content hash.
    cache_dir
        Where the cache lives; ``settings.cache_dir()`` by default.

    Returns
    -------
    RailNetwork
    """
    path = Path(path) if path is not None else settings.default_snapshot
    if not path.is_file():
        msg = f"{path}: rail network snapshot not found (run `make snapshot` to rebuild it)"
        raise DataFileError(msg)
    graph = None
    cache_file = None
    if cache:
        folder = cache_dir or settings.cache_dir()
        cache_file = folder / f"network-{_file_hash(path)[:20]}-v{CACHE_VERSION}.pickle"
        if cache_file.is_file():
            try:
                with open(cache_file, "rb") as f:
                    graph = pickle.load(f)
            except Exception:  # a stale or truncated cache is rebuilt, never trusted
                log.warning("ignoring unreadable cache %s", cache_file)
                graph = None
    if graph is None:
        graph = parse_snapshot(path)
        if cache_file is not None:
            _write_atomic_pickle(cache_file, graph)
    aliases = settings.data_dir / "rail" / "aliases.csv"
    stations = StationIndex.from_graph(graph, aliases if aliases.is_file() else None)
    borders = [n for n, d in graph.nodes(data=True) if d.get("border_crossing")]
    return RailNetwork(graph=graph, stations=stations, source=path, borders=borders)


def _write_atomic_pickle(target: Path, obj: Any) -> None:
    try:
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:  # a read-only cache folder only costs speed
        log.warning("could not write network cache %s: %s", target, exc)
