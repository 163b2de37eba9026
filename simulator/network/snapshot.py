"""Build the offline rail snapshot (compressed OSM XML) from the shared source material.

The snapshot joins three kinds of input:

* OpenStreetMap ways for China (east-asia-railway-map extract: real way ids and line names,
  geometry simplified to ~200 m), clipped to a corridor around the 2019 route so that routes keep
  real alternatives;
* OpenStreetMap-derived centre-lines for Russia (trolleway BRouter traces, with SRTM elevation);
* station tables (coordinates and published km posts) where no OSM geometry could be had offline:
  North Korea, the Chinese gaps, Vietnam, the Vostochny branch.

Station-table segments are straight chords whose ``trainsim:length`` is the published km
difference; OSM-derived stretches with published chainage at both ends get a
``trainsim:length_scale`` that corrects the length lost to simplification.
"""

from __future__ import annotations

import bz2
import csv
import itertools
import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np

from simulator._io import atomic_path

__all__ = ["SnapshotBuilder", "build_snapshot", "default_shared_dir"]

EARTH_RADIUS_M = 6_371_009.0

CHINA_SOURCE = "osm:east-asia-railway-map@05f3995"
RUSSIA_SOURCE = "osm:trolleway@f1e9782"

# Corridor for clipping the Chinese network: polylines through OSM station nodes of the extract
# (looked up by name in the data itself), buffered by CHINA_CORRIDOR_DEG. The polylines cover the
# 2019 route and the plausible alternatives around Beijing/Tianjin ("bypassed Beijing").
CHINA_CORRIDORS: tuple[tuple[str, ...], ...] = (
    ("丹东", "本溪", "沈阳", "锦州", "山海关", "唐山", "天津", "北京"),
    ("天津", "霸州", "保定", "石家庄"),
    ("天津", "沧州", "德州", "衡水", "石家庄"),
    ("霸州", "衡水"),
    ("北京", "保定", "石家庄", "邯郸", "安阳"),
    ("许昌", "漯河", "驻马店", "信阳", "广水", "孝感", "汉口", "武昌"),
    ("柳州", "来宾", "黎塘", "南宁", "崇左", "凭祥"),
)
CHINA_CORRIDOR_DEG = 0.3  # about 25-33 km either side: tens of km, as the issue asks
CHINA_FILES = (
    "liaoning", "beijing", "tianjin", "hebei-north", "hebei-south", "henan", "hubei", "guangxi",
)
# Names of high-speed or intercity lines that a locomotive-hauled train does not use; the
# extract flags most of them with is_hsr, these catch the rest.
HSR_NAME_MARKS = ("高速", "客专", "客运专线", "城际", "高铁")
# Conventional lines whose ways the extract flags is_hsr (../shared/osm-candidates/NOTES.md)
CONVENTIONAL_FLAGGED_HSR = ("京哈线",)
MERGE_RADIUS_M = 150.0  # joins way ends that rounding and simplification pulled apart
GAP_RADIUS_M = 2500.0  # dangling ends closer than this to another piece are joined
SAME_PIECE_RADIUS_M = 1000.0  # ... and this to their own piece

# Published chainage used to correct simplified OSM geometry (linear referencing).
# (line name, station A, km A, station B, km B, source)
CHINA_CHAINAGE: tuple[tuple[str, str, float, str, float, str], ...] = (
    ("沈丹线", "沈阳", 0.0, "本溪", 84.0,
     "https://en.m.wikipedia.org/wiki/Shenyang%E2%80%93Dandong_railway"),
    ("沈丹线", "本溪", 84.0, "丹东", 270.0,
     "https://en.m.wikipedia.org/wiki/Shenyang%E2%80%93Dandong_railway"),
    ("京广线", "北京西", 0.0, "石家庄", 270.0,
     "https://en.wikipedia.org/wiki/Beijing%E2%80%93Guangzhou_railway (route-map chainage)"),
    ("京广线", "石家庄", 270.0, "安阳", 491.0,
     "https://en.wikipedia.org/wiki/Beijing%E2%80%93Guangzhou_railway (route-map chainage)"),
    ("湘桂线", "柳州", 538.0, "来宾", 608.0,
     "https://wikiwand.com/en/articles/Hunan-Guangxi_Railway (route-map km)"),
    ("湘桂线", "来宾", 608.0, "凭祥", 1000.1,
     "https://wikiwand.com/en/articles/Hunan-Guangxi_Railway; Pingxiang derived in "
     "../shared/stations/vn_dongdang_hanoi.csv"),
)

# Russian traces used, and the part of each that is kept.
RUSSIA_TRACES = (
    ("Ekateriburg-Vladivostok.geojson", "Trans-Siberian Railway", 127.9, "yes"),
    ("Hasan.geojson", "Baranovsky–Khasan line", None, "no"),
    ("Volochaevka-Komsomolsk.geojson", "Volochaevka–Komsomolsk line", None, None),
)

COUNTRY_OF_TABLE = {
    "kp_pyongra.csv": "KP",
    "kp_pyongui.csv": "KP",
    "kp_hambuk_hongui.csv": "KP",
    "cn_gaps.csv": "CN",
    "vn_dongdang_hanoi.csv": "VN",
    "ru_extras.csv": "RU",
}

