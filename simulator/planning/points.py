"""Stage 3 of planning: the points along the route at which each replication's times are kept.

Every place the outputs name gets a :class:`RoutePoint`: the origin and destination, the route's
via stops, border crossings and gauge changes, the places of halts and of reported times, and the
stations passed. Places less than :data:`MERGE_KM` apart are one point. Unnamed filler points
keep consecutive points at most :data:`FILLER_KM` apart, so that the string-line chart follows
the journey between sparse places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from simulator.network.stations import normalize_name
from simulator.planning.itinerary import Itinerary, MarkKind
from simulator.planning.traction import Traction

__all__ = ["FILLER_KM", "MERGE_KM", "PointKind", "RoutePoint", "route_points"]

#: places closer than this are one point
MERGE_KM = 0.05
#: largest distance between consecutive points
FILLER_KM = 50.0


class PointKind(StrEnum):
    """What a route point is (the first of these that applies names it)."""

    ORIGIN = "origin"
    DESTINATION = "destination"
    STOP = "stop"  # a via stop of the scenario's route
    BORDER = "border"
    GAUGE_CHANGE = "gauge_change"
    PLACE = "place"  # where a halt or a reported time is, when no mark is there
    STATION = "station"  # a station passed
    FILLER = "filler"  # unnamed, for charts only


@dataclass(frozen=True)
class RoutePoint:
    km: float
    name: str
    kind: PointKind
    detail: str = ""


_RANK = {k: i for i, k in enumerate(PointKind)}


def route_points(itinerary: Itinerary, traction: Traction) -> list[RoutePoint]:
    """The points of ``itinerary`` whose times each replication keeps, in km order."""
    length = itinerary.length_km
    major: list[RoutePoint] = [RoutePoint(0.0, itinerary.stops[0], PointKind.ORIGIN),
                               RoutePoint(length, itinerary.stops[-1], PointKind.DESTINATION)]
    for m in itinerary.marks:
        if m.kind == MarkKind.STATION:
            continue
        kind = {MarkKind.STOP: PointKind.STOP, MarkKind.BORDER: PointKind.BORDER,
                MarkKind.GAUGE_CHANGE: PointKind.GAUGE_CHANGE}[m.kind]
        major.append(RoutePoint(m.km, m.name, kind, m.detail))
    for h in traction.halts:
        major.append(RoutePoint(h.km, h.place, PointKind.PLACE))
    for place in [*itinerary.reported_places.values(), *itinerary.leg_places.values()]:
        major.append(RoutePoint(place.km, place.name, PointKind.PLACE))
    # merge places closer than MERGE_KM: the first in km order keeps its km, the best kind names it
    major.sort(key=lambda p: (p.km, _RANK[p.kind]))
    merged: list[RoutePoint] = []
    for p in major:
        last = merged[-1] if merged else None
        if last is not None and p.km - last.km <= MERGE_KM:
            if _RANK[p.kind] < _RANK[last.kind]:
                merged[-1] = RoutePoint(last.km, p.name, p.kind, p.detail or last.detail)
            continue
        merged.append(p)
    merged[0] = RoutePoint(0.0, merged[0].name, PointKind.ORIGIN)
    merged[-1] = RoutePoint(length, itinerary.stops[-1], PointKind.DESTINATION)
    names_near = {(normalize_name(p.name), round(p.km, 1)) for p in merged}
    stations = [RoutePoint(m.km, m.name, PointKind.STATION)
                for m in itinerary.marks_of(MarkKind.STATION)
                if (normalize_name(m.name), round(m.km, 1)) not in names_near
                and 0.0 < m.km < length]
    points = sorted([*merged, *stations], key=lambda p: (p.km, _RANK[p.kind]))
    out: list[RoutePoint] = [points[0]]
    for p in points[1:]:
        gap = p.km - out[-1].km
        pieces = math.ceil(gap / FILLER_KM)
        for k in range(1, pieces):
            out.append(RoutePoint(out[-1].km + (p.km - out[-1].km) / (pieces - k + 1), "",
                                  PointKind.FILLER))
        out.append(p)
    return out
