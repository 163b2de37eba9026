"""Rail-aware routing: an edge-based search that respects switch angles, reversals and gauge.

A plain node-based shortest path lets a train turn back through a switch or run on track of another
gauge. Here the search state is a directed edge (plus the gauge the train is set to), and a move
from one edge to the next is allowed only when the change of direction at the junction, measured on
the geometry ``HEADING_PROBE_M`` either side of it, is below ``max_angle``.

The states and their legal moves form a sparse graph ("turn graph") that is built once per network
and query kind, and searched with SciPy's compiled Dijkstra. A journey with via stops is one
search in layers, one per leg: every way of arriving at a via stop is carried into the next leg,
so a stop never forces a reversal that another approach would avoid, and the train leaves a stop
the way it came in unless the stop is one where it may reverse.

Every route is compared with the unconstrained shortest track between the same stops: the ratio is
reported, a large one is explained (where the detour is, and why the shortest track is not
legal), and a route that leaves the stops' countries, crosses one border twice or passes a
station twice is refused unless the caller allows it.
"""

from __future__ import annotations

import itertools
import json
import math
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

from simulator._gc import cyclic_gc_paused
from simulator._io import atomic_path
from simulator.errors import RouteNotFoundError, RouteRefusedError
from simulator.network.graph import RailNetwork, edge_arrays, edge_coords
from simulator.network.stations import Station

__all__ = ["DETOUR_WARN_RATIO", "Mark", "MarkKind", "PairOutcome", "RailRouter", "Route",
           "Segment", "find_route", "router_for", "survey"]

#: a turn involving a straight station-table chord is refused only past this angle (a reversal)
CHORD_MAX_ANGLE = math.radians(100.0)
#: between two chords at a station that is no junction, only turning straight back is refused
BEND_MAX_ANGLE_CHORD = math.radians(170.0)
#: routes longer than this times the unconstrained shortest track get a warning naming the detour
DETOUR_WARN_RATIO = 1.2
_NO_PRED = -9999


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


class MarkKind(StrEnum):
    """What a mark along a route is."""

    STOP = "stop"  # a stop of the route (origin, via points, destination)
    BORDER = "border"
    GAUGE_CHANGE = "gauge_change"
    STATION = "station"  # a station the train passes


@dataclass(frozen=True)
class Mark:
    """A point of interest along a route: station passed, stop, border crossing, gauge change.

    ``detail`` is for people ("KP → RU", "1435 → 1520 mm"); ``countries`` is, for a border
    crossing, the country left and the country entered.
    """

    km: float
    kind: MarkKind
    name: str
    node: int
    country: str | None = None
    detail: str = ""
    countries: tuple[str, str] | None = None


@dataclass
class Route:
    """An ordered list of segments with marks, from the first stop to the last."""

    segments: list[Segment]
    marks: list[Mark]
    stops: list[str]
    gauge_after: list[tuple[float, int]] = field(default_factory=list)
    #: the unconstrained shortest track between the same stops (no angle, gauge or country rule)
    shortest_km: float = math.nan
    #: why the route is longer than that, where it is (empty when the ratio is unremarkable)
    detour: str = ""

    @property
    def ratio(self) -> float:
        """Length over the unconstrained shortest track between the same stops."""
        return self.length_km / self.shortest_km if self.shortest_km > 0 else math.nan

    @cached_property
    def km_ends(self) -> np.ndarray:
        """Where each segment ends, km from the origin (for lookups by km)."""
        return np.fromiter((s.km_end for s in self.segments), float, len(self.segments))

    @cached_property
    def vertices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lon, lat, km)`` of the geometry's vertices in route order, each vertex's km spread
        along its segment in proportion to the local (equirectangular) distance."""
        lon: list[np.ndarray] = []
        lat: list[np.ndarray] = []
        km: list[np.ndarray] = []
        for s in self.segments:
            xy = np.asarray(s.coords, dtype=float)
            step = np.hypot(np.diff(xy[:, 0]) * math.cos(math.radians(float(xy[:, 1].mean()))),
                            np.diff(xy[:, 1]))
            cum = np.concatenate([[0.0], np.cumsum(step)])
            frac = cum / cum[-1] if cum[-1] > 0 else np.linspace(0.0, 1.0, len(cum))
            lon.append(xy[:, 0])
            lat.append(xy[:, 1])
            km.append(s.km_start + frac * s.length_m / 1000)
        return np.concatenate(lon), np.concatenate(lat), np.concatenate(km)

    @property
    def length_km(self) -> float:
        """Length of the route, km."""
        return sum(s.length_m for s in self.segments) / 1000

    def km_by(self, attribute: str) -> dict[str, float]:
        """Kilometres grouped by a segment attribute (``country``, ``line``, ``source``)."""
        out: dict[str, float] = {}
        for s in self.segments:
            k = str(getattr(s, attribute) or "?")
            out[k] = out.get(k, 0.0) + s.length_m / 1000
        return out

    def marks_of(self, kind: MarkKind | str) -> list[Mark]:
        """The marks of one kind, in km order."""
        return [m for m in self.marks if m.kind == kind]

    def table(self) -> pd.DataFrame:
        """The segments as a DataFrame: one row per segment, in travel order."""
        return pd.DataFrame([{
            "km_start": round(s.km_start, 3), "km_end": round(s.km_end, 3),
            "length_km": round(s.length_m / 1000, 3), "line": s.line, "country": s.country,
            "gauge": ";".join(map(str, sorted(s.gauges))), "electrified": s.electrified,
            "speed_limit_kmh": s.speed_limit, "source": s.source,
            "approximate_geometry": s.approximate, "from_node": s.u, "to_node": s.v,
        } for s in self.segments])

    def to_geodataframe(self) -> gpd.GeoDataFrame:
        """The segments as a GeoDataFrame (EPSG:4326): :meth:`table` with each segment's line.

        In a notebook, ``route.to_geodataframe().explore(column="country")`` maps it.
        """
        # from arrays: a sequence of tuples costs shapely a Python call per coordinate
        geometry = [shapely.LineString(np.asarray(s.coords, dtype=float)) if len(s.coords) > 1
                    else shapely.Point(s.coords[0]) for s in self.segments]
        return gpd.GeoDataFrame(self.table(), geometry=geometry, crs="EPSG:4326")

    def to_geojson(self) -> dict[str, Any]:
        """The route as a GeoJSON FeatureCollection: the segments, then the stops, border
        crossings and gauge changes as points."""
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
            if m.kind == MarkKind.STATION:
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
        """Write :meth:`to_geojson` to ``path`` (atomically)."""
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_geojson(), ensure_ascii=False), encoding="utf-8")


def _angle_between(a: Any, b: Any) -> Any:
    return np.abs((np.asarray(b) - np.asarray(a) + np.pi) % (2 * np.pi) - np.pi)


@dataclass(frozen=True)
class _Query:
    """What a search allows: the turn graph depends on it (cached per distinct query)."""

    gauges: tuple[int, ...]
    change_nodes: frozenset[int]
    max_angle_deg: float
    countries: frozenset[str] | None  # None: any country
    any_gauge: bool = False  # ignore gauges (to tell a gauge obstacle from a turn)


@dataclass
class _Leg:
    """One layer of a search: distances and predecessors over the turn graph's states."""

    dist: np.ndarray
    pred: np.ndarray
    #: a state that leaves a stop where the train reversed → the arrival state it came from
    reversed_from: dict[int, int]


