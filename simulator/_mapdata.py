"""What the maps and the exports show of a journey, computed once for all of them.

* the route merged into a few lines (one per country, line and kind of geometry);
* the places with events (stops, borders, halts, reported points, stations passed), where events
  at one spot are merged into one place;
* the train's simulated median position over time, frame by frame, with the nearest station,
  the local time zone and what the train is doing (running, or halted and why).

The interactive map (:mod:`simulator.maps`) and the GeoPackage/KML exports
(:mod:`simulator.exports`) all draw from these, so they agree with each other.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from simulator import settings
from simulator.network.stations import normalize_name
from simulator.plan import JourneyPlan
from simulator.reports import Analysis, timeline_rows
from simulator.routing import Mark, MarkKind, Route

__all__ = [
    "COUNTRY_COLOURS", "COUNTRY_NAMES", "EVENT_LABELS", "Place", "RouteLine", "Track", "cities",
    "coords_along", "median_track", "places", "route_lines", "short_cause", "zone_label",
]

#: route colours by country (ISO code); chosen apart from each other and from the train (black)
COUNTRY_COLOURS = {"KP": "#c0392b", "CN": "#d68910", "RU": "#2471a3", "VN": "#1e8449",
                   "MN": "#7d3c98", "KR": "#16a085", "?": "#777777"}
COUNTRY_NAMES = {"KP": "North Korea", "CN": "China", "RU": "Russia", "VN": "Vietnam",
                 "MN": "Mongolia", "KR": "South Korea", "?": "unknown country"}
#: how an event of the timeline reads on a map
EVENT_LABELS = {
    "depart": "departs", "arrive": "arrives", "pass": "passes", "station": "passes",
    "border": "border crossing", "gauge_change": "gauge change", "ceremony": "ceremony",
    "locomotive_change": "locomotive change", "stop": "stop", "road_arrive": "arrives by road",
}
#: zones named the way readers know them (others: the IANA city)
_ZONE_NAMES = {"Asia/Shanghai": "Beijing time", "Asia/Pyongyang": "Pyongyang time",
               "Asia/Ho_Chi_Minh": "Hanoi time", "Asia/Vladivostok": "Vladivostok time",
               "Asia/Yakutsk": "Yakutsk time", "Asia/Seoul": "Seoul time",
               "Europe/Moscow": "Moscow time", "UTC": "UTC"}
#: events this close together (km) are one place on the map
SAME_PLACE_KM = 0.6
#: a halt shorter than this is not worth showing as one
MIN_HALT_S = 60.0

# category of a place, most important first: it decides the marker and the drawing order
CATEGORIES = ("stop", "border", "halt", "reported", "pass", "station")
_HALT_KINDS = {"gauge_change", "locomotive_change", "ceremony", "stop", "night_halt"}


def zone_label(tz: str) -> str:
    """A reader's name for an IANA zone: ``Pyongyang time``."""
    if tz in _ZONE_NAMES:
        return _ZONE_NAMES[tz]
    return tz.rsplit("/", 1)[-1].replace("_", " ") + " time" if tz else "UTC"


def short_cause(cause: str) -> str:
    """A halt's cause without its provenance or the scenario's note on it: ``bogie exchange
    1435 → 1520 mm``, ``locomotive change to EP1 passenger electric, 25 kV AC (Russian
    Railways)``."""
    for marker in (" (assumption", " (source", "; assumed", " (journeys.md", "; "):
        cause = cause.split(marker, 1)[0]
    return cause.strip().rstrip(";,")