# Line attributes of station-table lines: gauge, electrification, usage, and the source of each.
# Gauge and electrification facts are those quoted in ../shared/reported/journeys.md and
# ../shared/DESIGN.md; "None" means not known, and the tag is left out.
TABLE_LINE_TAGS: dict[str, dict[str, str]] = {
    "P'yŏngra Line": {"gauge": "1435", "electrified": "contact_line", "voltage": "3000",
                      "usage": "main"},
    "P'yŏngŭi Line": {"gauge": "1435", "electrified": "contact_line", "voltage": "3000",
                      "usage": "main"},
    # Rajin–Tumangang rebuilt with four-rail dual gauge by 2013 (Railway Gazette, RZD).
    "Hambuk Line": {"gauge": "1435;1520", "usage": "main"},
    "Hongŭi Line": {"gauge": "1435;1520", "electrified": "contact_line", "voltage": "3000",
                    "usage": "main"},
    "Beijing–Guangzhou railway (Anyang–Zhengzhou)": {"gauge": "1435", "usage": "main"},
    "Beijing–Guangzhou railway (Wuchang–Hengyang)": {"gauge": "1435", "usage": "main"},
    "Hunan–Guangxi railway": {"gauge": "1435", "usage": "main"},
    # Hanoi–Đồng Đăng: dual gauge 1435/1000, not electrified; standard gauge ends at Gia Lâm.
    "Hanoi–Đồng Đăng railway": {"gauge": "1000;1435", "electrified": "no", "usage": "main"},
    "Ledyanaya–Uglegorsk branch": {"gauge": "1520", "usage": "branch"},
}
CHINESE_NAME_OF_TABLE_LINE = {
    "Beijing–Guangzhou railway (Anyang–Zhengzhou)": "京广线",
    "Beijing–Guangzhou railway (Wuchang–Hengyang)": "京广线",
    "Hunan–Guangxi railway": "湘桂线",
}

# Derived stations added at published km posts where no coordinate exists: position interpolated
# along the chord between the neighbouring table stations.
DERIVED_STATIONS = (
    {
        "file": "vn_dongdang_hanoi.csv", "after": "Yên Viên", "before": "Long Biên",
        "station_en": "Gia Lâm", "station_local": "Ga Gia Lâm", "km": 5.0,
        "line": "Hanoi–Đồng Đăng railway",
        "km_source": "vi.wikipedia Hanoi–Đồng Đăng route table (Gia Lâm km 5)",
        "note": "position interpolated from km posts; end of standard gauge",
        "gauge_after": "1000",
    },
)

# Places where the sources say bogies were or may be exchanged (journeys.md, "Gauge change").
GAUGE_CHANGE_PLACES = ("Khasan", "Tumangang")

BORDERS = {
    "Sino-Korean Friendship Bridge": ("KP", "CN"),
    "Korea–Russia Friendship Bridge": ("KP", "RU"),
    "China–Vietnam border": ("CN", "VN"),
}


