"""Build the offline rail snapshot (compressed OSM XML) from the shared source material.

The snapshot joins three kinds of input, following ``data/rail/recipe.yaml``:

* every conventional line of the OpenStreetMap extract for eight Chinese provinces
  (east-asia-railway-map: real way ids and line names, geometry simplified to ~200 m), with the
  topology the simplification broke rebuilt (junctions snapped by the switch-angle rule, short
  gaps closed, stations put on the track);
* every OSM-derived Russian centre-line of the trolleway files (BRouter traces, SRTM elevation);
* station tables (coordinates and published km posts) where no OSM geometry could be had offline:
  North Korea, the Chinese gaps, Vietnam, the Vostochny branch.

Station-table segments are straight chords whose ``trainsim:length`` is the published km
difference; OSM-derived stretches with published chainage at both ends get a
``trainsim:length_scale`` that corrects the length lost to simplification.
"""

from __future__ import annotations

import os
from itertools import compress, count, repeat
from operator import attrgetter, eq, methodcaller
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from railsnapshot import china, russia, tables
from railsnapshot.geometry import SegmentIndex, insert_points
from simulator._gc import cyclic_gc_paused
from simulator.network.osmxml import OsmXmlWriter

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "data" / "rail" / "recipe.yaml"


def default_shared_dir() -> Path:
    """The shared source folder beside the repository (``../shared``), or $TRAINSIM_SHARED."""
    env = os.environ.get("TRAINSIM_SHARED")
    return Path(env) if env else ROOT.parent / "shared"


def load_recipe(path: Path = RECIPE) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        recipe: dict[str, Any] = yaml.safe_load(f)
    return recipe


def _ways_of(b: OsmXmlWriter, country: str) -> list[int]:
    """Indices of the ways of one country (by map and compress: 40,000 ways, a dozen times)."""
    countries = map(methodcaller("get", "country"), map(attrgetter("tags"), b.ways))
    return list(compress(count(), map(eq, countries, repeat(country))))


@cyclic_gc_paused()
def build_snapshot(shared: Path, out_path: Path, recipe: dict[str, Any] | None = None
                   ) -> list[str]:
    """Build the whole snapshot and write it; return a report (one line per step)."""
    rc = recipe or load_recipe()
    topo = rc["topology"]
    report: list[str] = []
    b = OsmXmlWriter(generator="trainsim scripts/build_rail_snapshot.py")

    # -- China -------------------------------------------------------------------------------
    cn = rc["china"]
    cn_ways_src, other_lines, cn_points = china.load(shared, cn)
    cn_ways = china.add_ways(b, cn_ways_src, cn, report)
    tol = float(cn["simplified_m"])
    china.merge_ends(b, cn_ways, topo["end_merge_m"], report)
    china.snap_junctions(b, cn_ways, topo, tol, report)
    china.close_gaps(b, cn_ways, topo, tol, report)
    cn_ways = _ways_of(b, "CN")
    first = sorted({c[k] for c in cn["chainage"] for k in ("from", "to")})
    cn_nodes = china.place_stations(b, cn_ways, other_lines, cn_points, topo, cn["source_tag"],
                                    report, first=first)
    cn_stations = {st["name"]: st for st in reversed(cn_points)}  # the lowest OSM id wins
    for spec in cn["bridge_stations"]:
        name = spec["station"]
        if name in cn_nodes:  # on the track after all: drop the station placed there
            b.nodes[cn_nodes[name]].tags.clear()
        cn_nodes[name] = china.bridge_station(b, _ways_of(b, "CN"), cn_stations[name], name,
                                              spec, cn["source_tag"], report)
    china.calibrate(b, _ways_of(b, "CN"), cn_nodes, cn["chainage"], report)

    # -- Russia ------------------------------------------------------------------------------
    ru = rc["russia"]
    ru_ways = russia.add_traces(b, shared, ru, topo, report)
    ru_nodes = russia.place_stations(b, shared, ru_ways, ru, topo, report)

    # -- station tables ----------------------------------------------------------------------
    station_index: dict[str, int] = {}
    for spec in rc["tables"]:
        _add_table(b, shared, spec, rc, cn_nodes, ru_nodes, station_index, report)

    russia.split_dual_gauge(b, _ways_of(b, "RU"), station_index[ru["dual_gauge_from"]], ru)
    for place in rc["gauge_change_places"]:
        b.nodes[station_index[place]].tags["trainsim:gauge_change"] = "possible"
    b.ways = [w for w in b.ways if len(w.nodes) >= 2]
    b.write(out_path)
    km = len(b.way_node_ids())
    report.append(f"wrote {out_path.name}: {km:,} nodes, {len(b.ways):,} ways, "
                  f"{out_path.stat().st_size / 1e6:.1f} MB")
    return report