def coords_along(route: Route) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A function km (scalar or array) → (lat, lon) along the route geometry."""
    lon_a, lat_a, km_a = route.vertices

    def at(km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.interp(km, km_a, lat_a), np.interp(km, km_a, lon_a)

    return at


# ----------------------------------------------------------------------------------------------
# the route
# ----------------------------------------------------------------------------------------------
@dataclass
class RouteLine:
    """Route segments of one country and line (and kind of geometry), merged."""

    country: str
    line: str
    approximate: bool
    parts: list[np.ndarray]  # (k, 2) lon, lat per continuous run
    km_ranges: list[tuple[float, float]]
    gauges: set[int] = field(default_factory=set)
    electrified: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)

    @property
    def length_km(self) -> float:
        return sum(b - a for a, b in self.km_ranges)

    @property
    def colour(self) -> str:
        return COUNTRY_COLOURS.get(self.country, COUNTRY_COLOURS["?"])

    def describe(self) -> str:
        ranges = ", ".join(f"km {a:,.0f}–{b:,.0f}" for a, b in self.km_ranges)
        kind = " (approximate geometry: straight lines between listed stations)" \
            if self.approximate else ""
        return (f"{self.line or 'unnamed line'}, {COUNTRY_NAMES.get(self.country, self.country)}"
                f": {ranges}{kind}")


def route_lines(route: Route, *, tolerance_deg: float = 0.0002) -> list[RouteLine]:
    """The route as a few merged lines: one per (country, line, approximate), in route order.

    Consecutive segments of one key become one run (a part); the geometry is simplified by
    ``tolerance_deg`` (~20 m by default, finer than a map of the corridor can show).
    """
    out: dict[tuple[str, str, bool], RouteLine] = {}
    run: list[tuple[float, float]] = []
    key: tuple[str, str, bool] | None = None
    start = 0.0

    def close(end: float) -> None:
        if key is None or len(run) < 2:
            return
        line = out.setdefault(key, RouteLine(key[0], key[1], key[2], [], []))
        # from an array: a list of tuples costs shapely a Python call per coordinate
        xy = np.asarray(shapely.simplify(shapely.LineString(np.asarray(run, dtype=float)),
                                         tolerance_deg).coords)
        line.parts.append(xy)
        line.km_ranges.append((start, end))

    for s in route.segments:
        k = (s.country or "?", s.line or "", bool(s.approximate))
        if k != key:
            close(s.km_start)
            key, run, start = k, [], s.km_start
        coords = list(s.coords)
        run.extend(coords[1:] if run and run[-1] == coords[0] else coords)
        line = out.get(k)
        if line is None:
            line = out.setdefault(k, RouteLine(k[0], k[1], k[2], [], []))
        line.gauges.update(s.gauges)
        if s.electrified:
            line.electrified.add(str(s.electrified))
        line.sources.add(s.source)
    close(route.length_km)
    return [v for v in out.values() if v.parts]


# ----------------------------------------------------------------------------------------------
# places with events
# ----------------------------------------------------------------------------------------------
@dataclass
class Place:
    """One spot on the map and every timeline event there."""

    name: str
    km: float
    lat: float
    lon: float
    category: str  # one of CATEGORIES
    rows: list[dict[str, Any]]  # timeline rows (reports.timeline_rows) at this spot

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(r["place"] for r in self.rows))

    @property
    def reported(self) -> list[str]:
        return list(dict.fromkeys(r["reported"] for r in self.rows if r["reported"]))

    @property
    def minor(self) -> bool:
        return self.category == "station"

    def events(self) -> list[dict[str, Any]]:
        """The rows without repeats (the same event at the same time), in time order: at one
        moment arrivals and passes first, departures last."""
        seen: set[tuple[str, str, str]] = set()
        out = []
        first = {"arrive": 0, "pass": 0, "station": 0, "depart": 2}
        for r in sorted(self.rows, key=lambda r: (r["median_utc"], first.get(r["event"], 1))):
            kind = "pass" if r["event"] == "station" else r["event"]
            key = (r["place"], kind, r["median_utc"])
            if key not in seen:
                seen.add(key)
                out.append(r)
        return out


def _category(row: dict[str, Any], stop_names: set[str]) -> str:
    if row["event"] in ("depart", "arrive", "pass") and normalize_name(row["place"]) in stop_names:
        return "stop"
    if row["event"] == "border":
        return "border"
    if row["event"] in _HALT_KINDS:
        return "halt"
    if row["reported"]:
        return "reported"
    return "pass" if row["event"] != "station" else "station"


def places(result: Analysis) -> list[Place]:
    """Timeline rows grouped by spot (events within ``SAME_PLACE_KM`` of each other).

    Rows without a position on the route (the road leg) are left out.
    """
    route: Route = result.prepared.route
    stop_names = {normalize_name(n) for n in route.stops}
    stop_names |= {normalize_name(m.name) for m in route.marks_of("stop")}
    at = coords_along(route)
    rows = [r for r in timeline_rows(result) if r["km"] != ""]
    km = np.array([float(r["km"]) for r in rows])
    lat, lon = at(km)
    groups: list[Place] = []
    grid: dict[tuple[int, int], list[int]] = {}
    cell = SAME_PLACE_KM / 111.0  # degrees of latitude
    # important rows first, so that a place is named after its most important event
    order = sorted(range(len(rows)), key=lambda i: (
        CATEGORIES.index(_category(rows[i], stop_names)), km[i]))
    for i in order:
        cx, cy = int(lon[i] / cell), int(lat[i] / cell)
        found = None
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for g in grid.get((cx + dx, cy + dy), ()):
                    p = groups[g]
                    d = math.hypot((p.lon - lon[i]) * math.cos(math.radians(p.lat)),
                                   p.lat - lat[i]) * 111.2
                    if d <= SAME_PLACE_KM and (found is None or d < found[1]):
                        found = (g, d)
        if found is not None:
            groups[found[0]].rows.append(rows[i])
            continue
        grid.setdefault((cx, cy), []).append(len(groups))
        groups.append(Place(rows[i]["place"], float(km[i]), float(lat[i]), float(lon[i]),
                            _category(rows[i], stop_names), [rows[i]]))
    for p in groups:  # a reported time promotes a place above plain passes
        if p.category in ("pass", "station") and p.reported:
            p.category = "reported"
    groups.sort(key=lambda p: p.km)
    return groups


# ----------------------------------------------------------------------------------------------
# the train over time
# ----------------------------------------------------------------------------------------------
@dataclass
class Track:
    """The train's simulated median position, one frame per ``step_s`` from departure."""

    epoch: datetime  # UTC: t_s counts from here
    step_s: float
    t_s: np.ndarray
    km: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    tz: list[str]
    offset_s: np.ndarray  # the local UTC offset at each frame
    place: list[str]  # "at X", "12 km past X"
    state: list[str]  # "running, about 60 km/h", "halted: gauge change (…)"
    halted: np.ndarray  # bool
    length_km: float

    def __len__(self) -> int:
        return len(self.t_s)

    def utc(self, i: int) -> datetime:
        """The frame's time, to the second."""
        t = self.epoch + timedelta(seconds=float(self.t_s[i]))
        return t.replace(microsecond=0) + timedelta(seconds=round(t.microsecond / 1e6))


