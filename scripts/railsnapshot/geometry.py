"""Geometry helpers of the snapshot build: distances, a segment index, snapping onto track, and
which nodes the ways share."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, compress, groupby, pairwise
from operator import attrgetter, itemgetter
from typing import Any

import numpy as np
import shapely
from shapely import STRtree

from simulator.network.osmxml import OsmXmlWriter

EARTH_RADIUS_M = 6_371_009.0
M_PER_DEG = math.radians(1) * EARTH_RADIUS_M


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Great-circle distance in metres (scalars or numpy arrays; osmnx's formula and radius)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    # squared by np.square: a numpy scalar's ``** 2`` calls C pow(), one ulp off x * x at times,
    # and a pair of points is to be as far apart alone as in an array
    a = np.square(np.sin(dphi / 2)) + np.cos(p1) * np.cos(p2) * np.square(np.sin(dlmb / 2))
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def node_coords(b: OsmXmlWriter, ids: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Latitudes and longitudes of nodes, as arrays in the order of ``ids``."""
    nodes = list(map(b.nodes.__getitem__, ids))
    lat = np.fromiter(map(attrgetter("lat"), nodes), dtype=float, count=len(nodes))
    lon = np.fromiter(map(attrgetter("lon"), nodes), dtype=float, count=len(nodes))
    return lat, lon


def way_nodes(b: OsmXmlWriter, ways: Iterable[int]) -> Iterator[list[int]]:
    """The node lists of some ways (by map: no Python code runs per way)."""
    return map(attrgetter("nodes"), map(b.ways.__getitem__, ways))


def drop_repeats(nodes: Iterable[int]) -> list[int]:
    """The node list with one node of each run of equal nodes (a way's steps of length 0)."""
    return list(map(itemgetter(0), groupby(nodes)))


def way_ends(b: OsmXmlWriter, ways: Iterable[int]) -> list[int]:
    """The first and the last node of each way, in way order."""
    return list(chain.from_iterable(map(itemgetter(0, -1), way_nodes(b, ways))))


def node_use(b: OsmXmlWriter, ways: list[int]) -> Counter[int]:
    """How many times each node comes in the ways."""
    return Counter(chain.from_iterable(way_nodes(b, ways)))


def loose_ends(b: OsmXmlWriter, ways: list[int]) -> list[int]:
    """The way ends no other way touches (nor the way itself elsewhere), in way order."""
    ends = way_ends(b, ways)
    return list(compress(ends, map((1).__eq__, map(node_use(b, ways).__getitem__, ends))))


def line_angle(a: Any, b: Any) -> Any:
    """Angle between two undirected lines given as headings (radians), in [0, pi/2]."""
    d = np.abs((np.asarray(b) - np.asarray(a) + np.pi) % (2 * np.pi) - np.pi)
    return np.minimum(d, np.pi - d)


@dataclass
class Snap:
    """A point on a way's segment: way index, segment index, position 0..1, distance."""

    way: int
    seg: int
    t: float
    dist_m: float
    lat: float
    lon: float
    heading: float  # of the segment, radians (east = 0, north = pi/2), local metric frame