def write_bundled_graph(snapshot: Path) -> str:
    """Parse the snapshot once and write the parsed graph beside it; return a report line."""
    import hashlib
    import time

    from simulator.network._cache import write_cache
    from simulator.network.graph import bundled_graph_path, edge_arrays, parse_snapshot

    t0 = time.perf_counter()
    graph = parse_snapshot(snapshot)
    target = bundled_graph_path(snapshot)
    digest = hashlib.sha256(snapshot.read_bytes()).hexdigest()
    write_cache(target, graph, snapshot_sha256=digest, arrays=edge_arrays(graph))
    return (f"wrote {target.name}: {graph.number_of_nodes():,} nodes, "
            f"{graph.number_of_edges():,} edges, {target.stat().st_size / 1e6:.1f} MB "
            f"(XML parsed in {time.perf_counter() - t0:.0f} s)")


def _add_table(b: OsmXmlWriter, shared: Path, spec: dict[str, Any], rc: dict[str, Any],
               cn_nodes: dict[str, int], ru_nodes: dict[str, int],
               station_index: dict[str, int], report: list[str]) -> None:
    fname, country = spec["file"], spec["country"]
    rws = tables.rows(shared, fname)
    for d in rc["derived_stations"]:
        if d["file"] == fname:
            rws = tables.insert_derived(rws, d)
    if spec.get("waypoints_on_traces"):
        _add_waypoints(b, fname, rws, spec, rc, station_index, report)
        return
    first_row, last_row = rws[0], rws[-1]
    rws = rws[spec.get("drop_first", 0): len(rws) - spec.get("drop_last", 0)]
    if spec.get("drop_last"):
        _give_km(b, last_row, fname, cn_nodes, ru_nodes, station_index)
    if spec.get("drop_first"):
        _give_km(b, first_row, fname, cn_nodes, ru_nodes, station_index)
    pieces = spec.get("pieces") or [{"line": None, **{k: v for k, v in
                                                     spec.get("joins", {}).items()}}]
    for piece in pieces:
        part = [r for r in rws if piece["line"] is None or r["line"] == piece["line"]]
        joins: dict[int, int] = {}
        for pos, key in ((0, "first"), (len(part) - 1, "last")):
            how = piece.get(key)
            if how is None:
                continue
            r = part[pos]
            lat, lon = float(r["lat"]), float(r["lon"])
            target_country = _join_country(r, country, rc)
            ways = _ways_of(b, target_country)
            if how == "osm_station":
                joins[pos] = cn_nodes[r["station_local"]]
            elif how.startswith("nearest:"):
                line = how.split(":", 1)[1]
                ways = [i for i in ways if b.ways[i].tags.get("name") == line]
                snaps = SegmentIndex(b, ways).near(np.array([lat]), np.array([lon]), 100_000.0)[0]
                joins[pos] = insert_points(b, [snaps[0]], snap_to_vertex_m=30.0)[0]
            else:
                nid, d = tables.join_node(b, ways, lat, lon)
                report.append(f"{fname}: {r['station_en']} joined to the {target_country} "
                              f"network {d:.0f} m away")
                joins[pos] = nid
        tables.add_chain(b, fname, part, country=country, joins=joins,
                         station_index=station_index, rc=rc, report=report)