def _step_for(duration_s: float, max_frames: int) -> float:
    for minutes in (5, 10, 15, 20, 30, 60, 120, 240):
        if duration_s / (minutes * 60) <= max_frames:
            return minutes * 60.0
    return duration_s / max_frames


def median_track(result: Analysis, *, max_frames: int = 1200) -> Track:
    """Frames of the train's median position from the median departure to the median arrival.

    Positions come from the median arrival and departure times at every route point (their
    medians stay in order because every replication's do); between points the train moves
    at a constant pace. A frame between the median arrival at and departure from a boundary is
    a halt: a planned halt whose median span covers the frame names its cause; otherwise the
    train waits for the night window to end or for the pilot train ahead.
    """
    prep = result.prepared
    plan = prep.plan
    route: Route = prep.route
    arr = result.mc.quantiles(0.5)[0]
    dep = np.maximum(result.mc.quantiles(0.5, depart=True)[0], arr)
    halt_start = np.median(result.mc.halt_start_s, axis=0) if len(plan.halts) else np.zeros(0)
    halt_end = np.median(result.mc.halt_end_s, axis=0) if len(plan.halts) else np.zeros(0)
    times = np.maximum.accumulate(np.column_stack([arr, dep]).ravel())
    kms = np.repeat(plan.km, 2)
    t0, t1 = float(dep[0]), float(arr[-1])
    step = _step_for(t1 - t0, max_frames)
    t = np.arange(t0, t1, step)
    t = np.append(t, t1)
    km = np.interp(t, times, kms)
    lat, lon = coords_along(route)(km)
    # which point the train is at (halted) or after which point it runs
    b_at = np.searchsorted(dep, t, side="right")  # first boundary not yet left
    halted = (b_at < len(arr)) & (t >= arr[np.minimum(b_at, len(arr) - 1)]) & (
        dep[np.minimum(b_at, len(dep) - 1)] - arr[np.minimum(b_at, len(arr) - 1)] >= MIN_HALT_S)
    marks = sorted((m for m in route.marks
                    if m.kind in (MarkKind.STATION, MarkKind.STOP, MarkKind.BORDER)),
                   key=lambda m: m.km)
    mark_km = np.array([m.km for m in marks]) if marks else np.zeros(0)
    n = plan.n_points - 1
    tz: list[str] = []
    offsets = np.zeros(len(t))
    place: list[str] = []
    state: list[str] = []
    for i, ti in enumerate(t):
        b = int(min(b_at[i], n))
        chunk = min(max(b - (0 if halted[i] else 1), 0), n - 1)
        zone = plan.tz_name[chunk]
        tz.append(zone)
        when = plan.epoch + timedelta(seconds=float(ti))
        off = when.astimezone(ZoneInfo(zone)).utcoffset() if zone else None
        offsets[i] = off.total_seconds() if off is not None else 0.0
        place.append(_near(km[i], marks, mark_km))
        if halted[i]:
            state.append("halted: " + _halt_reason(plan, b, float(ti), halt_start, halt_end,
                                                   offsets[i]))
        else:
            c = max(b - 1, 0)
            run_s = arr[min(c + 1, n)] - dep[c]
            kmh = (plan.km[min(c + 1, n)] - plan.km[c]) / max(run_s, 1.0) * 3600
            state.append(f"running, about {kmh:,.0f} km/h on average over this section")
    if len(t) and not halted[-1]:
        state[-1] = f"arrived at {route.stops[-1]}"
    return Track(plan.epoch.astimezone(UTC), step, t, km, np.asarray(lat), np.asarray(lon), tz,
                 offsets, place, state, np.asarray(halted), route.length_km)


