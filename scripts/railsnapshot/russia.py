"""Russia: every trolleway line (OSM-derived BRouter centre-lines), joined where they meet."""

from __future__ import annotations

import json
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np

from railsnapshot.geometry import SegmentIndex, Snap, insert_points
from simulator.network.osmxml import OsmXmlWriter


def add_traces(b: OsmXmlWriter, shared: Path, rc: dict[str, Any], topo: dict[str, Any],
               report: list[str]) -> list[int]:
    """Add each trace as one way; join trace ends to another trace within the junction radius.

    Each trace is a BRouter route that starts or ends at the junction with the line it leaves,
    so its end is joined to the nearest point of another trace (a vertex is inserted there).
    """
    folder = shared / rc["folder"]
    ways: list[int] = []
    for t in rc["traces"]:
        data = json.loads((folder / t["file"]).read_text(encoding="utf-8"))
        coords = data["features"][0]["geometry"]["coordinates"]
        ids = b.add_nodes(list(map(itemgetter(1), coords)), list(map(itemgetter(0), coords)),
                          [{"ele": f"{c[2]:g}"} if len(c) > 2 else {} for c in coords])
        tags = {"railway": "rail", "gauge": "1520", "usage": "main", "country": "RU",
                "name": t["name"], "name:en": t["name_en"], "source": rc["source_tag"]}
        if t.get("electrified"):
            tags["electrified"] = "contact_line" if t["electrified"] == "yes" else "no"
        ways.append(len(b.ways))
        b.add_way(ids, tags)
    # every trace end within the junction radius of another trace joins it there
    index = SegmentIndex(b, ways)
    ends = [(wi, pos) for wi in ways for pos in (0, -1)]
    lat = np.array([b.nodes[b.ways[wi].nodes[pos]].lat for wi, pos in ends])
    lon = np.array([b.nodes[b.ways[wi].nodes[pos]].lon for wi, pos in ends])
    chosen, which = [], []
    for (wi, pos), found in zip(ends, index.near(lat, lon, topo["junction_radius_m"]),
                                strict=True):
        other = [s for s in found if s.way != wi]
        if other:
            chosen.append(other[0])
            which.append((wi, pos))
    targets = insert_points(b, chosen, snap_to_vertex_m=topo["snap_to_vertex_m"])
    for (wi, pos), target in zip(which, targets, strict=True):
        b.ways[wi].nodes[pos] = target
    joined = len(which)
    report.append(f"Russia: {len(ways)} traces, {joined} trace ends joined to another trace")
    return ways


def place_stations(b: OsmXmlWriter, shared: Path, ways: list[int], rc: dict[str, Any],
                   topo: dict[str, Any], report: list[str]) -> dict[str, int]:
    """Put the stations of ``stations.gpkg`` on the traces (the trace is split there)."""
    import geopandas as gpd

    gdf = gpd.read_file(shared / rc["folder"] / rc["stations_file"])
    gdf = gdf.sort_values("name_en", kind="stable").reset_index(drop=True)
    index = SegmentIndex(b, ways)
    found = index.near(gdf.geometry.y.to_numpy(), gdf.geometry.x.to_numpy(),
                       topo["russia_station_radius_m"])
    chosen: list[Snap] = []
    rows = []
    for k, snaps in enumerate(found):
        if snaps:
            chosen.append(snaps[0])
            rows.append(k)
    nodes = insert_points(b, chosen, snap_to_vertex_m=topo["snap_to_vertex_m"])
    placed: dict[str, int] = {}
    for k, nid in zip(rows, nodes, strict=True):
        if b.nodes[nid].tags.get("railway") == "station":
            continue
        row = gdf.iloc[k]
        b.nodes[nid].tags.update({"railway": "station", "name": str(row["name_ru"]),
                                  "name:en": str(row["name_en"]),
                                  "source": rc["source_tag"] + " stations.gpkg"})
        placed[str(row["name_en"])] = nid
    report.append(f"Russia: {len(placed)} stations.gpkg stations put on the traces")
    return placed


def split_dual_gauge(b: OsmXmlWriter, ways: list[int], khasan: int, rc: dict[str, Any]) -> None:
    """Khasan–border is four-rail dual gauge: split the Khasan trace there and tag the rest."""
    for wi in ways:
        w = b.ways[wi]
        if khasan in w.nodes[1:-1]:
            k = w.nodes.index(khasan)
            tail = w.nodes[k:]
            w.nodes = w.nodes[: k + 1]
            line = rc["dual_gauge_line"]
            tags = dict(w.tags)
            tags.update({"gauge": line["gauge"], "name": line["name"],
                         "name:en": line["name_en"], "note": line["note"]})
            b.add_way(tail, tags)
            return
    msg = "Khasan is not inside a Russian trace"
    raise ValueError(msg)
