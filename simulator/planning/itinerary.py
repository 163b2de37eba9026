"""Stage 1 of planning: the itinerary, i.e. the route as the later stages see it.

:func:`build_itinerary` routes a scenario on the rail network, checks the order of its stops, and
resolves every place the scenario names (halts, reported times and legs, reserved sections) to a
km along the route. The result, :class:`Itinerary`, holds plain numbers and names only: the
stretches of line with their country, line name, speed limit, electrification and time zone, and
the marks (stops, border crossings, gauge changes, stations passed). Nothing after this stage
needs the network, so an itinerary can be saved (:meth:`Itinerary.to_json`) and planned again
without it, as the equivalence test does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from simulator import settings
from simulator._io import read_csv_rows
from simulator.errors import RouteNotFoundError, StationNotFoundError
from simulator.network.graph import RailNetwork
from simulator.network.stations import normalize_name
from simulator.routing import Mark, MarkKind, Route, find_route
from simulator.scenario import Scenario

__all__ = [
    "Itinerary", "ItinerarySegment", "MarkKind", "Place", "RouteMark", "build_itinerary",
    "zone_of",
]

#: a stop this close to the route already run is one the train has passed
PASSED_KM = 5.0


@dataclass(frozen=True)
class RouteMark:
    """A point of interest along the route."""

    km: float
    kind: MarkKind
    name: str
    detail: str = ""
    #: for a border crossing: the country left and the country entered
    countries: tuple[str, str] | None = None


@dataclass(frozen=True)
class ItinerarySegment:
    """A stretch of the route with the same line, country, limit, electrification and zone."""

    km_start: float
    km_end: float
    country: str
    line: str
    speed_limit_kmh: float | None
    electrified: str | None
    tz: str  # IANA time zone of the stretch


@dataclass(frozen=True)
class Place:
    """A named place at a km along the route."""

    name: str
    km: float


@dataclass
class Itinerary:
    """The route and every place a scenario names, resolved to km from the origin.

    Attributes
    ----------
    stops
        The route's stops (origin, via points, destination) as the station index labels them.
    length_km
        Route length.
    segments
        The route as stretches of uniform attributes, in travel order.
    marks
        Stops, border crossings, gauge changes and stations passed, in km order.
    halt_places
        Where each of ``scenario.halts`` happens (same order).
    reported_places
        Where each reported time happens, by its id (the road leg's destination is left out).
    leg_places
        Places named directly by reported legs (rather than by a reported time's id).
    reserved_km
        ``(from, to)`` km of each section reserved for the train.
    route
        The routed :class:`~simulator.routing.Route` (geometry for maps); None when the
        itinerary was read from a file.
    """

    stops: list[str]
    length_km: float
    segments: list[ItinerarySegment]
    marks: list[RouteMark]
    halt_places: list[Place] = field(default_factory=list)
    reported_places: dict[str, Place] = field(default_factory=dict)
    leg_places: dict[str, Place] = field(default_factory=dict)
    reserved_km: list[tuple[float, float]] = field(default_factory=list)
    route: Route | None = None

    @cached_property
    def km_ends(self) -> np.ndarray:
        return np.array([s.km_end for s in self.segments])

    def marks_of(self, kind: MarkKind) -> list[RouteMark]:
        return [m for m in self.marks if m.kind == kind]

    def segment_index(self, km: float | np.ndarray) -> np.ndarray:
        """Index of the segment at ``km`` (vectorised; 0-d for a number)."""
        return np.asarray(np.minimum(np.searchsorted(self.km_ends, km), len(self.segments) - 1))

    def segment_at(self, km: float) -> ItinerarySegment:
        return self.segments[int(self.segment_index(km))]

    def km_by(self, attribute: str) -> dict[str, float]:
        """Kilometres grouped by a segment attribute (``country``, ``line``)."""
        out: dict[str, float] = {}
        for s in self.segments:
            key = str(getattr(s, attribute) or "?")
            out[key] = out.get(key, 0.0) + s.km_end - s.km_start
        return out

    # ------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The itinerary as JSON (without the route geometry)."""
        data = {
            "stops": self.stops, "length_km": self.length_km,
            "segments": [asdict(s) for s in self.segments],
            "marks": [{**asdict(m), "kind": str(m.kind)} for m in self.marks],
            "halt_places": [asdict(p) for p in self.halt_places],
            "reported_places": {k: asdict(p) for k, p in self.reported_places.items()},
            "leg_places": {k: asdict(p) for k, p in self.leg_places.items()},
            "reserved_km": self.reserved_km,
        }
        return json.dumps(data, ensure_ascii=False, indent=0)

    @classmethod
    def from_json(cls, text: str) -> Itinerary:
        d = json.loads(text)
        return cls(
            stops=list(d["stops"]), length_km=float(d["length_km"]),
            segments=[ItinerarySegment(**s) for s in d["segments"]],
            marks=[RouteMark(km=m["km"], kind=MarkKind(m["kind"]), name=m["name"],
                             detail=m["detail"],
                             countries=tuple(m["countries"]) if m["countries"] else None)
                   for m in d["marks"]],
            halt_places=[Place(**p) for p in d["halt_places"]],
            reported_places={k: Place(**p) for k, p in d["reported_places"].items()},
            leg_places={k: Place(**p) for k, p in d["leg_places"].items()},
            reserved_km=[(float(a), float(b)) for a, b in d["reserved_km"]],
        )

    @classmethod
    def read(cls, path: Path) -> Itinerary:
        return cls.from_json(path.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
def build_itinerary(scenario: Scenario, network: RailNetwork) -> Itinerary:
    """Route ``scenario`` on ``network`` and resolve the places it names.

    Raises
    ------
    ScenarioError
        Naming the file, line and field: an unknown station, stops in an impossible order, no
        route, a place the route does not pass.
    """
    route = _route(scenario, network)
    zones = _zones()
    marks = [_mark(m) for m in route.marks]
    places = _Places(scenario, route, marks, network)
    halt_places = [_find(scenario, places, ("halts", i, "at"), h.at)
                   for i, h in enumerate(scenario.halts)]
    road_to = normalize_name(scenario.road.to) if scenario.road else None
    reported = {}
    for i, rt in enumerate(scenario.reported.times):
        if normalize_name(rt.at) != road_to:
            reported[rt.id] = _find(scenario, places, ("reported", "times", i, "at"), rt.at)
    legs: dict[str, Place] = {}
    for i, leg in enumerate(scenario.reported.legs):
        for key, name in (("from", leg.start), ("to", leg.end)):
            if name not in reported and normalize_name(name) != road_to:
                legs[name] = _find(scenario, places, ("reported", "legs", i, key), name)
    reserved = []
    for i, rs in enumerate(scenario.reserved):
        first = _find(scenario, places, ("reserved", i, "from"), rs.start)
        last = _find(scenario, places, ("reserved", i, "to"), rs.end)
        reserved.append((min(first.km, last.km), max(first.km, last.km)))
    return Itinerary(
        stops=list(route.stops), length_km=route.length_km, segments=_segments(route, zones),
        marks=marks, halt_places=halt_places, reported_places=reported, leg_places=legs,
        reserved_km=reserved, route=route)


def _mark(m: Mark) -> RouteMark:
    return RouteMark(km=float(m.km), kind=m.kind, name=m.name, detail=m.detail,
                     countries=m.countries)


def _segments(route: Route, zones: list[dict[str, str]]) -> list[ItinerarySegment]:
    """The route's edges, consecutive ones with the same attributes merged."""
    out: list[ItinerarySegment] = []
    for s in route.segments:
        lon, lat = s.coords[len(s.coords) // 2]
        seg = ItinerarySegment(
            km_start=s.km_start, km_end=s.km_end, country=s.country, line=s.line,
            speed_limit_kmh=s.speed_limit, electrified=s.electrified,
            tz=zone_of(s.country, lon, lat, zones))
        last = out[-1] if out else None
        if last is not None and (last.country, last.line, last.speed_limit_kmh,
                                 last.electrified, last.tz) == (
                seg.country, seg.line, seg.speed_limit_kmh, seg.electrified, seg.tz):
            out[-1] = ItinerarySegment(last.km_start, seg.km_end, last.country, last.line,
                                       last.speed_limit_kmh, last.electrified, last.tz)
        else:
            out.append(seg)
    return out


def _zones() -> list[dict[str, str]]:
    return read_csv_rows(settings.timezones_file, ZONE_COLUMNS, check=_zone_row, comments=True)


ZONE_COLUMNS = ("country", "min_lat", "max_lat", "min_lon", "max_lon", "tz")


def _zone_row(row: dict[str, str]) -> None:
    for key in ZONE_COLUMNS[1:5]:
        try:
            ok = not row[key] or math.isfinite(float(row[key]))
        except ValueError:
            ok = False
        if not ok:
            msg = f"{key}: expected degrees or nothing, got {row[key]!r}"
            raise ValueError(msg)
    try:
        ZoneInfo(row["tz"])
    except (ValueError, LookupError):
        msg = f"tz: unknown time zone {row['tz']!r} (an IANA name such as Asia/Pyongyang)"
        raise ValueError(msg) from None


def zone_of(country: str, lon: float, lat: float, zones: list[dict[str, str]]) -> str:
    """IANA zone of a place by the first matching row of ``data/timezones.csv``."""
    for z in zones:
        if z["country"] != country:
            continue
        if z["min_lat"] and lat < float(z["min_lat"]):
            continue
        if z["max_lat"] and lat > float(z["max_lat"]):
            continue
        if z["min_lon"] and lon < float(z["min_lon"]):
            continue
        if z["max_lon"] and lon > float(z["max_lon"]):
            continue
        return z["tz"]
    return "UTC"


class _Places:
    """Resolve the place names a scenario uses to km along its route."""

    def __init__(self, scenario: Scenario, route: Route, marks: list[RouteMark],
                 network: RailNetwork) -> None:
        self.route = route
        self.network = network
        self.by_key: dict[str, Place] = {}
        stop_marks = [m for m in marks if m.kind == MarkKind.STOP]
        for spec, mark in zip(scenario.route.stops, stop_marks, strict=False):
            self.by_key.setdefault(normalize_name(spec.at), Place(mark.name, mark.km))
            self.by_key.setdefault(normalize_name(mark.name), Place(mark.name, mark.km))
        self.borders = [m for m in marks if m.kind == MarkKind.BORDER]
        for m in self.borders:
            assert m.countries is not None
            a, b = m.countries
            self.by_key.setdefault(normalize_name(f"border {a}-{b}"), Place(m.name, m.km))
        for m in marks:
            if m.kind == MarkKind.GAUGE_CHANGE:
                self.by_key.setdefault(normalize_name(f"gauge change {m.name}"),
                                       Place(m.name, m.km))

    def find(self, name: str) -> Place:
        key = normalize_name(name)
        if key in self.by_key:
            return self.by_key[key]
        if key.startswith("border "):
            have = ", ".join(f"border {m.countries[0]}-{m.countries[1]}"
                             for m in self.borders if m.countries) or "none"
            msg = f"the route has no crossing '{name}' (its crossings: {have})"
            raise LookupError(msg)
        station = self.network.stations.find(name)  # StationNotFoundError names close matches
        for m in self.route.marks:
            if m.node == station.node and m.kind in (MarkKind.STOP, MarkKind.STATION):
                return Place(m.name, m.km)
        msg = f"'{name}' ({station.label}) is a known station but the route does not pass it"
        raise LookupError(msg)


def _find(scenario: Scenario, places: _Places, loc: tuple[str | int, ...], name: str) -> Place:
    try:
        return places.find(name)
    except (LookupError, StationNotFoundError) as exc:
        raise scenario.error(loc, str(exc)) from None


def _route(scenario: Scenario, network: RailNetwork) -> Route:
    names = [s.at for s in scenario.route.stops]
    for i, name in enumerate(names):
        try:
            network.stations.find(name)
        except StationNotFoundError as exc:
            raise scenario.error(("route", "stops", i, "at"), str(exc)) from None
        if i and normalize_name(name) == normalize_name(names[i - 1]):
            raise scenario.error(("route", "stops", i, "at"),
                                 f"'{name}' follows itself: stops must be different places")
    for key in ("gauge_change_at", "reverse_at"):
        for i, name in enumerate(getattr(scenario.route, key)):
            try:
                network.stations.find(name)
            except StationNotFoundError as exc:
                raise scenario.error(("route", key, i), str(exc)) from None

    def route_of(stops: list[str]) -> Route:
        return find_route(network, stops, gauge=scenario.route.gauge,
                          gauge_change_at=scenario.route.gauge_change_at,
                          reverse_at=scenario.route.reverse_at,
                          allow_detours=scenario.route.allow_detours)

    try:
        route = route_of(names)
    except RouteNotFoundError as exc:
        _explain_order(scenario, network, names, route_of)
        raise scenario.error(("route", "stops"), str(exc)) from None
    # a stop the train already passed close by on the way to the stop before it is out of order
    stops = route.marks_of(MarkKind.STOP)
    reversing = {network.stations.find(r).node for r in scenario.route.reverse_at}
    for k in range(2, len(stops)):
        if any(st.node in reversing for st in stops[1:k]):
            break  # after a reversal the train legitimately runs back past earlier places
        st = network.stations.find(names[k])
        before = [s for s in route.segments if s.km_end <= stops[k - 1].km + 1e-6]
        lon = np.array([c[0] for s in before for c in s.coords])
        lat = np.array([c[1] for s in before for c in s.coords])
        km_at = np.array([s.km_start for s in before for _ in s.coords])
        dist = np.hypot((lon - st.lon) * math.cos(math.radians(st.lat)), lat - st.lat) * 111.2
        if len(dist) and np.min(dist) < PASSED_KM:
            msg = (f"stops in an impossible order: '{names[k]}' lies between '{names[k - 2]}' "
                   f"and '{names[k - 1]}' (passed near km {km_at[np.argmin(dist)]:,.0f}); the "
                   f"route would come back to it, {route.length_km:,.0f} km in all; list it "
                   f"before '{names[k - 1]}'")
            raise scenario.error(("route", "stops", k, "at"), msg)
    return route


def _explain_order(scenario: Scenario, network: RailNetwork, names: list[str],
                   route_of: Callable[[list[str]], Route]) -> None:
    """If a stop that cannot be reached was passed on the way to the one before, say so."""
    for k in range(3, len(names) + 1):
        try:
            route_of(names[:k])
        except RouteNotFoundError:
            try:
                before = route_of(names[:k - 1])
            except RouteNotFoundError:
                return
            node = network.stations.find(names[k - 1]).node
            passed = [m for m in before.marks if m.node == node]
            if passed:
                msg = (f"stops in an impossible order: '{names[k - 1]}' lies between "
                       f"'{names[k - 3]}' and '{names[k - 2]}' (km {passed[0].km:,.0f} of "
                       f"{before.length_km:,.0f}), and the train cannot reverse to reach it "
                       f"afterwards; list it before '{names[k - 2]}'")
                raise scenario.error(("route", "stops", k - 1, "at"), msg) from None
            return