def _near(km: float, marks: list[Mark], mark_km: np.ndarray) -> str:
    if not len(mark_km):
        return f"km {km:,.0f}"
    j = int(np.argmin(np.abs(mark_km - km)))
    d = km - float(mark_km[j])
    if abs(d) < 1.0:
        return f"at {marks[j].name}"
    return f"{abs(d):,.0f} km {'past' if d > 0 else 'before'} {marks[j].name}"


def _halt_reason(plan: JourneyPlan, b: int, t: float, halt_start: np.ndarray, halt_end: np.ndarray,
                 offset_s: float) -> str:
    where = plan.place[b] or f"km {plan.km[b]:,.0f}"
    ks = plan.halts_at.get(b, [])
    for k in ks:
        if halt_start[k] <= t < halt_end[k]:
            h = plan.halts[k]
            return f"{EVENT_LABELS.get(h.kind, h.kind.replace('_', ' '))} at {where} " \
                   f"({short_cause(h.cause)})"
    if ks and t < min(halt_start[k] for k in ks):
        h = plan.halts[ks[0]]
        return f"{EVENT_LABELS.get(h.kind, h.kind)} at {where} ({short_cause(h.cause)})"
    r = plan.night_rule_at(float(plan.km[b]))
    if r >= 0 and plan.night[r].mode == "halt":
        local_min = ((plan.epoch.timestamp() + t + offset_s) / 60.0) % 1440
        if plan.night[r].inside(local_min):
            return f"at {where}: night rule, no running until the window ends"
    if plan.has_pilot:
        return f"at {where}: waiting for the pilot train to clear the line ahead"
    return f"at {where}"


# ----------------------------------------------------------------------------------------------
# cities for labels
# ----------------------------------------------------------------------------------------------
@cache
def _all_cities() -> tuple[tuple[str, str, float, float, int, bool], ...]:
    path = settings.data_dir / "basemap" / "cities.csv"
    if not path.exists():
        return ()
    with path.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return tuple((r["name"], r["country"], float(r["lat"]), float(r["lon"]),
                      int(r["population"]), r["capital"] == "yes") for r in rows)


def cities(bbox: tuple[float, float, float, float]) -> list[tuple[str, str, float, float, int,
                                                                 bool]]:
    """Cities inside ``bbox`` (west, south, east, north), largest first:
    (name, country, lat, lon, population, capital)."""
    w, s, e, n = bbox
    return [c for c in _all_cities() if w <= c[3] <= e and s <= c[2] <= n]
