"""Rail-aware routing: an edge-based search that respects switch angles, reversals and gauge.

A plain node-based shortest path lets a train turn back through a switch or run on track of another
gauge. Here the search state is a directed edge (plus the gauge the train is set to), and a move
from one edge to the next is allowed only when the change of direction at the junction, measured on
the geometry ``HEADING_PROBE_M`` either side of it, is below ``max_angle``.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from simulator._io import atomic_path
from simulator.errors import RouteNotFoundError

__all__ = ["Mark", "RailRouter", "Route", "Segment", "find_route"]

HEADING_PROBE_M = 300.0
MAX_HEADING_ERROR = math.radians(30.0)
CHORD_MAX_ANGLE = math.radians(100.0)
EARTH_RADIUS_M = 6_371_009.0


@dataclass(frozen=True)
class Segment:
    """One edge of a route, in travel order."""

    u: int
    v: int
    key: int
    length_m: float
    km_start: float
    line: str
    country: str
    gauges: frozenset[int]
    electrified: str | None
    speed_limit: float | None
    source: str
    approximate: bool
    coords: tuple[tuple[float, float], ...]  # (lon, lat)

    @property
    def km_end(self) -> float:
        return self.km_start + self.length_m / 1000


@dataclass(frozen=True)
class Mark:
    """A point of interest along a route: station passed, stop, border crossing, gauge change."""

    km: float
    kind: str  # "station", "stop", "border", "gauge_change"
    name: str
    node: int
    country: str | None = None
    detail: str = ""


@dataclass
class Route:
    """An ordered list of segments with marks, from the first stop to the last."""

    segments: list[Segment]
    marks: list[Mark]
    stops: list[str]
    train_gauge: int
    gauge_after: list[tuple[float, int]] = field(default_factory=list)

    @cached_property
    def km_ends(self) -> np.ndarray:
        """Where each segment ends, km from the origin (for lookups by km)."""
        return np.fromiter((s.km_end for s in self.segments), float, len(self.segments))

    @property
    def length_km(self) -> float:
        return sum(s.length_m for s in self.segments) / 1000

    def km_by(self, attribute: str) -> dict[str, float]:
        """Kilometres grouped by a segment attribute (``country``, ``line``, ``source``)."""
        out: dict[str, float] = {}
        for s in self.segments:
            k = str(getattr(s, attribute) or "?")
            out[k] = out.get(k, 0.0) + s.length_m / 1000
        return out

    def marks_of(self, kind: str) -> list[Mark]:
        return [m for m in self.marks if m.kind == kind]

    def table(self) -> Any:
        """The segments as a pandas DataFrame (one row per segment)."""
        import pandas as pd

        return pd.DataFrame([{
            "km_start": round(s.km_start, 3), "km_end": round(s.km_end, 3),
            "length_km": round(s.length_m / 1000, 3), "line": s.line, "country": s.country,
            "gauge": ";".join(map(str, sorted(s.gauges))), "electrified": s.electrified,
            "speed_limit_kmh": s.speed_limit, "source": s.source,
            "approximate_geometry": s.approximate, "from_node": s.u, "to_node": s.v,
        } for s in self.segments])

    def to_geojson(self) -> dict[str, Any]:
        features: list[dict[str, Any]] = []
        for s in self.segments:
            features.append({
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(c) for c in s.coords]},
                "properties": {
                    "km_start": round(s.km_start, 3), "length_km": round(s.length_m / 1000, 3),
                    "line": s.line, "country": s.country,
                    "gauge": ";".join(map(str, sorted(s.gauges))),
                    "electrified": s.electrified, "speed_limit_kmh": s.speed_limit,
                    "source": s.source, "approximate_geometry": s.approximate,
                },
            })
        for m in self.marks:
            if m.kind == "station":
                continue
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": list(self._coord_of(m.node))},
                "properties": {"kind": m.kind, "name": m.name, "km": round(m.km, 3),
                               "detail": m.detail},
            })
        return {"type": "FeatureCollection", "features": features,
                "properties": {"attribution": "© OpenStreetMap contributors (ODbL)"}}

    def _coord_of(self, node: int) -> tuple[float, float]:
        for s in self.segments:
            if s.u == node:
                return s.coords[0]
            if s.v == node:
                return s.coords[-1]
        return self.segments[0].coords[0]

    def write_geojson(self, path: Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_geojson(), ensure_ascii=False), encoding="utf-8")


def _edge_coords(g: nx.MultiDiGraph, u: int, v: int, d: dict[str, Any]) -> np.ndarray:
    geom = d.get("geometry")
    if geom is not None:
        coords = np.asarray(geom.coords, dtype=float)[:, :2]
        # osmnx stores the geometry in the u→v direction; guard against reversed ones
        ux, uy = g.nodes[u]["x"], g.nodes[u]["y"]
        if (coords[0, 0] - ux) ** 2 + (coords[0, 1] - uy) ** 2 > (coords[-1, 0] - ux) ** 2 + (
            coords[-1, 1] - uy
        ) ** 2:
            coords = coords[::-1]
        return coords
    return np.array([[g.nodes[u]["x"], g.nodes[u]["y"]], [g.nodes[v]["x"], g.nodes[v]["y"]]])


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _local_xy(coords: np.ndarray) -> np.ndarray:
    lat0 = math.radians(float(coords[:, 1].mean()))
    x = np.radians(coords[:, 0]) * math.cos(lat0) * EARTH_RADIUS_M
    y = np.radians(coords[:, 1]) * EARTH_RADIUS_M
    return np.column_stack([x, y])


def _heading(xy: np.ndarray, probe: float) -> float:
    """Direction (radians) from the first point to the point ``probe`` metres along the line."""
    seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    total = cum[-1]
    if total <= 0:
        return 0.0
    target = min(probe, total)
    x = float(np.interp(target, cum, xy[:, 0]))
    y = float(np.interp(target, cum, xy[:, 1]))
    return math.atan2(y - xy[0, 1], x - xy[0, 0])


def _angle_between(a: float, b: float) -> float:
    return abs((b - a + math.pi) % (2 * math.pi) - math.pi)


class RailRouter:
    """Precomputed edge data of a network for repeated rail-aware searches."""

    def __init__(self, graph: nx.MultiDiGraph, *, probe_m: float = HEADING_PROBE_M) -> None:
        self.graph = graph
        self.edges: list[tuple[int, int, int]] = []
        self.length: list[float] = []
        self.gauges: list[frozenset[int]] = []
        self.head_out: list[float] = []  # leaving u
        self.head_in: list[float] = []  # arriving at v
        self.forbidden: list[bool] = []  # against railway:preferred_direction
        self.approximate: list[bool] = []  # chords through station points: no real angles
        self.heading_error: list[float] = []  # radians the simplified geometry may be off
        self.out: dict[int, list[int]] = {n: [] for n in graph.nodes}
        index: dict[tuple[int, int, int], int] = {}
        for u, v, k, d in graph.edges(keys=True, data=True):
            coords = _edge_coords(graph, u, v, d)
            xy = _local_xy(coords)
            i = len(self.edges)
            index[(u, v, k)] = i
            self.edges.append((u, v, k))
            self.length.append(float(d["length"]))
            self.gauges.append(d.get("gauges") or frozenset())
            self.head_out.append(_heading(xy, probe_m))
            self.head_in.append(_heading(xy[::-1], probe_m) + math.pi)
            pref = d.get("railway:preferred_direction")
            self.forbidden.append(
                (pref == "forward" and bool(d.get("reversed")))
                or (pref == "backward" and not d.get("reversed"))
            )
            self.approximate.append(bool(d.get("trainsim:geometry")))
            tol = float(_first(d.get("trainsim:simplified_m")) or 0.0)
            self.heading_error.append(
                min(math.atan(2 * tol / max(self.length[i], 1.0)), MAX_HEADING_ERROR))
            self.out[u].append(i)
        # a node is a switch where track leads to three or more neighbours; elsewhere a change of
        # direction is a curve of the line (or an artefact of simplified geometry), not a turnout
        undirected = graph.to_undirected(as_view=True)
        self.switch = {n: len(set(undirected.neighbors(n)) - {n}) > 2 for n in graph.nodes}
        self.twin = [index.get((v, u, k), -1) for u, v, k in self.edges]
        self.index = index

    # -----------------------------------------------------------------------------------------
    def search(
        self,
        source: int,
        target: int,
        *,
        gauge: int,
        max_angle_deg: float = 45.0,
        change_nodes: frozenset[int] = frozenset(),
        allowed_gauges: frozenset[int] | None = None,
        arrive_edge: int | None = None,
        check_angle: bool = True,
        check_gauge: bool = True,
        end_gauge: int | None = None,
    ) -> tuple[list[int], list[int]] | None:
        """Shortest legal edge sequence from ``source`` to ``target``.

        Returns the edge indices and the gauge the train is set to on each, or None. With
        ``arrive_edge`` the first move must be a legal continuation of that edge (no reversal);
        with ``end_gauge`` the train must arrive set to that gauge.
        """
        max_angle = math.radians(max_angle_deg)
        gauges_ok = allowed_gauges or frozenset({gauge})

        def usable(e: int, g: int) -> bool:
            if self.forbidden[e]:
                return False
            return not check_gauge or not self.gauges[e] or g in self.gauges[e]

        def turn_ok(e1: int, e2: int) -> bool:
            if e2 == self.twin[e1]:
                return False
            if not check_angle or not self.switch[self.edges[e1][1]]:
                return True
            if self.approximate[e1] or self.approximate[e2]:
                # a straight chord between stations says little about the track's direction at
                # the junction, but a turn past CHORD_MAX_ANGLE is still a reversal
                return _angle_between(self.head_in[e1], self.head_out[e2]) < CHORD_MAX_ANGLE
            # simplified geometry moves a chord by up to its tolerance: widen the test by that
            limit = max_angle + self.heading_error[e1] + self.heading_error[e2]
            return _angle_between(self.head_in[e1], self.head_out[e2]) < limit

        dist: dict[tuple[int, int], float] = {}
        prev: dict[tuple[int, int], tuple[int, int] | None] = {}
        heap: list[tuple[float, int, int]] = []
        starts = self.out.get(source, [])
        for e in starts:
            if arrive_edge is not None and not turn_ok(arrive_edge, e):
                continue
            for g in _gauge_options(gauge, gauges_ok, source in change_nodes):
                if usable(e, g):
                    dist[(e, g)] = self.length[e]
                    prev[(e, g)] = None
                    heapq.heappush(heap, (self.length[e], e, g))
        while heap:
            d, e, g = heapq.heappop(heap)
            if d > dist.get((e, g), math.inf):
                continue
            v = self.edges[e][1]
            if v == target and (end_gauge is None or g == end_gauge):
                path, gauges = [], []
                step: tuple[int, int] | None = (e, g)
                while step is not None:
                    path.append(step[0])
                    gauges.append(step[1])
                    step = prev[step]
                return path[::-1], gauges[::-1]
            options = _gauge_options(g, gauges_ok, v in change_nodes)
            for e2 in self.out[v]:
                if not turn_ok(e, e2):
                    continue
                for g2 in options:
                    if not usable(e2, g2):
                        continue
                    nd = d + self.length[e2]
                    if nd < dist.get((e2, g2), math.inf):
                        dist[(e2, g2)] = nd
                        prev[(e2, g2)] = (e, g)
                        heapq.heappush(heap, (nd, e2, g2))
        return None


def _gauge_options(current: int, allowed: frozenset[int], can_change: bool) -> Iterable[int]:
    if can_change:
        return sorted(allowed, key=lambda g: g != current)
    return (current,)


def _nearest_node(g: nx.MultiDiGraph, node: int) -> str:
    d = g.nodes[node]
    return f"node {node} ({d.get('name:en') or d.get('name') or 'unnamed'}, " \
           f"{d['y']:.4f} N {d['x']:.4f} E)"


def find_route(
    network: Any,
    stops: Sequence[str],
    *,
    gauge: int = 1435,
    gauge_change_at: Sequence[str] = (),
    reverse_at: Sequence[str] = (),
    max_angle_deg: float = 45.0,
    router: RailRouter | None = None,
) -> Route:
    """Route a train through ``stops`` (station names, in order).

    Parameters
    ----------
    network
        A :class:`~simulator.network.RailNetwork`.
    stops
        Origin, via points and destination, by station name.
    gauge
        The gauge the train starts on (mm).
    gauge_change_at
        Station names where the train's bogies may be exchanged; at each the train may continue on
        the other gauges present in the network. The route marks every change it makes.
    reverse_at
        Intermediate stops where the train may reverse (leave back the way it came).
    max_angle_deg
        Largest change of direction allowed at a junction.

    Raises
    ------
    RouteNotFoundError
        Naming the two points it could not join, the nearest node to each, and why.
    """
    if len(stops) < 2:
        msg = "a route needs at least two stops"
        raise RouteNotFoundError(msg)
    g = network.graph
    router = router or RailRouter(g)
    stations = [network.stations.find(s) for s in stops]
    change_nodes = frozenset(network.stations.find(s).node for s in gauge_change_at)
    reverse_nodes = {network.stations.find(s).node for s in reverse_at}
    all_gauges = frozenset(x for gs in router.gauges for x in gs)
    allowed = all_gauges if change_nodes else frozenset({gauge})
    edges: list[int] = []
    gauges: list[int] = []
    current_gauge = gauge
    # the last leg: from, to, the edge it continued, where its edges start, the gauge it began on
    previous: tuple[Any, Any, int | None, int, int] | None = None
    for a, b in itertools.pairwise(stations):
        arrive = edges[-1] if edges and a.node not in reverse_nodes else None
        found = router.search(a.node, b.node, gauge=current_gauge, max_angle_deg=max_angle_deg,
                              change_nodes=change_nodes, allowed_gauges=allowed,
                              arrive_edge=arrive)
        if found is None and previous is not None and change_nodes:
            # legs are searched one at a time: the previous leg may have kept a gauge that this
            # one cannot continue on (dual-gauge track up to the stop); redo it ending in another
            pa, pb, parrive, start, pgauge = previous
            for alt in sorted(allowed - {current_gauge}):
                redo = router.search(pa.node, pb.node, gauge=pgauge, max_angle_deg=max_angle_deg,
                                     change_nodes=change_nodes, allowed_gauges=allowed,
                                     arrive_edge=parrive, end_gauge=alt)
                if redo is None:
                    continue
                arrive2 = redo[0][-1] if a.node not in reverse_nodes else None
                found = router.search(a.node, b.node, gauge=alt, max_angle_deg=max_angle_deg,
                                      change_nodes=change_nodes, allowed_gauges=allowed,
                                      arrive_edge=arrive2)
                if found is not None:
                    del edges[start:], gauges[start:]
                    edges.extend(redo[0])
                    gauges.extend(redo[1])
                    break
        if found is None:
            why = _why_not(router, a.node, b.node, current_gauge, max_angle_deg, change_nodes,
                           allowed, arrive)
            msg = (f"no rail route from {a.label} to {b.label} ({why}); nearest network nodes: "
                   f"{_nearest_node(g, a.node)} and {_nearest_node(g, b.node)}")
            raise RouteNotFoundError(msg)
        previous = (a, b, arrive, len(edges), current_gauge)
        edges.extend(found[0])
        gauges.extend(found[1])
        current_gauge = found[1][-1]
    return _build_route(network, router, edges, gauges, stations, gauge)


def _why_not(router: RailRouter, s: int, t: int, gauge: int, angle: float,
             change: frozenset[int], allowed: frozenset[int], arrive: int | None) -> str:
    if not nx.has_path(router.graph.to_undirected(as_view=True), s, t):
        return "the two points are not connected by track"
    if arrive is not None and router.search(
        s, t, gauge=gauge, max_angle_deg=angle, change_nodes=change, allowed_gauges=allowed
    ) is not None:
        return "the train would have to reverse at the stop; the scenario does not allow it"
    if router.search(s, t, gauge=gauge, check_gauge=False, max_angle_deg=angle,
                     arrive_edge=arrive) is not None:
        return f"track of another gauge than the train's {gauge} mm lies between, " \
               "and no gauge change is allowed there"
    return f"every path needs a turn sharper than {angle:g}° at a junction"


def _build_route(network: Any, router: RailRouter, edges: list[int], gauges: list[int],
                 stations: list[Any], start_gauge: int) -> Route:
    g = network.graph
    segments: list[Segment] = []
    marks: list[Mark] = []
    km = 0.0
    stop_nodes = {s.node: s.label for s in stations}
    marks.append(Mark(0.0, "stop", stations[0].label, stations[0].node,
                      g.nodes[stations[0].node].get("country")))
    prev_country = None
    gauge_after = [(0.0, start_gauge)]
    stop_iter = 1
    for i, e in enumerate(edges):
        u, v, k = router.edges[e]
        d = g.edges[u, v, k]
        coords = _edge_coords(g, u, v, d)
        country = str(d.get("country") or "?")
        if prev_country is not None and country != prev_country:
            marks.append(Mark(km, "border", _border_name(g, u, prev_country, country), u,
                              country, f"{prev_country} → {country}"))
        if i > 0 and gauges[i] != gauges[i - 1]:
            marks.append(Mark(km, "gauge_change", g.nodes[u].get("name:en") or
                              g.nodes[u].get("name", str(u)), u, country,
                              f"{gauges[i - 1]} → {gauges[i]} mm"))
            gauge_after.append((km, gauges[i]))
        prev_country = country
        src = str(d.get("source") or "")
        segments.append(Segment(
            u=u, v=v, key=k, length_m=float(d["length"]), km_start=km,
            line=str(d.get("name:en") or d.get("name") or "unnamed"), country=country,
            gauges=frozenset(d.get("gauges") or ()), electrified=d.get("electrified"),
            speed_limit=d.get("speed_limit"), source=src,
            approximate=bool(d.get("trainsim:geometry")) or "station-table" in src,
            coords=tuple((float(x), float(y)) for x, y in coords),
        ))
        km += float(d["length"]) / 1000
        nd = g.nodes[v]
        if stop_iter < len(stations) and v == stations[stop_iter].node:
            marks.append(Mark(km, "stop", stations[stop_iter].label, v, nd.get("country")))
            stop_iter += 1
        elif nd.get("railway") == "station" and v not in stop_nodes:
            marks.append(Mark(km, "station", nd.get("name:en") or nd.get("name", ""), v,
                              nd.get("country")))
    return Route(segments=segments, marks=marks, stops=[s.label for s in stations],
                 train_gauge=start_gauge, gauge_after=gauge_after)


def _border_name(g: nx.MultiDiGraph, node: int, a: str, b: str) -> str:
    d = g.nodes[node]
    if d.get("border_crossing"):
        return str(d.get("name:en") or d.get("name"))
    return f"{a}–{b} border"