class SegmentIndex:
    """The segments of some ways of a writer, for nearest-track queries in metres."""

    #: a query of up to this many point-segment pairs measures them all: cheaper than a tree
    BRUTE_FORCE_PAIRS = 200_000

    def __init__(self, b: OsmXmlWriter, ways: list[int]) -> None:
        node_lists = list(way_nodes(b, ways))
        lat, lon = node_coords(b, chain.from_iterable(node_lists))
        counts = np.fromiter(map(len, node_lists), dtype=np.int64, count=len(ways)) - 1
        first = np.concatenate([[0], np.cumsum(counts + 1)[:-1]]).astype(np.int64)
        # segment i of a way runs from its node i to node i + 1
        self.way = np.repeat(np.asarray(ways, dtype=np.int64), counts)
        self.seg = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64), counts)
        start = np.repeat(first, counts) + self.seg
        self.a = np.column_stack([lon[start], lat[start]])
        self.b = np.column_stack([lon[start + 1], lat[start + 1]])

    @cached_property
    def _tree(self) -> STRtree:
        coords = np.stack([self.a, self.b], axis=1).reshape(-1, 2)
        return STRtree(shapely.from_ragged_array(shapely.GeometryType.LINESTRING, coords,
                                                 (np.arange(len(self.a) + 1) * 2,)))

    def near(self, lat: np.ndarray, lon: np.ndarray, radius_m: float) -> list[list[Snap]]:
        """For each point, the snaps onto segments within ``radius_m``, nearest first."""
        if not len(self.a) or not len(lat):
            return [[] for _ in range(len(lat))]
        # the candidates: every pair for a small query, else the tree's, whose query in degrees
        # is generous (longitude degrees shrink with latitude); either way the exact distance is
        # computed below in a local metric frame
        if len(lat) * len(self.a) <= self.BRUTE_FORCE_PAIRS:
            qi, si = np.divmod(np.arange(len(lat) * len(self.a)), len(self.a))
        else:
            deg = radius_m / M_PER_DEG / max(math.cos(math.radians(float(np.max(np.abs(lat))))),
                                             0.2)
            qi, si = self._tree.query(shapely.points(lon, lat), predicate="dwithin", distance=deg)
        plat, plon = lat[qi], lon[qi]
        kx = np.cos(np.radians(plat)) * M_PER_DEG
        ax = (self.a[si, 0] - plon) * kx
        ay = (self.a[si, 1] - plat) * M_PER_DEG
        bx = (self.b[si, 0] - plon) * kx
        by = (self.b[si, 1] - plat) * M_PER_DEG
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        t = np.where(len2 > 0, -(ax * dx + ay * dy) / np.where(len2 > 0, len2, 1), 0.0)
        t = np.clip(t, 0.0, 1.0)
        px, py = ax + t * dx, ay + t * dy
        dist = np.hypot(px, py)
        heading = np.arctan2(dy, dx)
        slat = self.a[si, 1] + t * (self.b[si, 1] - self.a[si, 1])
        slon = self.a[si, 0] + t * (self.b[si, 0] - self.a[si, 0])
        # nearest first for each point (ties: the lower segment)
        order = np.lexsort((si, dist, qi))
        order = order[dist[order] <= radius_m]
        seg = si[order]
        snaps = list(map(Snap, self.way[seg].tolist(), self.seg[seg].tolist(),
                         t[order].tolist(), dist[order].tolist(), slat[order].tolist(),
                         slon[order].tolist(), heading[order].tolist()))
        # the snaps of point q are the run bounds[q]:bounds[q + 1] of the sorted ones
        bounds = np.searchsorted(qi[order], np.arange(len(lat) + 1)).tolist()
        return [snaps[lo:hi] for lo, hi in pairwise(bounds)]


def bearings(lat: np.ndarray, lon: np.ndarray, to_lat: np.ndarray, to_lon: np.ndarray
             ) -> np.ndarray:
    """Heading from each point to its point of ``to_*`` in the local metric frame (radians,
    east = 0, north = pi/2)."""
    return np.arctan2(to_lat - lat, (to_lon - lon) * np.cos(np.radians(lat)))


def segment_error(length_m: Any, tolerance_m: float) -> Any:
    """How far (radians) a simplified segment may be off the track (the router's rule)."""
    if tolerance_m <= 0:
        return np.zeros_like(length_m, dtype=float)
    return np.minimum(np.arctan(2 * tolerance_m / np.maximum(length_m, 1.0)), math.radians(30.0))


def column(snaps: list[Snap], name: str) -> np.ndarray:
    """One field of each snap, as an array."""
    return np.fromiter(map(attrgetter(name), snaps), dtype=float, count=len(snaps))


def flatten(found: list[list[Snap]]) -> tuple[np.ndarray, list[Snap]]:
    """The snaps of all points as one list, and the point each belongs to (nearest first)."""
    point = np.repeat(np.arange(len(found)), list(map(len, found)))
    return point, list(chain.from_iterable(found))


