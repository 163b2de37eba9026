"""Station tables (../shared/stations): chains of chords with published lengths."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from railsnapshot.geometry import (
    SegmentIndex,
    haversine_m,
    insert_points,
    loose_ends,
    node_coords,
)
from simulator.network.osmxml import OsmXmlWriter

#: a table point this far from the network node it joins keeps its own node and a connector
JOIN_SAME_POINT_M = 300.0
#: a join prefers a line end (where the OSM data stop at a border) within this distance
PREFER_END_M = 500.0


def rows(shared: Path, fname: str) -> list[dict[str, str]]:
    with open(shared / "stations" / fname, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def points(shared: Path, files: list[str]) -> dict[str, tuple[float, float]]:
    pts = {}
    for fname in files:
        for r in rows(shared, fname):
            pts[r["station_en"]] = (float(r["lat"]), float(r["lon"]))
    return pts


def _split_local(name: str) -> tuple[str, str | None]:
    """'평양 (平壤)' -> ('평양', '平壤')."""
    if "(" in name and name.endswith(")"):
        base, extra = name[:-1].split("(", 1)
        return base.strip(), extra.strip()
    return name.strip(), None


def station_tags(row: dict[str, str], fname: str) -> dict[str, str]:
    local, hanja = _split_local(row["station_local"])
    tags = {
        "railway": "station", "name": local, "name:en": row["station_en"],
        "source": f"station-table:{fname}", "source:position": row["coord_source"],
        "trainsim:station_priority": "table",
    }
    if hanja:
        tags["name:ko-Hani"] = hanja
    if row.get("km"):
        tags["railway:position"] = row["km"]
        tags["source:railway:position"] = row["km_source"]
    if row.get("notes"):
        tags["note"] = row["notes"][:250]
    return tags


def is_crossing(row: dict[str, str], borders: dict[str, list[str]]) -> bool:
    """Border *crossings* (bridges, the pass); kind=border also marks border stations."""
    return row["kind"] == "border" and any(row["station_en"].startswith(k) for k in borders)


def border_tags(row: dict[str, str], borders: dict[str, list[str]]) -> dict[str, str]:
    for key, (a, b) in borders.items():
        if row["station_en"].startswith(key):
            return {"border_crossing": f"{a};{b}", "name": row["station_local"],
                    "name:en": row["station_en"].split(" (")[0],
                    "source:position": row["coord_source"]}
    msg = f"unknown border row {row['station_en']!r}"
    raise ValueError(msg)


@dataclass
class Point:
    row: dict[str, str]
    nid: int
    lat: float
    lon: float
    km: float | None


def segment_lengths(pts: list[Point]) -> list[float | None]:
    """Published length of each consecutive pair: km differences on one line, spread over
    intermediate rows without km in proportion to their chords; None where nothing is published."""
    n = len(pts)
    lengths: list[float | None] = [None] * (n - 1)
    i = 0
    while i < n - 1:
        if pts[i].km is None:
            i += 1
            continue
        j = i + 1
        while j < n and pts[j].km is None and pts[j].row["line"] == pts[i].row["line"]:
            j += 1
        if j < n and pts[j].km is not None and pts[j].row["line"] == pts[i].row["line"]:
            total = abs(pts[j].km - pts[i].km) * 1000  # type: ignore[operator]
            chords = [float(haversine_m(pts[k].lat, pts[k].lon, pts[k + 1].lat,
                                        pts[k + 1].lon)) for k in range(i, j)]
            s = sum(chords) or 1.0
            for k, c in zip(range(i, j), chords, strict=True):
                lengths[k] = total * c / s
            i = j
        else:
            i += 1
    return lengths


def insert_derived(rws: list[dict[str, str]], d: dict[str, Any]) -> list[dict[str, str]]:
    names = [r["station_en"] for r in rws]
    i, j = names.index(d["after"]), names.index(d["before"])
    a, b = rws[i], rws[j]
    t = (float(a["km"]) - d["km"]) / (float(a["km"]) - float(b["km"]))
    lat = float(a["lat"]) + t * (float(b["lat"]) - float(a["lat"]))
    lon = float(a["lon"]) + t * (float(b["lon"]) - float(a["lon"]))
    new = {
        "line": d["line"], "seq": "", "station_en": d["station_en"],
        "station_local": d["station_local"], "km": f"{d['km']:g}", "lat": f"{lat:.6f}",
        "lon": f"{lon:.6f}", "kind": "station",
        "coord_source": f"DERIVED: {d['note']}", "km_source": d["km_source"],
        "notes": d["note"],
    }
    out = [*rws[: i + 1], new, *rws[i + 1:]]
    # the segment(s) beyond the derived station carry the gauge that continues past it
    for r in out[i + 2:]:
        r["gauge_after"] = d["gauge_after"]
    return out


def join_node(b: OsmXmlWriter, ways: list[int], lat: float, lon: float) -> tuple[int, float]:
    """The network node a table end joins: a line end within PREFER_END_M, else the nearest
    point of the track (a vertex is inserted there). Returns the node and its distance."""
    ends = loose_ends(b, ways)
    if ends:
        d = haversine_m(lat, lon, *node_coords(b, ends))
        k = int(np.argmin(d))
        if d[k] <= PREFER_END_M:
            return ends[k], float(d[k])
    snaps = SegmentIndex(b, ways).near(np.array([lat]), np.array([lon]), 100_000.0)[0]
    if not snaps:
        msg = f"no track within 100 km of ({lat:.4f}, {lon:.4f})"
        raise ValueError(msg)
    return insert_points(b, [snaps[0]], snap_to_vertex_m=30.0)[0], snaps[0].dist_m


def add_chain(b: OsmXmlWriter, fname: str, rws: list[dict[str, str]], *, country: str,
              joins: dict[int, int], station_index: dict[str, int], rc: dict[str, Any],
              report: list[str]) -> list[Point]:
    """Add table rows as a chain of chord ways.

    ``joins`` maps a row position to an existing network node: the row's point is joined there,
    with a connector way when the two are more than JOIN_SAME_POINT_M apart (the table point is
    a town point or the data have a hole).
    """
    borders = rc["borders"]
    pts: list[Point] = []
    for k, r in enumerate(rws):
        lat, lon = float(r["lat"]), float(r["lon"])
        km = float(r["km"]) if r.get("km") else None
        existing = station_index.get(r["station_en"])
        if k in joins:
            nid = joins[k]
            n = b.nodes[nid]
            d = float(haversine_m(lat, lon, n.lat, n.lon))
            if d > JOIN_SAME_POINT_M:
                own = b.add_node(lat, lon)
                gauge = rc["table_lines"].get(r["line"], {}).get("gauge", "1435")
                b.add_way([nid, own], {
                    "railway": "rail", "gauge": gauge.split(";")[-1], "country": country,
                    "source": "connector", "trainsim:geometry": "approximate",
                    "note": f"joins {fname} to the OSM-derived network ({d:.0f} m)",
                })
                report.append(f"connector {fname} {r['station_en']}: {d / 1000:.1f} km")
                nid = own
        elif existing is not None and not is_crossing(r, borders):
            nid = existing
        else:
            nid = b.add_node(lat, lon)
        if is_crossing(r, borders):
            b.nodes[nid].tags.update(border_tags(r, borders))
        else:
            b.nodes[nid].tags.update(station_tags(r, fname))
        station_index.setdefault(r["station_en"], nid)
        pts.append(Point(r, nid, lat, lon, km))

    lengths = segment_lengths(pts)
    for k in range(len(pts) - 1):
        a, c = pts[k], pts[k + 1]
        if a.nid == c.nid:
            continue
        line = a.row["line"] if a.row["line"] == c.row["line"] else c.row["line"]
        if is_crossing(a.row, borders) or is_crossing(c.row, borders):
            # bridge and border approaches: the line of the station side
            line = a.row["line"] if not is_crossing(a.row, borders) else c.row["line"]
        attrs = dict(rc["table_lines"].get(line, {}))
        tags = {"railway": "rail", "name:en": line, "name": attrs.pop("name", line),
                "country": country, "source": f"station-table:{fname}",
                "trainsim:geometry": "approximate"}
        tags.update(attrs)
        if c.row.get("gauge_after") or a.row.get("gauge_after"):
            tags["gauge"] = c.row.get("gauge_after") or a.row.get("gauge_after") or tags["gauge"]
        length = lengths[k]
        if length is not None:
            tags["trainsim:length"] = f"{length:.0f}"
            tags["trainsim:length_source"] = "published km posts: " + (
                c.row["km_source"] or a.row["km_source"])[:200]
        b.add_way([a.nid, c.nid], tags)
    return pts