class RailRouter:
    """The rail-aware search over one network (build once: :func:`router_for`).

    Parameters
    ----------
    graph
        The network's graph.
    arrays
        Per-edge ``head_out``, ``head_in``, ``heading_error`` in ``graph.edges(keys=True)`` order
        (the network cache keeps them); computed from the geometry when not given.
    """

    @cyclic_gc_paused()  # arrays and lists for every edge and node, all kept
    def __init__(self, graph: nx.MultiDiGraph, arrays: dict[str, np.ndarray] | None = None
                 ) -> None:
        arrays = arrays if arrays else edge_arrays(graph)
        self.graph = graph
        self.nodes: list[int] = list(graph.nodes)
        self.node_index = {n: i for i, n in enumerate(self.nodes)}
        self.edges: list[tuple[int, int, int]] = []
        eu, ev, length, gauge_sets, country, forbidden, approx = [], [], [], [], [], [], []
        for u, v, k, d in graph.edges(keys=True, data=True):
            self.edges.append((u, v, k))
            eu.append(self.node_index[u])
            ev.append(self.node_index[v])
            length.append(float(d["length"]))
            gauge_sets.append(frozenset(d.get("gauges") or ()))
            country.append(str(d.get("country") or "?"))
            pref = d.get("railway:preferred_direction")
            forbidden.append((pref == "forward" and bool(d.get("reversed")))
                             or (pref == "backward" and not d.get("reversed")))
            approx.append(bool(d.get("trainsim:geometry")))
        n_e = len(self.edges)
        self.eu = np.asarray(eu, dtype=np.int64)
        self.ev = np.asarray(ev, dtype=np.int64)
        # csgraph treats a zero weight as no edge: every state costs at least a millimetre
        self.length = np.maximum(np.asarray(length, dtype=float), 1e-3)
        self.gauge_list: list[int] = sorted({x for gs in gauge_sets for x in gs})
        bit = {g: 1 << i for i, g in enumerate(self.gauge_list)}
        self.gauge_mask = np.asarray([sum(bit[x] for x in gs) for gs in gauge_sets],
                                     dtype=np.int64)  # 0: gauge not known, any train may use it
        self.country_list: list[str] = sorted(set(country))
        code = {c: i for i, c in enumerate(self.country_list)}
        self.country = np.asarray([code[c] for c in country], dtype=np.int64)
        self.forbidden = np.asarray(forbidden, dtype=bool)
        self.approximate = np.asarray(approx, dtype=bool)
        index = {e: i for i, e in enumerate(self.edges)}
        self.twin = np.asarray([index.get((v, u, k), -1) for u, v, k in self.edges],
                               dtype=np.int64)
        # a node is a switch where track leads to three or more neighbours; elsewhere a change
        # of direction is a curve of the line (or an artefact of simplified geometry)
        undirected = graph.to_undirected(as_view=True)
        self.switch = np.asarray([len(set(undirected.neighbors(n)) - {n}) > 2
                                  for n in self.nodes], dtype=bool)
        self.out: list[list[int]] = [[] for _ in self.nodes]
        self.into: list[list[int]] = [[] for _ in self.nodes]
        for i in range(n_e):
            self.out[int(self.eu[i])].append(i)
            self.into[int(self.ev[i])].append(i)
        self._turns(np.asarray(arrays["head_out"]), np.asarray(arrays["head_in"]),
                    np.asarray(arrays["heading_error"]))
        self._graphs: OrderedDict[_Query, csr_matrix] = OrderedDict()
        self._runs: OrderedDict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._plain: csr_matrix | None = None
        self._pieces: dict[int, np.ndarray] = {}
        self._turn_index: dict[tuple[int, int], int] | None = None
        self.station_xy: tuple[np.ndarray, np.ndarray] | None = None

    def turn_index(self) -> dict[tuple[int, int], int]:
        """(edge in, edge out) → index of that move in the turn arrays."""
        if self._turn_index is None:
            self._turn_index = {(int(f), int(t)): i for i, (f, t) in
                                enumerate(zip(self.t_from.tolist(), self.t_to.tolist(),
                                              strict=True))}
        return self._turn_index

    def _turns(self, head_out: np.ndarray, head_in: np.ndarray, err: np.ndarray) -> None:
        """Every move from an edge into the next (no U-turn), with the angle it needs."""
        by_node = np.argsort(self.eu, kind="stable")
        starts = np.searchsorted(self.eu[by_node], np.arange(len(self.nodes)))
        ends = np.searchsorted(self.eu[by_node], np.arange(len(self.nodes)), side="right")
        counts = (ends - starts)[self.ev]
        t_from = np.repeat(np.arange(len(self.edges)), counts)
        offsets = np.arange(len(t_from)) - np.repeat(np.cumsum(counts) - counts, counts)
        t_to = by_node[np.repeat(starts[self.ev], counts) + offsets]
        keep = t_to != self.twin[t_from]
        t_from, t_to = t_from[keep], t_to[keep]
        angle = _angle_between(head_in[t_from], head_out[t_to])
        widened = angle - err[t_from] - err[t_to]  # simplified geometry may be off by err
        chord = self.approximate[t_from] | self.approximate[t_to]
        at_switch = self.switch[self.ev[t_from]]
        # a move is legal when need < max_angle; -inf: always, +inf: never.
        # At a switch: the angle test (a straight chord between stations says little about the
        # track's direction there, but a turn past CHORD_MAX_ANGLE is still a reversal).
        # Elsewhere a bend is a curve of the line or an artefact of simplification, but turning
        # back (two parallel ways, a little closed way) is a reversal all the same.
        switch_need = np.where(chord, np.where(angle < CHORD_MAX_ANGLE, -np.inf, np.inf),
                               widened)
        bend_ok = np.where(chord, angle < BEND_MAX_ANGLE_CHORD, widened < CHORD_MAX_ANGLE)
        need = np.where(at_switch, switch_need, np.where(bend_ok, -np.inf, np.inf))
        self.t_from, self.t_to, self.t_need = t_from, t_to, need
        self.t_angle = angle

    # -- the turn graph --------------------------------------------------------------------
    def usable(self, q: _Query) -> np.ndarray:
        """(gauges × edges): may a train set to that gauge run on that edge?"""
        ok = ~self.forbidden
        if q.countries is not None:
            allowed = [i for i, c in enumerate(self.country_list) if c in q.countries]
            ok = ok & np.isin(self.country, allowed)
        rows = []
        for g in q.gauges:
            b = 1 << self.gauge_list.index(g) if g in self.gauge_list else 0
            rows.append(ok if q.any_gauge
                        else ok & ((self.gauge_mask == 0) | ((self.gauge_mask & b) != 0)))
        return np.asarray(rows)

    def _state_graph(self, q: _Query) -> csr_matrix:
        if q in self._graphs:
            self._graphs.move_to_end(q)
            return self._graphs[q]
        n_e, n_g = len(self.edges), len(q.gauges)
        usable = self.usable(q)
        legal = self.t_need < math.radians(q.max_angle_deg)
        f, t = self.t_from[legal], self.t_to[legal]
        rows, cols = [], []
        at_change = np.isin(self.ev[f], [self.node_index[n] for n in q.change_nodes])
        for gi in range(n_g):
            for gj in range(n_g):
                sel = usable[gi][f] & usable[gj][t]
                if gi != gj:
                    sel &= at_change
                rows.append(gi * n_e + f[sel])
                cols.append(gj * n_e + t[sel])
        r, c = np.concatenate(rows), np.concatenate(cols)
        n = n_g * n_e + 1  # the last state is the search's source
        m = csr_matrix((self.length[c % n_e], (r, c)), shape=(n, n))
        self._graphs[q] = m
        while len(self._graphs) > 8:
            self._graphs.popitem(last=False)
        return m

    def _run(self, q: _Query, seeds: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
        """Dijkstra from a virtual source joined to ``seeds`` (state → cost on arrival)."""
        base = self._state_graph(q)
        n = base.shape[0]
        states = np.fromiter(seeds, dtype=np.int64, count=len(seeds))
        costs = np.fromiter(seeds.values(), dtype=float, count=len(seeds))
        indptr = base.indptr.copy()
        indptr[-1] = base.nnz + len(states)
        m = csr_matrix((np.concatenate([base.data, costs]),
                        np.concatenate([base.indices, states]), indptr), shape=(n, n))
        dist, pred = dijkstra(m, directed=True, indices=n - 1, return_predecessors=True)
        return dist, pred

    def _run_cached(self, q: _Query, seeds: dict[int, float]
                    ) -> tuple[np.ndarray, np.ndarray]:
        # one origin's run serves every destination (the all-pairs test, repeated legs)
        key = (q, tuple(sorted(seeds.items())))
        if key in self._runs:
            self._runs.move_to_end(key)
            return self._runs[key]
        result = self._run(q, seeds)
        self._runs[key] = result
        while len(self._runs) > 16:
            self._runs.popitem(last=False)
        return result

    def same_gauge_track(self, a: int, b: int, gauge: int) -> bool:
        """Whether track that a train of ``gauge`` may use joins nodes ``a`` and ``b``, turns
        aside (to tell a gauge obstacle from a turn)."""
        if gauge not in self._pieces:
            ok = self.usable(_Query((gauge,), frozenset(), 180.0, None))[0]
            n = len(self.nodes)
            track = csr_matrix((np.ones(int(ok.sum())), (self.eu[ok], self.ev[ok])), shape=(n, n))
            self._pieces[gauge] = connected_components(track, directed=False)[1]
        piece = self._pieces[gauge]
        return bool(piece[self.node_index[a]] == piece[self.node_index[b]])

    def plain_distances(self, node: int) -> tuple[np.ndarray, np.ndarray]:
        """Unconstrained shortest track from a node to every node (lengths in m, predecessors)."""
        if self._plain is None:
            order = np.lexsort((self.length, self.ev, self.eu))
            u, v, w = self.eu[order], self.ev[order], self.length[order]
            first = np.ones(len(u), dtype=bool)
            first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])  # parallel edges: the shortest
            n = len(self.nodes)
            self._plain = csr_matrix((w[first], (u[first], v[first])), shape=(n, n))
        dist, pred = dijkstra(self._plain, directed=True, indices=self.node_index[node],
                              return_predecessors=True)
        return dist, pred

    # -- the layered search -----------------------------------------------------------------
    def search(self, stops: Sequence[int], *, gauge: int, q: _Query,
               reverse_nodes: frozenset[int] = frozenset()
               ) -> tuple[list[int], list[int]] | int:
        """Shortest legal edge sequence through ``stops`` (node ids) in order.

        Returns the edge indices and the gauge of each, or the index of the first leg that
        cannot be completed.
        """
        n_e = len(self.edges)
        legs: list[_Leg] = []
        first = self.node_index[stops[0]]
        start_gauges = q.gauges if stops[0] in q.change_nodes else (gauge,)
        seeds: dict[int, float] = {}
        usable = self.usable(q)
        for e in self.out[first]:
            for g in start_gauges:
                gi = q.gauges.index(g)
                if usable[gi][e]:
                    seeds[gi * n_e + e] = float(self.length[e])
        reversed_from: dict[int, int] = {}
        for k in range(1, len(stops)):
            if not seeds:
                return k - 1
            dist, pred = self._run_cached(q, seeds)
            leg = _Leg(dist, pred, reversed_from)
            legs.append(leg)
            target = self.node_index[stops[k]]
            arrivals = {gi * n_e + e: float(leg.dist[gi * n_e + e])
                        for e in self.into[target] for gi in range(len(q.gauges))
                        if np.isfinite(leg.dist[gi * n_e + e])}
            if not arrivals:
                return k - 1
            seeds = dict(arrivals)
            reversed_from = {}
            if stops[k] in reverse_nodes and k < len(stops) - 1:
                # the train may leave in any direction: from its best arrival in each gauge
                for e in self.out[target]:
                    for gi in range(len(q.gauges)):
                        if not usable[gi][e]:
                            continue
                        best = min(((c, s) for s, c in arrivals.items()
                                    if s // n_e == gi or stops[k] in q.change_nodes),
                                   default=None)
                        if best is None:
                            continue
                        state = gi * n_e + e
                        cost = best[0] + float(self.length[e])
                        if cost < seeds.get(state, math.inf):
                            seeds[state] = cost
                            reversed_from[state] = best[1]
        end = min(seeds, key=lambda s: seeds[s])
        # back through the layers
        states: list[int] = []
        state = end
        for leg in reversed(legs):
            chain = [state]
            while int(leg.pred[chain[-1]]) != len(leg.pred) - 1:
                chain.append(int(leg.pred[chain[-1]]))
            seed = chain[-1]
            states.extend(chain[:-1])
            if seed in leg.reversed_from:
                states.append(seed)
                state = leg.reversed_from[seed]
            else:
                state = seed
        states.append(state)
        states.reverse()
        return [s % n_e for s in states], [q.gauges[s // n_e] for s in states]


#: one router per loaded network, for as long as the network lives
_ROUTERS: weakref.WeakKeyDictionary[RailNetwork, RailRouter] = weakref.WeakKeyDictionary()


def router_for(network: RailNetwork) -> RailRouter:
    """The network's router, built on first use and kept for as long as the network lives."""
    router = _ROUTERS.get(network)
    if router is None:
        router = _ROUTERS[network] = RailRouter(network.graph, network.arrays)
    return router


def _node_label(g: nx.MultiDiGraph, node: int) -> str:
    d = g.nodes[node]
    return f"node {node} ({d.get('name:en') or d.get('name') or 'unnamed'}, " \
           f"{d['y']:.4f} N {d['x']:.4f} E)"


def _check_angle(max_angle_deg: float) -> None:
    if not (math.isfinite(max_angle_deg) and 0 < max_angle_deg <= 180):
        msg = f"max angle {max_angle_deg!r}: expected degrees in (0, 180]"
        raise RouteNotFoundError(msg)


def find_route(
    network: RailNetwork,
    stops: Sequence[str],
    *,
    gauge: int | None = None,
    gauge_change_at: Sequence[str] = (),
    reverse_at: Sequence[str] = (),
    max_angle_deg: float = 45.0,
    allow_detours: bool = False,
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
        The gauge the train starts on (mm). Default: the gauge of the track at the origin;
        where tracks of several gauges meet there (a dual-gauge station such as Khasan), the
        first that gives a route, 1,435 mm first.
    gauge_change_at
        Station names where the train's bogies may be exchanged; at each the train may continue on
        the other gauges present in the network. The route marks every change it makes.
    reverse_at
        Intermediate stops where the train may reverse (leave back the way it came). Elsewhere a
        via stop is passed through: the train leaves it in the direction it arrived.
    max_angle_deg
        Largest change of direction allowed at a junction.
    allow_detours
        Accept a route that enters a country where no stop is, crosses the same border twice or
        passes the same station twice (outside a reversal at a ``reverse_at`` stop). Without it
        the search keeps to the stops' countries and such a route is refused.
    router
        The network's router (default: :func:`router_for`, built once per network).

    Returns
    -------
    Route
        With ``shortest_km`` (the unconstrained shortest track between the same stops) and, when
        the route is more than ``DETOUR_WARN_RATIO`` times that, ``detour`` saying where and why.

    Raises
    ------
    RouteNotFoundError
        Naming the two points it could not join, the nearest node to each, and why.
    RouteRefusedError
        A route exists only through another country, or crosses a border twice, or passes a
        station twice, and ``allow_detours`` is not set.
    """
    if len(stops) < 2:
        msg = "a route needs at least two stops"
        raise RouteNotFoundError(msg)
    _check_angle(max_angle_deg)
    router = router or router_for(network)
    g = network.graph
    stations = [network.stations.find(s) for s in stops]
    for a, b in itertools.pairwise(stations):
        if a.node == b.node:
            msg = f"'{a.label}' follows itself: consecutive stops must be different stations"
            raise RouteNotFoundError(msg)
    if gauge is None:
        # a train starts on the track it stands on: Vladivostok → Khabarovsk is broad gauge
        here = sorted(_gauges_at(router, stations[0].node), key=lambda x: (x != 1435, x))
        failures: list[RouteNotFoundError] = []
        for candidate in here or [1435]:
            try:
                return find_route(network, stops, gauge=candidate,
                                  gauge_change_at=gauge_change_at, reverse_at=reverse_at,
                                  max_angle_deg=max_angle_deg, allow_detours=allow_detours,
                                  router=router)
            except RouteRefusedError:
                raise
            except RouteNotFoundError as exc:
                failures.append(exc)
        raise failures[0]
    if gauge not in router.gauge_list:
        have = ", ".join(map(str, router.gauge_list))
        msg = f"gauge {gauge} mm: the network has track of {have} mm only"
        raise RouteNotFoundError(msg)
    change_nodes = frozenset(network.stations.find(s).node for s in gauge_change_at)
    reverse_nodes = frozenset(network.stations.find(s).node for s in reverse_at)
    gauges = tuple(router.gauge_list) if change_nodes else (gauge,)
    stop_countries = frozenset(str(g.nodes[s.node].get("country") or "?") for s in stations)
    nodes = [s.node for s in stations]
    q = _Query(gauges, change_nodes, float(max_angle_deg),
               None if allow_detours else stop_countries)
    found = router.search(nodes, gauge=gauge, q=q, reverse_nodes=reverse_nodes)
    if isinstance(found, int):
        _fail(network, router, stations, found, gauge, q, reverse_nodes, allow_detours)
    assert not isinstance(found, int)
    edges, edge_gauges = found
    route = _build_route(network, router, edges, edge_gauges, stations, gauge)
    if not allow_detours:
        _refuse_absurd(route, stations, reverse_nodes)
    _compare_with_shortest(route, router, stations, gauge, q)
    return route


def _fail(network: RailNetwork, router: RailRouter, stations: list[Station], leg: int, gauge: int,
          q: _Query, reverse_nodes: frozenset[int], allow_detours: bool) -> None:
    """Raise the error that says why leg ``leg`` has no legal route."""
    g = network.graph
    a, b = stations[leg], stations[leg + 1]
    nodes = [s.node for s in stations]
    dist, _ = router.plain_distances(a.node)
    why: str
    if not np.isfinite(dist[router.node_index[b.node]]):
        why = "the two points are not connected by track"
    elif q.countries is not None and not isinstance(router.search(
            nodes, gauge=gauge, q=_Query(q.gauges, q.change_nodes, q.max_angle_deg, None),
            reverse_nodes=reverse_nodes), int):
        wide = _Query(q.gauges, q.change_nodes, q.max_angle_deg, None)
        found = router.search(nodes, gauge=gauge, q=wide, reverse_nodes=reverse_nodes)
        assert not isinstance(found, int)
        foreign = sorted({router.country_list[router.country[e]] for e in found[0]}
                         - set(q.countries))
        msg = (f"route refused: the only rail route from {stations[0].label} to "
               f"{stations[-1].label} runs through {', '.join(foreign)}, where no stop is; "
               "allow it explicitly with --allow-detours (route: allow_detours: true)")
        raise RouteRefusedError(msg)
    elif leg > 0 and stations[leg].node not in reverse_nodes and not isinstance(
            router.search(nodes, gauge=gauge, q=q, reverse_nodes=reverse_nodes | {a.node}), int):
        why = "the train would have to reverse at the stop; the scenario does not allow it"
    elif not isinstance(router.search(
            [a.node, b.node], gauge=gauge,
            q=_Query((gauge,), frozenset(), q.max_angle_deg, q.countries, any_gauge=True)), int):
        why = (f"track of another gauge than the train's {gauge} mm lies between, "
               "and no gauge change is allowed there")
    else:
        why = f"every path needs a turn sharper than {q.max_angle_deg:g}° at a junction"
        if not router.same_gauge_track(a.node, b.node, gauge):
            # the gauge blocks the way too, whatever the turns: say it first
            why = (f"track of another gauge than the train's {gauge} mm lies between, and no "
                   f"gauge change is allowed there; whatever the gauge, {why}")
        _, pred = router.plain_distances(a.node)
        path = [router.node_index[b.node]]
        while int(pred[path[-1]]) != _NO_PRED:
            path.append(int(pred[path[-1]]))
        where = _why_shortest_illegal(router, path[::-1], gauge, q)
        if "turn" in where or " mm rail " in where:
            why += "; " + where
    if why.startswith("track of another gauge") and leg == 0:
        here = sorted(_gauges_at(router, a.node))
        if here and gauge not in here:  # say which gauge the train could start on
            why += f"; the track at {a.label} is {' and '.join(map(str, here))} mm"
    msg = (f"no rail route from {a.label} to {b.label} ({why}); nearest network nodes: "
           f"{_node_label(g, a.node)} and {_node_label(g, b.node)}")
    raise RouteNotFoundError(msg)


def _gauges_at(router: RailRouter, node: int) -> set[int]:
    """The gauges of the track leaving ``node``."""
    return {x for e in router.out[router.node_index[node]]
            for x in router.graph.edges[router.edges[e]].get("gauges") or ()}


def _refuse_absurd(route: Route, stations: list[Station], reverse_nodes: frozenset[int]) -> None:
    """Refuse a route that crosses one border twice or passes a station twice.

    Each run between reversals (at ``reverse_at`` stops) is checked on its own: coming back
    the same way after an allowed reversal is what the caller asked for.
    """
    allow = "; allow it explicitly with --allow-detours (route: allow_detours: true)"
    reversal_km = [m.km for m in route.marks_of(MarkKind.STOP) if m.node in reverse_nodes]
    bounds = [0.0, *reversal_km, math.inf]
    for lo, hi in itertools.pairwise(bounds):
        crossed: dict[frozenset[str], float] = {}
        for m in route.marks_of(MarkKind.BORDER):
            if not lo <= m.km < hi:
                continue
            assert m.countries is not None
            pair = frozenset(m.countries)
            if pair in crossed:
                msg = (f"route refused: it crosses the {'–'.join(sorted(pair))} border twice "
                       f"(km {crossed[pair]:,.0f} and km {m.km:,.0f}), {route.length_km:,.0f} km "
                       f"in all{allow}")
                raise RouteRefusedError(msg)
            crossed[pair] = m.km
        seen: dict[int, Mark] = {}
        for m in route.marks:
            if m.kind not in (MarkKind.STATION, MarkKind.STOP) or not lo <= m.km <= hi:
                continue
            first = seen.get(m.node)
            # a stop listed twice is the caller's wish; passing a station again is a loop
            if first is not None and m.km > first.km + 1e-6 and MarkKind.STATION in (
                    m.kind, first.kind):
                msg = (f"route refused: it passes {m.name} twice (km {first.km:,.0f} and "
                       f"km {m.km:,.0f}), {route.length_km:,.0f} km in all{allow}")
                raise RouteRefusedError(msg)
            seen.setdefault(m.node, m)


def _compare_with_shortest(route: Route, router: RailRouter, stations: list[Station], gauge: int,
                           q: _Query) -> None:
    """Set ``shortest_km`` and, for a long route, ``detour`` (where, how long, and why)."""
    total = 0.0
    worst: tuple[float, int, list[int]] | None = None
    for k, (a, b) in enumerate(itertools.pairwise(stations)):
        dist, pred = router.plain_distances(a.node)
        j = router.node_index[b.node]
        total += float(dist[j])
        path = [j]
        while int(pred[path[-1]]) != _NO_PRED:
            path.append(int(pred[path[-1]]))
        path.reverse()
        leg_km = _leg_km(route, k)
        excess = leg_km - float(dist[j]) / 1000
        if worst is None or excess > worst[0]:
            worst = (excess, k, path)
    route.shortest_km = total / 1000
    if worst is None or route.ratio <= DETOUR_WARN_RATIO:
        return
    excess, k, path = worst
    a, b = stations[k], stations[k + 1]
    shortest_leg = _leg_km(route, k) - excess
    where = _divergence(route, router, path, k)
    why = _why_shortest_illegal(router, path, gauge, q)
    route.detour = (f"the route is {route.ratio:.2f}× the shortest track between its stops "
                    f"({route.length_km:,.0f} km against {route.shortest_km:,.0f} km); the "
                    f"detour is on {a.label} → {b.label} ({_leg_km(route, k):,.0f} km against "
                    f"{shortest_leg:,.0f} km, +{excess:,.0f} km){where}: {why}")


def _leg_km(route: Route, k: int) -> float:
    stops = route.marks_of(MarkKind.STOP)
    return stops[k + 1].km - stops[k].km


def _nearest_station_label(router: RailRouter, node: int) -> str:
    """Where the node is: "at <station>", "near <station>" or "<n> km from <station>"."""
    g = router.graph
    d = g.nodes[node]
    if d.get("railway") == "station" and (d.get("name:en") or d.get("name")):
        return f"at {d.get('name:en') or d.get('name')}"
    if router.station_xy is None:
        st = [(n, nd["x"], nd["y"]) for n, nd in g.nodes(data=True)
              if nd.get("railway") == "station"]
        router.station_xy = (np.asarray([n for n, _, _ in st]),
                             np.asarray([(x, y) for _, x, y in st], dtype=float))
    ids, xy = router.station_xy
    if not len(ids):
        return f"at {d['y']:.4f} N {d['x']:.4f} E"
    k = math.cos(math.radians(d["y"]))
    dist = np.hypot((xy[:, 0] - d["x"]) * k, xy[:, 1] - d["y"]) * 111.2
    i = int(np.argmin(dist))
    nd = g.nodes[int(ids[i])]
    name = str(nd.get("name:en") or nd.get("name"))
    return f"near {name}" if dist[i] < 2 else f"{dist[i]:.0f} km from {name}"


def _divergence(route: Route, router: RailRouter, path: list[int], k: int) -> str:
    stops = route.marks_of(MarkKind.STOP)
    lo, hi = stops[k].km, stops[k + 1].km
    on_route = [router.node_index[s.v] for s in route.segments if lo < s.km_end <= hi + 1e-9]
    on = set(on_route)
    split = next((i for i, n in enumerate(path[1:], 1) if n not in on), None)
    if split is None:
        return ""
    rejoin = next((n for n in path[split:] if n in on), path[-1])
    leave = router.nodes[path[split - 1]]
    back = router.nodes[rejoin]
    return (f", leaving the shortest track {_nearest_station_label(router, leave)} and "
            f"rejoining it {_nearest_station_label(router, back)}")


def _why_shortest_illegal(router: RailRouter, path: list[int], gauge: int, q: _Query) -> str:
    """The first rule the unconstrained shortest track breaks."""
    usable = router.usable(_Query((gauge,), q.change_nodes, q.max_angle_deg, None))[0]
    prev_e = -1
    limit = math.radians(q.max_angle_deg)
    turns = router.turn_index()
    for a, b in itertools.pairwise(path):
        e = min((e for e in router.out[a] if int(router.ev[e]) == b),
                key=lambda i: router.length[i])
        country = router.country_list[router.country[e]]
        if q.countries is not None and country not in q.countries:
            return (f"the shortest track runs through {country} "
                    f"({_nearest_station_label(router, router.nodes[a])}), where no stop is")
        if not usable[e] and not q.change_nodes:
            return (f"the shortest track has no {gauge} mm rail "
                    f"{_nearest_station_label(router, router.nodes[a])}")
        if prev_e >= 0:
            t = turns.get((prev_e, e))
            here = router.nodes[a]
            if t is None:
                return ("the shortest track turns back on itself "
                        f"{_nearest_station_label(router, here)} (a reversal)")
            if router.t_need[t] >= limit:
                ang = math.degrees(float(router.t_angle[t]))
                return (f"the shortest track needs a {ang:.0f}° turn "
                        f"{_nearest_station_label(router, here)}, a reversal the train cannot "
                        "make there")
        prev_e = e
    return "the shortest track is legal but differs in a gauge change or a stop's direction"


def _build_route(network: RailNetwork, router: RailRouter, edges: list[int], gauges: list[int],
                 stations: list[Station], start_gauge: int) -> Route:
    g = network.graph
    segments: list[Segment] = []
    marks: list[Mark] = []
    km = 0.0
    stop_nodes = {s.node: s.label for s in stations}
    marks.append(Mark(0.0, MarkKind.STOP, stations[0].label, stations[0].node,
                      g.nodes[stations[0].node].get("country")))
    prev_country = None
    gauge_after = [(0.0, start_gauge)]
    stop_iter = 1
    for i, e in enumerate(edges):
        u, v, k = router.edges[e]
        d = g.edges[u, v, k]
        coords = edge_coords(g, u, v, d)
        country = str(d.get("country") or "?")
        if prev_country is not None and country != prev_country:
            marks.append(Mark(km, MarkKind.BORDER, _border_name(g, u, prev_country, country), u,
                              country, f"{prev_country} → {country}", (prev_country, country)))
        if i > 0 and gauges[i] != gauges[i - 1]:
            marks.append(Mark(km, MarkKind.GAUGE_CHANGE, g.nodes[u].get("name:en") or
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
            coords=tuple(map(tuple, coords.tolist())),  # Python floats, without a Python loop
        ))
        km += float(d["length"]) / 1000
        nd = g.nodes[v]
        if stop_iter < len(stations) and v == stations[stop_iter].node:
            marks.append(Mark(km, MarkKind.STOP, stations[stop_iter].label, v,
                              nd.get("country")))
            stop_iter += 1
        elif nd.get("railway") == "station" and v not in stop_nodes:
            marks.append(Mark(km, MarkKind.STATION, nd.get("name:en") or nd.get("name", ""), v,
                              nd.get("country")))
    return Route(segments=segments, marks=marks, stops=[s.label for s in stations],
                 gauge_after=gauge_after)


def _border_name(g: nx.MultiDiGraph, node: int, a: str, b: str) -> str:
    d = g.nodes[node]
    if d.get("border_crossing"):
        return str(d.get("name:en") or d.get("name"))
    return f"{a}–{b} border"


@dataclass(frozen=True)
class PairOutcome:
    """What the router makes of one origin–destination pair (see :func:`survey`)."""

    origin: str
    destination: str
    gauge: int
    outcome: str  # "routed", "refused", "no_route"
    length_km: float = math.nan
    shortest_km: float = math.nan
    reason: str = ""  # why refused / no route, or why the route is a detour

    @property
    def ratio(self) -> float:
        return self.length_km / self.shortest_km if self.shortest_km > 0 else math.nan


def survey(network: RailNetwork, origins: Sequence[Station], destinations: Sequence[Station], *,
           gauge_of: Callable[[Station], int], max_angle_deg: float = 45.0
           ) -> list[PairOutcome]:
    """Route every origin to every destination (stations) the way :func:`find_route` would.

    One search per origin serves all its destinations, so that thousands of pairs take seconds:
    the all-pairs property test and network surveys use it; the test checks it against
    :func:`find_route` on a sample. ``gauge_of(station)`` gives the train's gauge for an origin.
    The outcome of a pair is ``routed`` (with the ratio to the shortest track and, above
    ``DETOUR_WARN_RATIO``, the reason), ``refused`` (crosses a border twice, passes a station
    twice, or runs only through a country where no stop is) or ``no_route`` (with the reason).
    """
    router = router_for(network)
    g = network.graph
    n_e = len(router.edges)
    is_station = np.asarray([d.get("railway") == "station" for _, d in g.nodes(data=True)])
    out: list[PairOutcome] = []
    country_of = {s.node: str(g.nodes[s.node].get("country") or "?")
                  for s in (*origins, *destinations)}
    code_of = {c: router.country_list.index(c) if c in router.country_list else -1
               for c in country_of.values()}
    for a in origins:
        gauge = int(gauge_of(a))
        ca = country_of[a.node]
        wide = _Query((gauge,), frozenset(), float(max_angle_deg), None)
        usable = router.usable(wide)[0]
        seeds = {e: float(router.length[e]) for e in router.out[router.node_index[a.node]]
                 if usable[e]}
        plain, plain_pred = router.plain_distances(a.node)
        runs: dict[Any, tuple[np.ndarray, np.ndarray]] = {}

        def run(q: _Query, seeds: dict[int, float] = seeds,
                runs: dict[Any, tuple[np.ndarray, np.ndarray]] = runs
                ) -> tuple[np.ndarray, np.ndarray]:
            if q not in runs:
                dist, pred = router._run(q, seeds) if seeds else (
                    np.full(n_e + 1, np.inf), np.full(n_e + 1, _NO_PRED))
                # paths are walked back one predecessor at a time: a list is faster to index
                runs[q] = (dist, pred.tolist())
            return runs[q]

        for b in destinations:
            if b.node == a.node:
                continue
            j = router.node_index[b.node]
            cb = country_of[b.node]
            allowed = frozenset({ca, cb})
            res = _best_path(router, run(wide), j)
            crossed = router.country[res[1]] if res is not None else None
            if crossed is not None and not np.all((crossed == code_of[ca])
                                                  | (crossed == code_of[cb])):
                res = _best_path(router, run(_Query((gauge,), frozenset(), wide.max_angle_deg,
                                                    allowed)), j)
                if res is None:
                    foreign = sorted({router.country_list[router.country[e]]
                                      for e in _best_path(router, run(wide), j)[1]}  # type: ignore[index]
                                     - allowed)
                    out.append(PairOutcome(a.label, b.label, gauge, "refused",
                                           reason=f"runs through {', '.join(foreign)}, where no "
                                                  "stop is"))
                    continue
            if res is None:
                out.append(PairOutcome(a.label, b.label, gauge, "no_route",
                                       reason=_why_no_pair(router, a.node, b.node, gauge, run,
                                                           plain, wide)))
                continue
            length_m, edges = res
            refusal = _path_refusal(router, edges, is_station)
            shortest = float(plain[j]) / 1000
            if refusal:
                out.append(PairOutcome(a.label, b.label, gauge, "refused", length_m / 1000,
                                       shortest, refusal))
                continue
            reason = ""
            if length_m / 1000 > DETOUR_WARN_RATIO * shortest:
                path = [j]
                while int(plain_pred[path[-1]]) != _NO_PRED:
                    path.append(int(plain_pred[path[-1]]))
                path.reverse()
                reason = _why_shortest_illegal(router, path, gauge, _Query(
                    (gauge,), frozenset(), wide.max_angle_deg, allowed))
            out.append(PairOutcome(a.label, b.label, gauge, "routed", length_m / 1000,
                                   shortest, reason))
    return out


def _best_path(router: RailRouter, run: tuple[np.ndarray, np.ndarray | list[int]],
               target: int) -> tuple[float, list[int]] | None:
    """The cheapest arrival at node ``target`` of a one-gauge run: (metres, edges)."""
    dist, pred = run
    arrivals = router.into[target]
    if not arrivals:
        return None
    best = min(arrivals, key=lambda e: dist[e])
    if not np.isfinite(dist[best]):
        return None
    source = len(pred) - 1
    edges = [int(best)]
    step = int(pred[best])
    while step != source:
        edges.append(step)
        step = int(pred[step])
    edges.reverse()
    return float(dist[best]), edges


def _path_refusal(router: RailRouter, edges: list[int], is_station: np.ndarray) -> str:
    """The refusal :func:`find_route` would give a one-leg route, or ''."""
    codes = router.country[edges]
    change = np.flatnonzero(codes[1:] != codes[:-1])
    crossed: set[frozenset[str]] = set()
    for k in change.tolist():
        pair = frozenset((router.country_list[codes[k]], router.country_list[codes[k + 1]]))
        if pair in crossed:
            return f"crosses the {'–'.join(sorted(pair))} border twice"
        crossed.add(pair)
    nodes = np.concatenate([router.eu[edges[:1]], router.ev[edges]])
    stations = nodes[:-1][is_station[nodes[:-1]]]  # (arriving at the end is no pass)
    if len(np.unique(stations)) < len(stations):
        seen: set[int] = set()
        for n in stations.tolist():
            if n in seen:
                d = router.graph.nodes[router.nodes[n]]
                return f"passes {d.get('name:en') or d.get('name') or 'a station'} twice"
            seen.add(n)
    return ""


def _why_no_pair(router: RailRouter, a: int, b: int, gauge: int,
                 run: Callable[[_Query], tuple[np.ndarray, np.ndarray]], plain: np.ndarray,
                 wide: _Query) -> str:
    j = router.node_index[b]
    if not np.isfinite(plain[j]):
        return "not connected by track"
    q = _Query((gauge,), frozenset(), wide.max_angle_deg, None, any_gauge=True)
    seeds = {e: float(router.length[e]) for e in router.out[router.node_index[a]]}
    if _best_path(router, router._run_cached(q, seeds), j) is not None:
        return f"track of another gauge than {gauge} mm lies between"
    turn = f"every path needs a turn sharper than {wide.max_angle_deg:g}° at a junction"
    if not router.same_gauge_track(a, b, gauge):
        return f"track of another gauge than {gauge} mm lies between (whatever the gauge, {turn})"
    return turn