def _join_country(row: dict[str, str], country: str, rc: dict[str, Any]) -> str:
    """The network a table end joins: across the border for a border crossing row."""
    for key, pair in rc["borders"].items():
        if row["station_en"].startswith(key):
            return pair[1] if pair[0] == country else pair[0]
    return country


def _give_km(b: OsmXmlWriter, row: dict[str, str], fname: str, cn_nodes: dict[str, int],
             ru_nodes: dict[str, int], station_index: dict[str, int]) -> None:
    """A dropped end row names a station of the OSM-derived network: give it the row's data."""
    if row["station_local"] in cn_nodes:
        node = b.nodes[cn_nodes[row["station_local"]]]
        if row.get("km"):
            node.tags["railway:position"] = row["km"]
            node.tags["source:railway:position"] = row["km_source"]
        return
    if row["station_en"] in ru_nodes:
        nid = ru_nodes[row["station_en"]]
    else:  # Khasan is not in stations.gpkg: the table row places it on the trace
        snaps = SegmentIndex(b, _ways_of(b, "RU")).near(
            np.array([float(row["lat"])]), np.array([float(row["lon"])]), 5000.0)[0]
        nid = insert_points(b, [snaps[0]], snap_to_vertex_m=30.0)[0]
        ru_nodes[row["station_en"]] = nid
    b.nodes[nid].tags.update(tables.station_tags(row, fname))
    station_index[row["station_en"]] = nid


def _add_waypoints(b: OsmXmlWriter, fname: str, rws: list[dict[str, str]], spec: dict[str, Any],
                   rc: dict[str, Any], station_index: dict[str, int],
                   report: list[str]) -> None:
    """Rows on a traced line tag the trace; the others form lines of their own."""
    ways = _ways_of(b, spec["country"])
    index = SegmentIndex(b, ways)
    branch_rows = []
    # the nodes with an English name, picked by map and compress (a few thousand of 100,000s)
    named = compress(b.nodes.items(), map(methodcaller("get", "name:en"),
                                          map(attrgetter("tags"), b.nodes.values())))
    by_name = {node.tags["name:en"]: n for n, node in sorted(named, reverse=True)
               if node.tags.get("railway") == "station"}
    snapped: list[tuple[dict[str, str], Any]] = []
    for r in rws:
        if r["line"] in rc["table_lines"]:  # a line of its own, not on a trace
            branch_rows.append(r)
            continue
        if r["station_en"] in by_name:
            snapped.append((r, by_name[r["station_en"]]))
            continue
        snaps = index.near(np.array([float(r["lat"])]), np.array([float(r["lon"])]),
                           spec["waypoint_max_m"])[0]
        if not snaps:
            report.append(f"{fname} {r['station_en']}: no trace within "
                          f"{spec['waypoint_max_m'] / 1000:.0f} km, not placed")
            continue
        snapped.append((r, snaps[0]))
    to_insert = [x for _, x in snapped if not isinstance(x, int)]
    inserted = iter(insert_points(b, to_insert, snap_to_vertex_m=30.0))
    for r, x in snapped:
        nid = x if isinstance(x, int) else next(inserted)
        b.nodes[nid].tags.update(tables.station_tags(r, fname))
        station_index[r["station_en"]] = nid
    for r in branch_rows:
        # a branch leaves the junction row before it (the Vostochny branch from Ledyanaya)
        prev = rws[rws.index(r) - 1]
        start = station_index[prev["station_en"]]
        attrs = dict(rc["table_lines"].get(r["line"], {}))
        end = b.add_node(float(r["lat"]), float(r["lon"]), tables.station_tags(r, fname))
        station_index[r["station_en"]] = end
        b.add_way([start, end], {
            "railway": "rail", "name": attrs.pop("name", r["line"]), "name:en": r["line"],
            "country": spec["country"], "source": f"station-table:{fname}",
            "trainsim:geometry": "approximate", **attrs,
        })