def default_shared_dir() -> Path:
    """Return the shared source folder beside the repository (``../shared``)."""
    env = os.environ.get("TRAINSIM_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared"


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (works on scalars and numpy arrays)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


@dataclass
class _Node:
    lat: float
    lon: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class _Way:
    id: int
    nodes: list[int]
    tags: dict[str, str]


class SnapshotBuilder:
    """Accumulate nodes and ways, then write them as OSM XML."""

    def __init__(self) -> None:
        self.nodes: dict[int, _Node] = {}
        self.ways: list[_Way] = []
        self._next_id = -1
        self.report: list[str] = []

    # -- primitives -------------------------------------------------------------------------
    def new_id(self) -> int:
        i = self._next_id
        self._next_id -= 1
        return i

    def add_node(self, lat: float, lon: float, tags: dict[str, str] | None = None) -> int:
        nid = self.new_id()
        self.nodes[nid] = _Node(round(lat, 7), round(lon, 7), dict(tags or {}))
        return nid

    def add_way(self, nodes: Sequence[int], tags: dict[str, str], way_id: int | None = None) -> int:
        clean = [n for i, n in enumerate(nodes) if i == 0 or n != nodes[i - 1]]
        if len(clean) < 2:
            return 0
        wid = way_id if way_id is not None else self.new_id()
        self.ways.append(_Way(wid, clean, dict(tags)))
        return wid

    def nearest_node(
        self, lat: float, lon: float, *, among: Iterable[int] | None = None
    ) -> tuple[int, float]:
        ids = np.fromiter(among if among is not None else self._way_node_ids(), dtype=np.int64)
        lats = np.array([self.nodes[i].lat for i in ids])
        lons = np.array([self.nodes[i].lon for i in ids])
        d = haversine_m(lat, lon, lats, lons)
        k = int(np.argmin(d))
        return int(ids[k]), float(d[k])

    def _way_node_ids(self) -> set[int]:
        return {n for w in self.ways for n in w.nodes}

    def set_station(self, nid: int, tags: dict[str, str], *, force: bool = False) -> bool:
        """Tag a vertex as a station unless another station holds it (``force`` overrides)."""
        node = self.nodes[nid]
        if node.tags.get("railway") == "station" and not force:
            return False
        node.tags.update(tags)
        return True

    # -- output -----------------------------------------------------------------------------
    def write(self, path: Path) -> None:
        """Write the snapshot atomically as bz2-compressed OSM XML."""
        used = self._way_node_ids()
        with atomic_path(path) as tmp, bz2.open(tmp, "wt", encoding="utf-8",
                                                compresslevel=9) as f:
            f.write("<?xml version='1.0' encoding='UTF-8'?>\n")
            f.write('<osm version="0.6" generator="trainsim scripts/build_rail_snapshot.py">\n')
            for nid in sorted(used, key=abs):
                n = self.nodes[nid]
                if n.tags:
                    f.write(f'  <node id="{nid}" lat="{n.lat}" lon="{n.lon}">\n')
                    for k, v in sorted(n.tags.items()):
                        f.write(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
                    f.write("  </node>\n")
                else:
                    f.write(f'  <node id="{nid}" lat="{n.lat}" lon="{n.lon}"/>\n')
            for w in self.ways:
                f.write(f'  <way id="{w.id}">\n')
                for n_ in w.nodes:
                    f.write(f'    <nd ref="{n_}"/>\n')
                for k, v in sorted(w.tags.items()):
                    f.write(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
                f.write("  </way>\n")
            f.write("</osm>\n")


# ---------------------------------------------------------------------------------------------
# China: OSM ways from the east-asia-railway-map extract
# ---------------------------------------------------------------------------------------------
def _load_china(shared: Path) -> tuple[dict[int, dict[str, Any]], dict[str, dict[str, Any]]]:
    folder = shared / "osm-candidates" / "east-asia-railway-map-china"
    ways: dict[int, dict[str, Any]] = {}
    stations: dict[str, dict[str, Any]] = {}
    for region in CHINA_FILES:
        data = json.loads((folder / f"china-{region}.json").read_text(encoding="utf-8"))
        for feat in data["lines"]:
            p = feat["properties"]
            if p.get("railway") != "rail":
                continue
            name = p.get("name") or ""
            if any(mark in name for mark in HSR_NAME_MARKS):
                continue
            # The extract's is_hsr flag also marks stretches of conventional lines (623 km of the
            # 京哈线, whose Shenyang–Shanhaiguan part is the conventional main line)
            flagged = p.get("is_hsr") or p.get("rail_type") == "hsr"
            if flagged and name not in CONVENTIONAL_FLAGGED_HSR:
                continue
            ways[int(p["osm_id"])] = {"coords": feat["geometry"]["coordinates"], "props": p}
        for feat in data["stations"]:
            p = feat["properties"]
            name = p.get("name")
            if name and p.get("railway") == "station" and name not in stations:
                lon, lat = feat["geometry"]["coordinates"]
                stations[name] = {"lat": lat, "lon": lon, "props": p}
    return ways, stations


def _corridor_shape(points: list[list[tuple[float, float]]], width_deg: float) -> Any:
    from shapely.geometry import LineString
    from shapely.ops import unary_union

    return unary_union([LineString(p).buffer(width_deg) for p in points])


class _UnionGrid:
    """Greedy merge of points closer than a radius, via a hash grid."""

    def __init__(self, radius_m: float) -> None:
        self.radius = radius_m
        self.cell = radius_m / 111_000.0
        self.grid: dict[tuple[int, int], list[int]] = defaultdict(list)

    def find_or_add(self, builder: SnapshotBuilder, lat: float, lon: float) -> int:
        cx, cy = int(lon / self.cell // 1), int(lat / self.cell // 1)
        best, best_d = 0, self.radius
        for dx in (-2, -1, 0, 1, 2):
            for dy in (-1, 0, 1):
                for nid in self.grid.get((cx + dx, cy + dy), ()):
                    n = builder.nodes[nid]
                    d = float(haversine_m(lat, lon, n.lat, n.lon))
                    if d <= best_d:
                        best, best_d = nid, d
        if best:
            return best
        nid = builder.add_node(lat, lon)
        self.grid[(cx, cy)].append(nid)
        return nid


def add_china(builder: SnapshotBuilder, shared: Path) -> dict[str, int]:
    """Add the clipped Chinese OSM network; return the station nodes by Chinese name."""
    from shapely import points as shp_points
    from shapely.prepared import prep

    ways, stations = _load_china(shared)
    table_points = _table_points(shared)
    polylines: list[list[tuple[float, float]]] = []
    for names in CHINA_CORRIDORS:
        polylines.append([(stations[n]["lon"], stations[n]["lat"]) for n in names])
    # the Zhengzhou end of the Henan gap and the border end of the Guangxi data
    zz = table_points["Zhengzhou"]
    polylines.append([(zz[1], zz[0]), (stations["许昌"]["lon"], stations["许昌"]["lat"])])
    shape = prep(_corridor_shape(polylines, CHINA_CORRIDOR_DEG))

    grid = _UnionGrid(MERGE_RADIUS_M)
    kept = 0
    km_raw = 0.0
    line_ways: dict[str, list[int]] = defaultdict(list)
    for wid, w in ways.items():
        coords = w["coords"]
        if not any(shape.contains(p) for p in shp_points(coords)):
            continue
        p = w["props"]
        nodes = [grid.find_or_add(builder, lat, lon) for lon, lat in coords]
        tags = {
            "railway": "rail",
            "gauge": "1435",
            "usage": "main",
            "country": "CN",
            "source": CHINA_SOURCE,
            # Douglas-Peucker tolerance of the extract: the router widens its switch-angle
            # test by the heading error this allows
            "trainsim:simplified_m": "200",
        }
        for key in ("name", "name:en"):
            if p.get(key):
                tags[key] = str(p[key])
        if builder.add_way(nodes, tags, way_id=wid):
            kept += 1
            line_ways[tags.get("name", "")].append(wid)
            km_raw += sum(
                float(haversine_m(a[1], a[0], b[1], b[0])) for a, b in itertools.pairwise(coords)
            ) / 1000
    builder.report.append(f"China: kept {kept} OSM ways in the corridor ({km_raw:.0f} km of ways)")
    _close_gaps(builder)

    # station points: OSM station nodes snapped to the nearest kept vertex
    cn_nodes = {n for w in builder.ways for n in w.nodes}
    station_nodes: dict[str, int] = {}
    corridor_names = {n for names in CHINA_CORRIDORS for n in names}
    chainage_names = {c[i] for c in CHINA_CHAINAGE for i in (1, 3)}
    # the corridor's own stations first: where two OSM stations snap to one vertex, they win
    ordered = sorted(stations, key=lambda n: n not in corridor_names | chainage_names)
    for name in ordered:
        st = stations[name]
        if not shape.contains(shp_points([(st["lon"], st["lat"])])[0]):
            continue
        nid, d = builder.nearest_node(st["lat"], st["lon"], among=cn_nodes)
        if d > 1500:
            continue
        if builder.set_station(nid, _osm_station_tags(name, st)):
            station_nodes[name] = nid
    for names in CHINA_CORRIDORS:
        for name in names:
            if name not in station_nodes:
                station_nodes[name] = _bridge_station(builder, stations[name], name)
    _calibrate_china(builder, station_nodes, line_ways)
    return station_nodes


def _osm_station_tags(name: str, st: dict[str, Any]) -> dict[str, str]:
    p = st["props"]
    tags = {"railway": "station", "name": name, "source": CHINA_SOURCE,
            "source:osm_node": str(p["osm_id"])}
    if p.get("name:en"):
        tags["name:en"] = str(p["name:en"])
    return tags


def _bridge_station(builder: SnapshotBuilder, st: dict[str, Any], name: str) -> int:
    """Put a corridor station that the extract left in a hole back on the network.

    Through Nanning the extract has no conventional track for ~14 km (the station tracks were
    dropped with the service ways). The station point is joined by connector ways to the
    nearest dangling way end on each side.
    """
    g = nx.Graph()
    for w in builder.ways:
        nx.add_path(g, w.nodes)
    ends = [n for n in g.nodes if g.degree[n] == 1]
    lat0, lon0 = st["lat"], st["lon"]
    d = haversine_m(lat0, lon0, np.array([builder.nodes[n].lat for n in ends]),
                    np.array([builder.nodes[n].lon for n in ends]))
    order = np.argsort(d)
    first = ends[int(order[0])]
    b1 = math.atan2(builder.nodes[first].lat - lat0, builder.nodes[first].lon - lon0)
    second = None
    for k in order[1:]:
        n = ends[int(k)]
        b2 = math.atan2(builder.nodes[n].lat - lat0, builder.nodes[n].lon - lon0)
        if abs((b2 - b1 + math.pi) % (2 * math.pi) - math.pi) > math.pi / 2:
            second = n
            break
    nid = builder.add_node(lat0, lon0, _osm_station_tags(name, st))
    for end in (first, second):
        if end is None:
            continue
        dist = float(haversine_m(lat0, lon0, builder.nodes[end].lat, builder.nodes[end].lon))
        builder.add_way([end, nid], {
            "railway": "rail", "gauge": "1435", "country": "CN", "source": "connector",
            "trainsim:geometry": "approximate",
            "note": f"station {name} bridged over a {dist:.0f} m hole in the extract",
        })
        builder.report.append(f"China: station {name} bridged to a way end {dist / 1000:.1f} km")
    return nid


def _close_gaps(builder: SnapshotBuilder) -> None:
    """Join dangling way ends to the vertex ahead of them within GAP_RADIUS_M.

    The extract dropped short connecting ways (station throats, ways without the kept tags), so
    lines stop a few hundred metres to a few km short of where they continue. A dangling end is
    joined to the nearest vertex that lies ahead of it (within 45° of the way's own direction), so
    the join continues the line instead of turning back; ends within SAME_PIECE_RADIUS_M of their
    own network piece are joined too (a gap inside a station throat). Each join is a connector way
    (``source=connector``) so that reports can tell it from OSM track.
    """
    g = nx.Graph()
    for w in builder.ways:
        nx.add_path(g, w.nodes)
    comp_of = {n: i for i, c in enumerate(nx.connected_components(g)) for n in c}
    ids = np.array(list(g.nodes), dtype=np.int64)
    lats = np.array([builder.nodes[n].lat for n in ids])
    lons = np.array([builder.nodes[n].lon for n in ids])
    comps = np.array([comp_of[n] for n in ids])
    coslat = math.cos(math.radians(float(lats.mean())))
    joined = 0
    dangling = [(n, next(iter(g.neighbors(n)))) for n in g.nodes if g.degree[n] == 1]
    for n, prev in dangling:
        node = builder.nodes[n]
        pn = builder.nodes[prev]
        heading = math.atan2(node.lat - pn.lat, (node.lon - pn.lon) * coslat)
        d = haversine_m(node.lat, node.lon, lats, lons)
        bearing = np.arctan2(lats - node.lat, (lons - node.lon) * coslat)
        off = np.abs((bearing - heading + np.pi) % (2 * np.pi) - np.pi)
        same = comps == comp_of[n]
        ok = (off < math.pi / 4) & (d > 1.0) & (
            (~same & (d <= GAP_RADIUS_M)) | (same & (d <= SAME_PIECE_RADIUS_M)))
        ok &= ~np.isin(ids, [n, prev, *g.neighbors(prev)])
        if not ok.any():
            continue
        k = int(np.argmin(np.where(ok, d, np.inf)))
        m = int(ids[k])
        builder.add_way([n, m], {
            "railway": "rail", "gauge": "1435", "country": "CN", "source": "connector",
            "trainsim:geometry": "approximate",
            "note": f"closes a {d[k]:.0f} m gap left by the simplified extract",
        })
        g.add_edge(n, m)
        joined += 1
    builder.report.append(f"China: {joined} connectors close gaps up to {GAP_RADIUS_M:.0f} m")


def _calibrate_china(
    builder: SnapshotBuilder, station_nodes: dict[str, int], line_ways: dict[str, list[int]]
) -> None:
    way_by_id = {w.id: w for w in builder.ways}
    # Search the whole Chinese network, preferring the named line: the chainage stations are not
    # always on ways carrying the line's name (the Shendan ways end at Sujiatun, 16 km short of
    # Shenyang station).
    g = nx.Graph()
    for w in builder.ways:
        for u, v in zip(w.nodes, w.nodes[1:], strict=False):
            nu, nv = builder.nodes[u], builder.nodes[v]
            g.add_edge(u, v, length=float(haversine_m(nu.lat, nu.lon, nv.lat, nv.lon)),
                       way=w.id, name=w.tags.get("name", ""))
    for line, a, km_a, b, km_b, src in CHINA_CHAINAGE:
        ends = [station_nodes[a], station_nodes[b]]
        path = nx.shortest_path(
            g, ends[0], ends[1],
            weight=lambda u, v, d, line=line: d["length"] * (1.0 if d["name"] == line else 3.0),
        )
        geo = sum(g.edges[u, v]["length"] for u, v in itertools.pairwise(path))
        scale = abs(km_b - km_a) * 1000 / geo
        on_path = {g.edges[u, v]["way"] for u, v in itertools.pairwise(path)}
        # the parallel track of a double-track line: every way of the line whose vertices lie
        # within 1 km of the path
        path_lat = np.array([builder.nodes[n].lat for n in path])
        path_lon = np.array([builder.nodes[n].lon for n in path])
        for wid in sorted(on_path | set(line_ways.get(line, []))):
            w = way_by_id[wid]
            if wid not in on_path:
                near = all(
                    float(np.min(haversine_m(builder.nodes[n].lat, builder.nodes[n].lon,
                                             path_lat, path_lon))) < 1000
                    for n in w.nodes
                )
                if not near:
                    continue
            if "trainsim:length_scale" not in w.tags:
                w.tags["trainsim:length_scale"] = f"{scale:.4f}"
                w.tags["trainsim:length_source"] = src
        builder.report.append(
            f"China chainage {line} {a}–{b}: geometry {geo / 1000:.1f} km, published "
            f"{abs(km_b - km_a):.1f} km, scale {scale:.3f}"
        )
        for st, km in ((a, km_a), (b, km_b)):
            builder.nodes[station_nodes[st]].tags.setdefault("railway:position", f"{km:g}")


# ---------------------------------------------------------------------------------------------
# Russia: trolleway traces (OSM-derived centre-lines with SRTM elevation)
# ---------------------------------------------------------------------------------------------
def add_russia(builder: SnapshotBuilder, shared: Path) -> dict[str, int]:
    """Add the Russian traces, joined at their junctions; return station nodes by English name."""
    import geopandas as gpd

    folder = shared / "osm-candidates" / "trolleway-ru-railways-simplegeodata"
    traces: list[tuple[str, list[int], dict[str, str]]] = []
    for fname, line, min_lon, electrified in RUSSIA_TRACES:
        data = json.loads((folder / fname).read_text(encoding="utf-8"))
        coords = data["features"][0]["geometry"]["coordinates"]
        if min_lon is not None:
            start = max(i for i, c in enumerate(coords) if c[0] < min_lon) + 1
            coords = coords[start:]
        ids = [
            builder.add_node(c[1], c[0], {"ele": f"{c[2]:g}"} if len(c) > 2 else None)
            for c in coords
        ]
        tags = {"railway": "rail", "gauge": "1520", "usage": "main", "country": "RU",
                "name": line, "name:en": line, "source": RUSSIA_SOURCE}
        if electrified:
            tags["electrified"] = "contact_line" if electrified == "yes" else "no"
        traces.append((fname, ids, tags))

    # junctions: the start of each branch trace joins the main line at its nearest vertex
    main_ids = traces[0][1]
    splits: dict[int, set[int]] = defaultdict(set)
    for _fname, ids, _tags in traces[1:]:
        nid, d = builder.nearest_node(builder.nodes[ids[0]].lat, builder.nodes[ids[0]].lon,
                                      among=main_ids)
        if d > 500:
            msg = f"branch trace starts {d:.0f} m from the main line"
            raise ValueError(msg)
        ids[0] = nid
        splits[0].add(main_ids.index(nid))

    # station points
    stations = gpd.read_file(folder / "stations.gpkg").cx[127.5:138.0, 42.0:52.0]
    all_ids = [n for _f, ids, _t in traces for n in ids]
    station_nodes: dict[str, int] = {}
    for _, row in stations.iterrows():
        nid, d = builder.nearest_node(row.geometry.y, row.geometry.x, among=all_ids)
        if d > 2500:
            continue
        builder.set_station(nid, {
            "railway": "station", "name": row["name_ru"], "name:en": row["name_en"],
            "source": RUSSIA_SOURCE + " stations.gpkg",
        })
        station_nodes[row["name_en"]] = nid

    # Khasan: the dual-gauge track from the bridge ends there; the 1520 mm line begins
    khasan = _table_rows(shared, "kp_hambuk_hongui.csv")[-1]
    hasan_ids = traces[1][1]
    k_nid, _ = builder.nearest_node(float(khasan["lat"]), float(khasan["lon"]), among=hasan_ids)
    k_idx = hasan_ids.index(k_nid)
    for t_index, (_fname, ids, tags) in enumerate(traces):
        cuts = sorted(splits.get(t_index, set()) | ({k_idx} if t_index == 1 else set()))
        bounds = [0, *cuts, len(ids) - 1]
        for a, b in itertools.pairwise(bounds):
            if b <= a:
                continue
            piece_tags = dict(tags)
            if t_index == 1 and a >= k_idx:
                piece_tags["gauge"] = "1435;1520"
                piece_tags["name"] = piece_tags["name:en"] = "Khasan–Tumangang line"
                piece_tags["note"] = "four-rail dual gauge from the border to Khasan station"
            builder.add_way(ids[a : b + 1], piece_tags)
    builder.report.append(f"Russia: {len(traces)} traces, {len(station_nodes)} gpkg stations")
    station_nodes["Khasan"] = k_nid
    return station_nodes


# ---------------------------------------------------------------------------------------------
# Station tables
# ---------------------------------------------------------------------------------------------
def _table_rows(shared: Path, fname: str) -> list[dict[str, str]]:
    with open(shared / "stations" / fname, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _table_points(shared: Path) -> dict[str, tuple[float, float]]:
    pts = {}
    for fname in COUNTRY_OF_TABLE:
        for r in _table_rows(shared, fname):
            pts[r["station_en"]] = (float(r["lat"]), float(r["lon"]))
    return pts


def _split_local(name: str) -> tuple[str, str | None]:
    """'평양 (平壤)' -> ('평양', '平壤')."""
    if "(" in name and name.endswith(")"):
        base, extra = name[:-1].split("(", 1)
        return base.strip(), extra.strip()
    return name.strip(), None


def _station_tags(row: dict[str, str], fname: str) -> dict[str, str]:
    local, hanja = _split_local(row["station_local"])
    tags = {
        "railway": "station",
        "name": local,
        "name:en": row["station_en"],
        "source": f"station-table:{fname}",
        "source:position": row["coord_source"],
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


def _is_crossing(row: dict[str, str]) -> bool:
    """Border *crossings* (bridges, the pass); kind=border also marks border stations."""
    return row["kind"] == "border" and any(row["station_en"].startswith(k) for k in BORDERS)


def _border_tags(row: dict[str, str]) -> dict[str, str]:
    for key, (a, b) in BORDERS.items():
        if row["station_en"].startswith(key):
            return {"border_crossing": f"{a};{b}", "name": row["station_local"],
                    "name:en": row["station_en"].split(" (")[0],
                    "source:position": row["coord_source"]}
    msg = f"unknown border row {row['station_en']!r}"
    raise ValueError(msg)


@dataclass
class _Point:
    row: dict[str, str]
    nid: int
    lat: float
    lon: float
    km: float | None


def _segment_lengths(points: list[_Point]) -> list[float | None]:
    """Published length of each consecutive pair: km differences on one line, spread over
    intermediate rows without km in proportion to their chords; None where nothing is published."""
    n = len(points)
    lengths: list[float | None] = [None] * (n - 1)
    i = 0
    while i < n - 1:
        if points[i].km is None:
            i += 1
            continue
        j = i + 1
        while j < n and points[j].km is None and points[j].row["line"] == points[i].row["line"]:
            j += 1
        if j < n and points[j].km is not None and points[j].row["line"] == points[i].row["line"]:
            total = abs(points[j].km - points[i].km) * 1000  # type: ignore[operator]
            chords = [float(haversine_m(points[k].lat, points[k].lon, points[k + 1].lat,
                                        points[k + 1].lon)) for k in range(i, j)]
            s = sum(chords) or 1.0
            for k, c in zip(range(i, j), chords, strict=False):
                lengths[k] = total * c / s
            i = j
        else:
            i += 1
    return lengths


def add_table(
    builder: SnapshotBuilder,
    shared: Path,
    fname: str,
    *,
    join: dict[int, int] | None = None,
    skip_rows: Iterable[int] = (),
    station_index: dict[str, int],
) -> list[_Point]:
    """Add one station table as a chain of chord ways.

    ``join`` maps a row position to an existing network node: the row's point is joined there
    (an OSM node of the network), and a connector way is added when the two are apart.
    """
    rows = [r for k, r in enumerate(_table_rows(shared, fname)) if k not in set(skip_rows)]
    for derived in DERIVED_STATIONS:
        if derived["file"] == fname:
            rows = _insert_derived(rows, derived)
    country = COUNTRY_OF_TABLE[fname]
    points: list[_Point] = []
    join = join or {}
    for k, r in enumerate(rows):
        lat, lon = float(r["lat"]), float(r["lon"])
        km = float(r["km"]) if r.get("km") else None
        existing = station_index.get(r["station_en"])
        if k in join:
            nid = join[k]
            n = builder.nodes[nid]
            d = float(haversine_m(lat, lon, n.lat, n.lon))
            if d > 300:  # keep the table point and join it to the network with a connector
                own = builder.add_node(lat, lon)
                builder.add_way([nid, own], {
                    "railway": "rail", "gauge": "1435", "country": country,
                    "source": "connector", "trainsim:geometry": "approximate",
                    "note": f"joins {fname} to the OSM-derived network ({d:.0f} m)",
                })
                builder.report.append(f"connector {fname} {r['station_en']}: {d / 1000:.1f} km")
                nid = own
        elif existing is not None and not _is_crossing(r):
            nid = existing
        else:
            nid = builder.add_node(lat, lon)
        if _is_crossing(r):
            builder.nodes[nid].tags.update(_border_tags(r))
        else:
            builder.nodes[nid].tags.update(_station_tags(r, fname))
        station_index.setdefault(r["station_en"], nid)
        points.append(_Point(r, nid, lat, lon, km))

    lengths = _segment_lengths(points)
    for k in range(len(points) - 1):
        a, b = points[k], points[k + 1]
        if a.nid == b.nid:
            continue
        line = a.row["line"] if a.row["line"] == b.row["line"] else b.row["line"]
        if _is_crossing(a.row) or _is_crossing(b.row):
            # bridge and border approaches: use the line of the station side
            line = a.row["line"] if not _is_crossing(a.row) else b.row["line"]
        seg_country = country
        tags = {
            "railway": "rail",
            "name:en": line,
            "name": CHINESE_NAME_OF_TABLE_LINE.get(line, line),
            "country": seg_country,
            "source": f"station-table:{fname}",
            "trainsim:geometry": "approximate",
        }
        tags.update(TABLE_LINE_TAGS.get(line, {}))
        if b.row.get("gauge_after") or a.row.get("gauge_after"):
            tags["gauge"] = b.row.get("gauge_after") or a.row.get("gauge_after") or tags["gauge"]
        length = lengths[k]
        if length is not None:
            tags["trainsim:length"] = f"{length:.0f}"
            tags["trainsim:length_source"] = "published km posts: " + (
                b.row["km_source"] or a.row["km_source"])[:200]
        builder.add_way([a.nid, b.nid], tags)
    return points


def _insert_derived(rows: list[dict[str, str]], d: dict[str, Any]) -> list[dict[str, str]]:
    names = [r["station_en"] for r in rows]
    i, j = names.index(d["after"]), names.index(d["before"])
    a, b = rows[i], rows[j]
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
    out = [*rows[: i + 1], new, *rows[i + 1 :]]
    # the segment(s) beyond the derived station carry the gauge that continues past it
    for r in out[i + 2 :]:
        r["gauge_after"] = d["gauge_after"]
    return out


def build_snapshot(shared: Path, out_path: Path) -> list[str]:
    """Build the whole snapshot; return a report of what was done (one line per step)."""
    b = SnapshotBuilder()
    cn_stations = add_china(b, shared)
    ru_stations = add_russia(b, shared)
    station_index: dict[str, int] = {}

    # North Korea → China: P'yŏngŭi table, its bridge row joined to the Chinese OSM network
    pyongui = _table_rows(shared, "kp_pyongui.csv")
    bridge = pyongui[-2]
    cn_nodes = {n for w in b.ways if w.tags.get("country") == "CN" for n in w.nodes}
    bridge_nid, d = b.nearest_node(float(bridge["lat"]), float(bridge["lon"]), among=cn_nodes)
    b.report.append(f"Yalu bridge joined to OSM node {d:.0f} m away")
    add_table(b, shared, "kp_pyongui.csv", join={len(pyongui) - 2: bridge_nid},
              skip_rows=[len(pyongui) - 1], station_index=station_index)
    b.nodes[cn_stations["丹东"]].tags["railway:position"] = pyongui[-1]["km"]
    add_table(b, shared, "kp_pyongra.csv", station_index=station_index)

    # North Korea → Russia: Rajin … Tumangang … bridge, joined to the end of the Hasan trace
    hambuk = _table_rows(shared, "kp_hambuk_hongui.csv")
    ru_nodes = {n for w in b.ways if w.tags.get("country") == "RU" for n in w.nodes}
    tb = hambuk[-2]
    tb_nid, d = b.nearest_node(float(tb["lat"]), float(tb["lon"]), among=ru_nodes)
    b.report.append(f"Tumen bridge joined to the Hasan trace {d:.0f} m away")
    station_index["Khasan"] = ru_stations["Khasan"]
    add_table(b, shared, "kp_hambuk_hongui.csv", join={len(hambuk) - 2: tb_nid},
              skip_rows=[len(hambuk) - 1], station_index=station_index)
    b.nodes[ru_stations["Khasan"]].tags.update(
        _station_tags(hambuk[-1], "kp_hambuk_hongui.csv"))

    # Chinese gaps: three pieces, each joined to OSM nodes at its ends
    gaps = _table_rows(shared, "cn_gaps.csv")
    # (first row, last row, join the first row to OSM?, join the last row to OSM?)
    pieces = [(0, 6, True, True), (7, 24, True, False), (25, 39, False, True)]
    for first, last, join_first, join_last in pieces:
        rows_keep = set(range(first, last + 1))
        skip = [k for k in range(len(gaps)) if k not in rows_keep]
        join = {}
        for pos, k, wanted in ((0, first, join_first), (last - first, last, join_last)):
            if not wanted:
                continue
            r = gaps[k]
            if r["station_local"] in cn_stations:
                join[pos] = cn_stations[r["station_local"]]
            else:  # Zhengzhou: the OSM data resume south of it
                join[pos] = b.nearest_node(float(r["lat"]), float(r["lon"]), among=cn_nodes)[0]
        add_table(b, shared, "cn_gaps.csv", join=join, skip_rows=skip, station_index=station_index)

    # Vietnam: from the OSM end of the Chinese line at the border
    vn = _table_rows(shared, "vn_dongdang_hanoi.csv")
    border_nid, d = b.nearest_node(float(vn[1]["lat"]), float(vn[1]["lon"]), among=cn_nodes)
    b.report.append(f"Friendship Pass border joined to OSM node {d:.0f} m away")
    add_table(b, shared, "vn_dongdang_hanoi.csv", join={0: border_nid}, skip_rows=[0],
              station_index=station_index)
    b.nodes[cn_stations["凭祥"]].tags["railway:position"] = vn[0]["km"]

    # Russia extras: station waypoints on the traces, and the Vostochny branch
    extras = _table_rows(shared, "ru_extras.csv")
    ru_nodes = {n for w in b.ways if w.tags.get("country") == "RU" for n in w.nodes}
    for r in extras:
        if r["line"] == "Ledyanaya–Uglegorsk branch":
            continue
        nid, d = b.nearest_node(float(r["lat"]), float(r["lon"]), among=ru_nodes)
        if d > 5000:
            b.report.append(f"ru_extras {r['station_en']}: {d / 1000:.1f} km off, skipped")
            continue
        b.nodes[nid].tags = {**b.nodes[nid].tags, **_station_tags(r, "ru_extras.csv")}
        station_index[r["station_en"]] = nid
    led = station_index["Ledyanaya"]
    branch = next(r for r in extras if r["line"] == "Ledyanaya–Uglegorsk branch")
    ts = b.add_node(float(branch["lat"]), float(branch["lon"]),
                    _station_tags(branch, "ru_extras.csv"))
    b.add_way([led, ts], {
        "railway": "rail", "name": "Ледяная–Углегорск", "name:en": branch["line"],
        "country": "RU", "source": "station-table:ru_extras.csv",
        "trainsim:geometry": "approximate", **TABLE_LINE_TAGS[branch["line"]],
    })

    for place in GAUGE_CHANGE_PLACES:
        b.nodes[station_index[place]].tags["trainsim:gauge_change"] = "possible"
    b.write(out_path)
    b.report.append(
        f"wrote {out_path.name}: {len(b._way_node_ids())} nodes, {len(b.ways)} ways, "
        f"{out_path.stat().st_size / 1e6:.1f} MB"
    )
    return b.report