def first_of_each(point: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Positions of the first ``ok`` snap of each point that has one (as :func:`flatten`
    orders them: the nearest that passes), in the order of the points."""
    passing = np.flatnonzero(ok)
    _, first = np.unique(point[passing], return_index=True)
    return passing[first]


def segment_ends(b: OsmXmlWriter, snaps: list[Snap]) -> list[list[int]]:
    """The two nodes of each snap's segment."""
    return [b.ways[s.way].nodes[s.seg: s.seg + 2] for s in snaps]


def segment_length_m(b: OsmXmlWriter, snaps: list[Snap]) -> np.ndarray:
    """Length of each snap's segment."""
    ends = segment_ends(b, snaps)
    return haversine_m(*node_coords(b, (u for u, _ in ends)), *node_coords(b, (v for _, v in ends)))


def insert_points(b: OsmXmlWriter, snaps: list[Snap], *, snap_to_vertex_m: float,
                  tags: list[dict[str, str] | None] | None = None) -> list[int]:
    """Put each snap on its way as a vertex (an existing one when close enough); return node ids.

    Snaps on the same segment are inserted in order along it. ``tags`` (one per snap) are put on
    the resulting node.
    """
    result: list[int] = [0] * len(snaps)
    # the vertices at either end of each snap's segment, and how far the snap is from them
    ends = segment_ends(b, snaps)
    lat, lon = column(snaps, "lat"), column(snaps, "lon")
    du = haversine_m(lat, lon, *node_coords(b, (u for u, _ in ends)))
    dv = haversine_m(lat, lon, *node_coords(b, (v for _, v in ends)))
    near_vertex = np.minimum(du, dv) <= snap_to_vertex_m
    # the others are inserted: by way, segment, then position along it
    inserts: dict[int, dict[int, list[tuple[float, int]]]] = {}
    for k, s in enumerate(snaps):
        if near_vertex[k]:
            result[k] = ends[k][0] if du[k] <= dv[k] else ends[k][1]
        else:
            inserts.setdefault(s.way, {}).setdefault(s.seg, []).append((s.t, k))
    for wi in sorted(inserts):
        w = b.ways[wi]
        new_nodes: list[int] = []
        done = 0  # w.nodes[:done] are in new_nodes
        for seg in sorted(inserts[wi]):
            new_nodes += w.nodes[done: seg + 1]
            done = seg + 1
            for _t, k in sorted(inserts[wi][seg]):
                s = snaps[k]
                prev = b.nodes[new_nodes[-1]]
                if float(haversine_m(s.lat, s.lon, prev.lat, prev.lon)) <= 1.0:
                    result[k] = new_nodes[-1]
                    continue
                nid = b.add_node(s.lat, s.lon)
                new_nodes.append(nid)
                result[k] = nid
        w.nodes = new_nodes + w.nodes[done:]
    if tags:
        for k, nid in enumerate(result):
            if tags[k]:
                b.nodes[nid].tags.update(tags[k] or {})
    return result


class LineDistance:
    """Distance (m) from points to a set of lines, in a sinusoidal projection (good locally)."""

    def __init__(self, lines: Sequence[Sequence[Sequence[float]]]) -> None:
        lines = [c for c in lines if len(c) >= 2]
        if not lines:
            self.tree = None
            return
        xy = self._xy(np.array(list(map(itemgetter(0, 1), chain.from_iterable(lines))),
                               dtype=float))
        which = np.repeat(np.arange(len(lines)), list(map(len, lines)))
        self.tree = STRtree(shapely.linestrings(xy, indices=which))

    @staticmethod
    def _xy(c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, dtype=float)[:, :2]
        return np.column_stack([c[:, 0] * np.cos(np.radians(c[:, 1])), c[:, 1]]) * M_PER_DEG

    def distance(self, lat: np.ndarray, lon: np.ndarray, max_m: float) -> np.ndarray:
        """Distance to the nearest line, ``inf`` beyond ``max_m``."""
        out = np.full(len(lat), np.inf)
        if self.tree is None or not len(lat):
            return out
        pts = shapely.points(self._xy(np.column_stack([lon, lat])))
        (qi, _ti), d = self.tree.query_nearest(pts, max_distance=max_m, return_distance=True)
        np.minimum.at(out, qi, d)
        return out
