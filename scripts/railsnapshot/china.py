"""China: every conventional line of the east-asia-railway-map extract, joined into one network."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from itertools import chain, compress, pairwise, repeat
from operator import itemgetter, not_, sub
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from railsnapshot.geometry import (
    M_PER_DEG,
    LineDistance,
    SegmentIndex,
    Snap,
    bearings,
    column,
    drop_repeats,
    first_of_each,
    flatten,
    haversine_m,
    insert_points,
    line_angle,
    loose_ends,
    node_coords,
    node_use,
    segment_ends,
    segment_error,
    segment_length_m,
    way_ends,
    way_nodes,
)
from simulator.network.osmxml import OsmXmlWriter

#: a line as GeoJSON gives it: [[lon, lat], …]
Coords = list[list[float]]


def load(shared: Path, rc: dict[str, Any]
         ) -> tuple[list[dict[str, Any]], dict[str, list[Coords]], list[dict[str, Any]]]:
    """Conventional ways (sorted by OSM id); the other lines by kind (``hsr``, ``metro``: to tell
    their stations apart); every station point (sorted by OSM id)."""
    folder = shared / rc["folder"]
    ways: dict[int, dict[str, Any]] = {}
    other: dict[str, dict[int, Coords]] = {"hsr": {}, "metro": {}}
    stations: dict[int, dict[str, Any]] = {}
    for region in rc["files"]:
        data = json.loads((folder / f"china-{region}.json").read_text(encoding="utf-8"))
        for feat in data["lines"]:
            p = feat["properties"]
            if feat["geometry"]["type"] != "LineString":
                continue
            coords = feat["geometry"]["coordinates"]
            if p.get("railway") in ("subway", "tram", "light_rail"):
                other["metro"][int(p["osm_id"])] = coords
                continue
            if p.get("railway") != "rail":
                continue
            name = p.get("name") or ""
            flagged = p.get("is_hsr") or p.get("rail_type") == "hsr"
            if any(map(name.__contains__, rc["hsr_name_marks"])) or (
                    flagged and name not in rc["conventional_flagged_hsr"]):
                other["hsr"][int(p["osm_id"])] = coords
                continue
            ways[int(p["osm_id"])] = {"id": int(p["osm_id"]), "coords": coords, "props": p}
        for feat in data["stations"]:
            p = feat["properties"]
            if p.get("railway") == "station" and p.get("name"):
                lon, lat = feat["geometry"]["coordinates"]
                stations[int(p["osm_id"])] = {"lat": lat, "lon": lon, "props": p,
                                              "name": str(p["name"])}
    lines = {kind: [v[k] for k in sorted(v)] for kind, v in other.items()}
    return [ways[k] for k in sorted(ways)], lines, [stations[k] for k in sorted(stations)]


def add_ways(b: OsmXmlWriter, ways: list[dict[str, Any]], rc: dict[str, Any],
             report: list[str]) -> list[int]:
    """Add the ways; vertices at exactly the same point become one node. Return way indices."""
    coords = list(chain.from_iterable(w["coords"] for w in ways))
    lon, lat = list(map(itemgetter(0), coords)), list(map(itemgetter(1), coords))
    # vertices with one position (rounded to 1e-6 degrees) are one node, made where that
    # position first comes (as adding them one by one would): its id and unrounded coordinates
    six = repeat(6)
    keys = list(zip(map(round, lat, six), map(round, lon, six), strict=True))
    first_vertex = dict(zip(reversed(keys), reversed(coords), strict=True))  # the first stays
    new_keys = list(dict.fromkeys(keys))  # in the order they first come
    node_ids = b.add_nodes([first_vertex[k][1] for k in new_keys],
                           [first_vertex[k][0] for k in new_keys])
    vertex_node = list(map(dict(zip(new_keys, node_ids, strict=True)).__getitem__, keys))
    # the length of each way: its vertex-to-vertex steps, summed
    vertex_way = np.repeat(np.arange(len(ways)), [len(w["coords"]) for w in ways])
    lat_, lon_ = np.array(lat, dtype=float), np.array(lon, dtype=float)
    in_way = vertex_way[:-1] == vertex_way[1:]
    step_m = haversine_m(lat_[:-1], lon_[:-1], lat_[1:], lon_[1:])[in_way]
    way_m = np.bincount(vertex_way[:-1][in_way], weights=step_m, minlength=len(ways))

    common = {"railway": "rail", "gauge": "1435", "usage": "main", "country": "CN",
              "source": rc["source_tag"], "trainsim:simplified_m": str(rc["simplified_m"])}
    added: list[int] = []
    added_m: list[float] = []
    end = 0
    for k, w in enumerate(ways):
        start, end = end, end + len(w["coords"])
        names = {key: str(w["props"][key]) for key in ("name", "name:en") if w["props"].get(key)}
        if b.add_way(vertex_node[start:end], {**common, **names}, way_id=w["id"]):
            added.append(len(b.ways) - 1)
            added_m.append(way_m[k])
    report.append(f"China: {len(added)} conventional OSM ways, {sum(added_m) / 1000:,.0f} km of "
                  f"ways (double track counted twice)")
    return added


def _dangling_ends(b: OsmXmlWriter, ways: list[int]) -> list[tuple[int, int, int]]:
    """(way index, end node, its neighbour on the way) for way ends no other way touches."""
    use = node_use(b, ways)
    # by map, zip and compress over the 40,000 ways (one that a merge collapsed to one node is
    # dropped when written: it has no end here, but its node counts as used)
    kept = list(compress(ways, map((2).__le__, map(len, way_nodes(b, ways)))))
    node_lists = list(way_nodes(b, kept))
    heads = zip(kept, map(itemgetter(0), node_lists), map(itemgetter(1), node_lists), strict=True)
    tails = zip(kept, map(itemgetter(-1), node_lists), map(itemgetter(-2), node_lists),
                strict=True)
    ends = list(chain.from_iterable(zip(heads, tails, strict=True)))
    return list(compress(ends, map((1).__eq__, map(use.__getitem__, map(itemgetter(1), ends)))))


def merge_ends(b: OsmXmlWriter, ways: list[int], radius_m: float, report: list[str]) -> None:
    """Make way ends closer than ``radius_m`` one node.

    The extract was converted from topology tiles that lost exact node sharing: ways that meet
    at one OSM node end a few metres apart. Ends (kept exactly by the simplification) that close
    are the same OSM node; they are merged (single linkage), keeping the lowest id's position.
    """
    ends = sorted(set(way_ends(b, ways)), key=abs)
    lat, lon = node_coords(b, ends)
    xy = np.column_stack([lon * np.cos(np.radians(lat)), lat]) * M_PER_DEG
    close = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    n_ends = len(ends)
    _, group = connected_components(coo_matrix(
        (np.ones(len(close)), (close[:, 0], close[:, 1])), shape=(n_ends, n_ends)))
    # each group of ends becomes its first end (the lowest id)
    first = np.full(group.max(initial=0) + 1, n_ends)
    np.minimum.at(first, group, np.arange(n_ends))
    mapping = {ends[i]: ends[j] for i, j in enumerate(first[group].tolist()) if j != i}
    moved = map(mapping.keys().isdisjoint, map(itemgetter(0, -1), way_nodes(b, ways)))
    for wi in compress(ways, map(not_, moved)):  # an end of the way moved
        w = b.ways[wi]
        w.nodes = drop_repeats(map(mapping.get, w.nodes, w.nodes))
    report.append(f"China: {len(mapping)} way ends merged into a way end within {radius_m:g} m")


def snap_junctions(b: OsmXmlWriter, ways: list[int], topo: dict[str, Any], tol_m: float,
                   report: list[str]) -> None:
    """Join each dangling way end to track it meets at a switch-like angle (not a bridge).

    The simplified extract keeps way ends but drops the middle vertex where a branch leaves a
    line, so a branch ends up to ~200 m from its line. An end within ``junction_radius_m`` of
    another way's track is joined there (a vertex is inserted) when the two run at an angle
    below the router's switch angle, widened by the heading error simplification allows; a
    line that ends on a bridge over another line meets it at a steep angle and is left alone.
    """
    ends = _dangling_ends(b, ways)
    end_lat, end_lon = node_coords(b, [e for _, e, _ in ends])
    nb_lat, nb_lon = node_coords(b, [nb for _, _, nb in ends])
    found = SegmentIndex(b, ways).near(end_lat, end_lon, topo["junction_radius_m"])
    end_heading = bearings(nb_lat, nb_lon, end_lat, end_lon)
    end_err = segment_error(haversine_m(nb_lat, nb_lon, end_lat, end_lon), tol_m)
    # every end against the track of other ways near it, all at once
    point, snaps = flatten([[s for s in f if s.way != wi]
                            for (wi, _, _), f in zip(ends, found, strict=True)])
    track_err = segment_error(segment_length_m(b, snaps), tol_m)
    limit = math.radians(topo["switch_angle_deg"]) + end_err[point] + track_err
    picked = first_of_each(point, line_angle(end_heading[point], column(snaps, "heading"))
                           <= limit).tolist()
    chosen = [snaps[k] for k in picked]
    which = [ends[point[k]][:2] for k in picked]
    refused = len(np.unique(point)) - len(picked)  # ends near other track, none passing
    targets = insert_points(b, chosen, snap_to_vertex_m=topo["snap_to_vertex_m"])
    # merge each end into its target; two ends that pick each other end up as one node
    parent: dict[int, int] = {}

    def root(n: int) -> int:
        while parent.get(n, n) != n:
            n = parent[n]
        return n

    for (_wi, end), target in zip(which, targets, strict=True):
        r_end, r_target = root(end), root(target)
        if r_end != r_target:
            parent[r_end] = r_target
    for wi in ways:
        w = b.ways[wi]
        if not parent.keys().isdisjoint(w.nodes):
            w.nodes = drop_repeats(map(root, w.nodes))
    report.append(f"China: {len(chosen)} way ends joined to the track they meet; {refused} "
                  f"left alone (steeper than a switch: lines crossing on bridges)")


def close_gaps(b: OsmXmlWriter, ways: list[int], topo: dict[str, Any], tol_m: float,
               report: list[str]) -> None:
    """Join remaining dangling ends to track ahead of them with a connector way.

    The extract dropped short connecting ways (station throats, ways without the kept tags), so
    lines stop a few hundred metres to a few km short of where they continue. A dangling end is
    joined to the nearest track within ``gap_radius_m`` that lies ahead of it (within
    ``gap_ahead_deg`` of its own direction) and that the connector meets at a switch-like angle.
    Each join is a ``source=connector`` way.
    """
    ends = _dangling_ends(b, ways)
    end_lat, end_lon = node_coords(b, [e for _, e, _ in ends])
    nb_lat, nb_lon = node_coords(b, [nb for _, _, nb in ends])
    found = SegmentIndex(b, ways).near(end_lat, end_lon, topo["gap_radius_m"])
    end_heading = bearings(nb_lat, nb_lon, end_lat, end_lon)
    # the candidates: track of another way at least 1 m away, not between two nodes of the
    # end's own way (a parallel stretch); then all ends at once
    candidates = []
    for (wi, _, _), f in zip(ends, found, strict=True):
        own = set(b.ways[wi].nodes)
        candidates.append([s for s, (u, v) in zip(f, segment_ends(b, f), strict=True)
                           if s.way != wi and s.dist_m >= 1.0 and not (u in own and v in own)])
    point, snaps = flatten(candidates)
    bearing = bearings(end_lat[point], end_lon[point], column(snaps, "lat"), column(snaps, "lon"))
    off = np.abs((bearing - end_heading[point] + math.pi) % (2 * math.pi) - math.pi)
    dist = column(snaps, "dist_m")
    limit = math.radians(topo["switch_angle_deg"]) + segment_error(dist, tol_m)
    picked = first_of_each(point, (off <= math.radians(topo["gap_ahead_deg"]))
                           & (line_angle(bearing, column(snaps, "heading")) <= limit)).tolist()
    chosen = [snaps[k] for k in picked]
    which = [ends[point[k]][1] for k in picked]
    targets = insert_points(b, chosen, snap_to_vertex_m=topo["snap_to_vertex_m"])
    longest = 0.0
    for end, target, s in zip(which, targets, chosen, strict=True):
        if target == end:
            continue
        b.add_way([end, target], {
            "railway": "rail", "gauge": "1435", "country": "CN", "source": "connector",
            "trainsim:geometry": "approximate",
            "note": f"closes a {s.dist_m:.0f} m gap left by the simplified extract",
        })
        longest = max(longest, s.dist_m)
    report.append(f"China: {len(chosen)} connectors close gaps (longest {longest:.0f} m)")


def place_stations(b: OsmXmlWriter, ways: list[int], other: dict[str, list[Coords]],
                   stations: list[dict[str, Any]], topo: dict[str, Any], source: str,
                   report: list[str], *, first: list[str]) -> dict[str, int]:
    """Put each OSM station on the conventional track it stands on (the way is split there).

    A station nearer a high-speed, metro or tram line than to conventional track, when that
    track is further than ``other_station_margin_m``, is a station of that other line and is
    left out (metro lines often run under main stations: those stay). Of several stations
    with one name, the one nearest its track is kept. ``first`` names stations placed before the
    others (the ones the build's chainage uses), so that they keep a point two stations share.
    """
    index = SegmentIndex(b, [wi for wi in ways if b.ways[wi].tags.get("source") != "connector"])
    lat = np.array([st["lat"] for st in stations])
    lon = np.array([st["lon"] for st in stations])
    radius = topo["station_radius_m"]
    found = index.near(lat, lon, radius)
    d_hsr = LineDistance(other["hsr"]).distance(lat, lon, radius)
    d_metro = LineDistance(other["metro"]).distance(lat, lon, radius)
    best: dict[str, tuple[float, int]] = {}
    skipped = {"hsr": 0, "metro": 0}
    for k, (st, on_track) in enumerate(zip(stations, found, strict=True)):
        if not on_track:
            continue
        d = on_track[0].dist_m
        if d > topo["other_station_margin_m"] and min(d_metro[k], d_hsr[k]) < d:
            skipped["metro" if d_metro[k] < d_hsr[k] else "hsr"] += 1
            continue
        if st["name"] not in best or d < best[st["name"]][0]:
            best[st["name"]] = (d, k)
    names = sorted(best, key=lambda n: (n not in first, n))
    # the station stands on every track parallel to its own within station_parallel_m (the
    # other track of a double-track line, a parallel line through the station): one node on all
    point, near = flatten([found[best[name][1]] for name in names])
    own = np.searchsorted(point, point)  # the station's own track: its nearest snap
    dist, heading = column(near, "dist_m"), column(near, "heading")
    parallel = (dist <= dist[own] + topo["station_parallel_m"]) & (
        line_angle(heading, heading[own]) <= math.radians(topo["station_parallel_deg"]))
    snaps: list[Snap] = []
    owner: list[int] = []
    ways_done: set[tuple[int, int]] = set()
    for k, s in compress(zip(point.tolist(), near, strict=True), parallel):
        if (k, s.way) not in ways_done:  # one node on each way (the own track's first)
            snaps.append(s)
            owner.append(k)
            ways_done.add((k, s.way))
    nodes = insert_points(b, snaps, snap_to_vertex_m=topo["snap_to_vertex_m"])
    main: dict[int, int] = {}
    merge: dict[int, int] = {}
    for k, nid in zip(owner, nodes, strict=True):
        if k not in main:
            main[k] = nid
        elif nid != main[k] and b.nodes[nid].tags.get("railway") != "station" \
                and nid not in merge and nid not in main.values():
            merge[nid] = main[k]
    for wi in ways:
        w = b.ways[wi]
        if not merge.keys().isdisjoint(w.nodes):
            w.nodes = drop_repeats(map(merge.get, w.nodes, w.nodes))
    placed: dict[str, int] = {}
    for k, name in enumerate(names):
        nid = merge.get(main[k], main[k])
        if b.nodes[nid].tags.get("railway") == "station":
            continue  # two stations on one point: the first placed keeps it
        b.nodes[nid].tags.update(station_tags(name, stations[best[name][1]], source))
        placed[name] = nid
    report.append(f"China: {len(placed)} stations put on the track (split there; on "
                  f"{len(merge)} parallel tracks too); "
                  f"{skipped['hsr']} high-speed and {skipped['metro']} metro stations left out")
    return placed


def station_tags(name: str, st: dict[str, Any], source: str) -> dict[str, str]:
    p = st["props"]
    tags = {"railway": "station", "name": name, "source": source,
            "source:osm_node": str(p["osm_id"])}
    if p.get("name:en"):
        tags["name:en"] = str(p["name:en"])
    return tags


def bridge_station(b: OsmXmlWriter, ways: list[int], st: dict[str, Any], name: str,
                   spec: dict[str, Any], source: str, report: list[str]) -> int:
    """Join a station that stands in a hole of the extract to its line on either side.

    Through Nanning the extract has no conventional track for ~14 km (the station tracks were
    dropped with the service ways). The station point is joined by a connector way to the
    nearest vertex of its line (or a dangling line end) within ``max_km``, and by a second one
    to the nearest such point at least 90° away from the first, seen from the station: the
    station becomes a through station of the line.
    """
    on_line = chain.from_iterable(b.ways[wi].nodes for wi in ways
                                  if b.ways[wi].tags.get("name") == spec["line"])
    cands = sorted({*on_line, *loose_ends(b, ways)}, key=abs)
    lat0, lon0 = st["lat"], st["lon"]
    d = haversine_m(lat0, lon0, *node_coords(b, cands))
    order = np.argsort(d, kind="stable")
    order = order[d[order] <= spec["max_km"] * 1000].tolist()
    if not order:
        msg = f"station {name}: no track of {spec['line']} within {spec['max_km']} km"
        raise ValueError(msg)
    first = cands[order[0]]
    b1 = math.atan2(b.nodes[first].lat - lat0, b.nodes[first].lon - lon0)
    second = None
    for k in order[1:]:
        n = cands[k]
        b2 = math.atan2(b.nodes[n].lat - lat0, b.nodes[n].lon - lon0)
        if abs((b2 - b1 + math.pi) % (2 * math.pi) - math.pi) > math.pi / 2:
            second = n
            break
    nid = b.add_node(lat0, lon0, station_tags(name, st, source))
    for end in (first, second):
        if end is None:
            continue
        dist = float(haversine_m(lat0, lon0, b.nodes[end].lat, b.nodes[end].lon))
        b.add_way([end, nid], {
            "railway": "rail", "gauge": "1435", "country": "CN", "source": "connector",
            "name": spec["line"], "trainsim:geometry": "approximate",
            "note": f"station {name} joined over a {dist:.0f} m hole in the extract",
        })
        report.append(f"China: station {name} joined to {spec['line']} {dist / 1000:.1f} km away")
    return nid


def calibrate(b: OsmXmlWriter, ways: list[int], station_nodes: dict[str, int],
              chainage: list[dict[str, Any]], report: list[str]) -> None:
    """Scale the ways between stations with published chainage to the published length.

    The path between the two stations is the shortest one preferring ways of the named line
    (the chainage stations are not always on ways carrying the line's name); every way of that
    line whose vertices all lie within 1 km of the path (the other track of a double-track line)
    gets the same scale.
    """
    way_of_index = {b.ways[wi].id: wi for wi in ways}
    line_ways: dict[str, list[int]] = defaultdict(list)
    for wi in ways:
        line_ways[b.ways[wi].tags.get("name", "")].append(wi)
    # each step along a way is an edge (a step two ways share: the later way's)
    node_lists = list(way_nodes(b, ways))
    frm = list(chain.from_iterable(nodes[:-1] for nodes in node_lists))
    to = list(chain.from_iterable(nodes[1:] for nodes in node_lists))
    length = haversine_m(*node_coords(b, frm), *node_coords(b, to)).tolist()
    steps = map(sub, map(len, node_lists), repeat(1))
    way = chain.from_iterable(map(repeat, map(b.ways.__getitem__, ways), steps))
    g = nx.Graph()
    g.add_edges_from(zip(frm, to, ({"length": x, "way": w.id, "name": w.tags.get("name", "")}
                                   for x, w in zip(length, way, strict=True)), strict=True))
    for c in chainage:
        line, a, b_name = c["line"], c["from"], c["to"]
        ends = [station_nodes[a], station_nodes[b_name]]
        path = nx.shortest_path(
            g, ends[0], ends[1],
            weight=lambda u, v, d, line=line: d["length"] * (1.0 if d["name"] == line else 3.0))
        geo = sum(g.edges[u, v]["length"] for u, v in pairwise(path))
        published = abs(c["km_to"] - c["km_from"])
        scale = published * 1000 / geo
        on_path = {g.edges[u, v]["way"] for u, v in pairwise(path)}
        path_lat, path_lon = node_coords(b, path)
        k = math.cos(math.radians(float(path_lat.mean())))
        tree = cKDTree(np.column_stack([path_lon * k, path_lat]))
        # the line's other ways whose vertices are all within 1 km of the path
        others = [wi for wi in line_ways.get(line, []) if b.ways[wi].id not in on_path]
        node_lists = list(way_nodes(b, others))
        lat, lon = node_coords(b, chain.from_iterable(node_lists))
        off = tree.query(np.column_stack([lon * k, lat]))[0]
        farthest = np.maximum.reduceat(off, np.cumsum([0, *map(len, node_lists)])[:-1])
        along = {b.ways[wi].id for wi, f in zip(others, farthest * M_PER_DEG, strict=True)
                 if f < 1000}
        for wid in sorted(on_path | along):
            w = b.ways[way_of_index[wid]]
            if "trainsim:length_scale" not in w.tags:
                w.tags["trainsim:length_scale"] = f"{scale:.4f}"
                w.tags["trainsim:length_source"] = c["source"]
        report.append(f"China chainage {line} {a}–{b_name}: geometry {geo / 1000:.1f} km, "
                      f"published {published:.1f} km, scale {scale:.3f}")
        for st, km in ((a, c["km_from"]), (b_name, c["km_to"])):
            b.nodes[station_nodes[st]].tags.setdefault("railway:position", f"{km:g}")
