"""Sightings of the train, for the nowcast: read them, place them on the route, refuse sets that
cannot all be true.

A sighting is a place and a clock time with its zone, optionally what the train was doing and
how uncertain the time is::

    Tianjin 2019-02-24 13:00 +08:00
    stopped at Changsha 2019-02-25 13:10 Asia/Shanghai ±20m
    40.10,124.39 2019-02-23 21:20 +08:00 ±10m

The first words say what the train was doing: ``passing`` (the default; also ``passed``, ``seen
at``), ``stopped at`` (``standing at``, ``halted at``), ``arrived at`` (``reached``) or ``left``
(``departed``). The place is a station name (any name the station index knows, or a place the
scenario names, such as ``border KP-CN``) or ``lat,lon`` in degrees. A point off the route is
snapped to the nearest point of the route and the distance is reported; one farther than
:data:`SNAP_MAX_KM` is refused. The time must carry an offset (``+08:00``) or a zone name; the
uncertainty (``±20m``, ``+-1h``) defaults to the scenario's ``nowcast.uncertainty_min`` or
:data:`DEFAULT_UNCERTAINTY_MIN`.

A set of sightings is impossible when, in route order, a later place is seen earlier, or when
the time between two of them is shorter than the train's fastest run between them (at its top
speed, on the line's limits), even with each time moved by three times its uncertainty.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from simulator._io import read_csv_rows
from simulator.errors import DataFileError, SightingError, StationNotFoundError
from simulator.network.graph import RailNetwork
from simulator.network.stations import normalize_name
from simulator.parameters import ParameterKind
from simulator.plan import JourneyPlan
from simulator.routing import Route
from simulator.scenario import parse_clock_time

__all__ = [
    "DEFAULT_UNCERTAINTY_MIN", "SNAP_MAX_KM", "PlacedSighting", "Sighting", "SightingKind",
    "check_sightings", "fastest_pace", "fastest_running_s", "parse_sighting", "parse_uncertainty",
    "place_sightings", "read_sightings",
]

#: a place farther than this from the route is not a sighting of this train
SNAP_MAX_KM = 5.0
#: uncertainty of a sighting's time when neither the sighting nor the scenario gives one
DEFAULT_UNCERTAINTY_MIN = 15.0
#: an impossible pair must stay impossible with each time moved by this many uncertainties
IMPOSSIBLE_SIGMAS = 3.0


class SightingKind(StrEnum):
    """What the train was doing when it was seen."""

    PASSING = "passing"  # running through: the time it passed (its arrival, where it halts)
    STOPPED = "stopped"  # standing there: the time lies between its arrival and departure
    ARRIVED = "arrived"  # the time it arrived
    DEPARTED = "departed"  # the time it left


#: leading words and what they say (longest first, so that "arrived at" wins over "arrived")
_KIND_WORDS: tuple[tuple[str, SightingKind], ...] = tuple(sorted((
    ("passing", SightingKind.PASSING), ("passing through", SightingKind.PASSING),
    ("passed", SightingKind.PASSING), ("passed through", SightingKind.PASSING),
    ("seen at", SightingKind.PASSING), ("seen passing", SightingKind.PASSING),
    ("stopped at", SightingKind.STOPPED), ("standing at", SightingKind.STOPPED),
    ("halted at", SightingKind.STOPPED), ("stopped in", SightingKind.STOPPED),
    ("arrived at", SightingKind.ARRIVED), ("arrived in", SightingKind.ARRIVED),
    ("arriving at", SightingKind.ARRIVED), ("reached", SightingKind.ARRIVED),
    ("left", SightingKind.DEPARTED), ("departed", SightingKind.DEPARTED),
    ("departed from", SightingKind.DEPARTED), ("leaving", SightingKind.DEPARTED),
), key=lambda kv: -len(kv[0])))
#: the order of events at one place
_KIND_RANK = {SightingKind.ARRIVED: 0, SightingKind.STOPPED: 1, SightingKind.PASSING: 1,
              SightingKind.DEPARTED: 2}
_KIND_TEXT = {SightingKind.PASSING: "passing", SightingKind.STOPPED: "stopped at",
              SightingKind.ARRIVED: "arrived at", SightingKind.DEPARTED: "left"}

_TIME_START = re.compile(r"(?:^|\s)(\d{4}-\d{2}-\d{2}[ T]\d{1,2}:\d{2}\b.*)$")
_UNCERTAINTY = re.compile(
    r"(?:±|\+/-|\+-)\s*(\d+(?:\.\d+)?)\s*(m|min|mins|minutes?|h|hr|hours?)?\s*$", re.IGNORECASE)
_LAT_LON = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*,\s*([-+]?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Sighting:
    """A sighting as given, before it is placed on a route.

    ``earliest`` and ``latest`` bound the reported time (the same for a single time; a range
    for reported times such as "21:20–21:40"); ``uncertainty_s`` is the error of the reported
    time on top of that (one standard deviation of a normal error).
    """

    place: str
    earliest: datetime
    latest: datetime
    uncertainty_s: float
    kind: SightingKind = SightingKind.PASSING
    origin: str = ""  # where it was given, for messages: "--seen 'Tianjin …'", "file.csv:3"

    @property
    def lat_lon(self) -> tuple[float, float] | None:
        m = _LAT_LON.match(self.place)
        return (float(m[1]), float(m[2])) if m else None

    def describe(self) -> str:
        """``passing Tianjin at 2019-02-24 13:00 +08:00 ±15 min``."""
        when = _clock(self.earliest)
        if self.latest != self.earliest:
            when += "–" + _clock(self.latest, date=self.latest.date() != self.earliest.date())
        return (f"{_KIND_TEXT[self.kind]} {self.place} at {when} "
                f"±{_duration(self.uncertainty_s)}")


@dataclass(frozen=True)
class PlacedSighting:
    """A sighting at a km of the route.

    Attributes
    ----------
    km
        Position along the route.
    name
        How the outputs name the place (a station's name, or the coordinates).
    snap_km
        Distance from the given place to the route (0 for a station or mark on the route).
    lat, lon
        The point of the route the sighting is taken at.
    note
        How the place was found on the route.
    """

    sighting: Sighting
    km: float
    name: str
    snap_km: float
    lat: float
    lon: float
    note: str = ""

    @property
    def kind(self) -> SightingKind:
        return self.sighting.kind

    @property
    def uncertainty_s(self) -> float:
        return self.sighting.uncertainty_s

    def window_s(self, epoch: datetime) -> tuple[float, float]:
        """The reported time range in seconds after ``epoch``."""
        return ((self.sighting.earliest - epoch).total_seconds(),
                (self.sighting.latest - epoch).total_seconds())


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------
def parse_uncertainty(text: str) -> float:
    """``±20m``, ``20 min``, ``1.5h``, ``20`` (minutes) → seconds."""
    t = text.strip()
    m = _UNCERTAINTY.fullmatch(t) or _UNCERTAINTY.fullmatch("±" + t)
    if not m:
        msg = f"uncertainty {text!r}: expected minutes or hours such as '±20m' or '±1h'"
        raise ValueError(msg)
    value = float(m[1])
    hours = (m[2] or "m").lower().startswith("h")
    seconds = value * (3600.0 if hours else 60.0)
    if not 0 < seconds <= 24 * 3600:
        msg = f"uncertainty {text!r}: expected more than 0 and at most 24 h"
        raise ValueError(msg)
    return seconds


def parse_sighting(text: str, *, default_uncertainty_min: float = DEFAULT_UNCERTAINTY_MIN,
                   origin: str = "") -> Sighting:
    """Read ``[passing|stopped at|arrived at|left] PLACE TIME [±N(m|h)]``.

    Raises
    ------
    SightingError
        One line naming ``origin`` and what was expected.
    """
    where = origin or f"sighting {text!r}"
    body = " ".join(text.split())
    kind = SightingKind.PASSING
    low = body.lower()
    for words, k in _KIND_WORDS:
        if low.startswith(words + " "):
            kind, body = k, body[len(words) + 1:]
            break
    uncertainty_s = default_uncertainty_min * 60.0
    m = _UNCERTAINTY.search(body)
    if m:
        try:
            uncertainty_s = parse_uncertainty(m[0])
        except ValueError as exc:
            raise SightingError(f"{where}: {exc}") from None
        body = body[:m.start()].rstrip()
    found = _TIME_START.search(body)
    if not found:
        msg = (f"{where}: expected 'PLACE TIME' with the time as 'YYYY-MM-DD HH:MM' and its zone, "
               "e.g. 'Tianjin 2019-02-24 13:00 +08:00'")
        raise SightingError(msg)
    place = body[:found.start(1)].strip()
    if not place:
        msg = f"{where}: no place before the time (a station name or 'lat,lon')"
        raise SightingError(msg)
    stamp = found[1].strip()
    try:
        when = parse_clock_time(stamp)
    except ValueError as exc:
        reason = str(exc)
        if "no time zone" in reason:
            reason = (f"the time '{stamp}' has no zone; add an offset or a zone name, e.g. "
                      f"'{stamp} +08:00' or '{stamp} Asia/Shanghai'")
        raise SightingError(f"{where}: {reason}") from None
    ll = _LAT_LON.match(place)
    if ll and not (-90 <= float(ll[1]) <= 90 and -180 <= float(ll[2]) <= 180):
        msg = f"{where}: '{place}' is not 'lat,lon' in degrees (latitude ±90, longitude ±180)"
        raise SightingError(msg)
    return Sighting(place, when, when, uncertainty_s, kind, where)


#: columns of a sightings file (``uncertainty`` and ``kind`` may be left out)
SIGHTING_COLUMNS = ("place", "time")


def read_sightings(path: Path, *, default_uncertainty_min: float = DEFAULT_UNCERTAINTY_MIN
                   ) -> list[Sighting]:
    """Read a CSV of sightings: ``place,time[,uncertainty][,kind]``, one per line.

    Raises
    ------
    SightingError
        Naming the file and line.
    """
    out: list[Sighting] = []

    def check(row: dict[str, str]) -> None:
        kind = (row.get("kind") or "passing").strip().lower()
        words = dict(_KIND_WORDS) | {k.value: k for k in SightingKind}
        if kind not in words:
            msg = (f"kind: expected passing, stopped, arrived or left, got "
                   f"{row.get('kind')!r}")
            raise ValueError(msg)
        unc = (row.get("uncertainty") or "").strip()
        text = f"{row['place'].strip()} {row['time'].strip()}" + (
            f" ±{unc.lstrip('±')}" if unc else "")
        try:
            s = parse_sighting(text, default_uncertainty_min=default_uncertainty_min,
                               origin="x")
        except SightingError as exc:
            raise ValueError(str(exc).removeprefix("x: ")) from None
        out.append(Sighting(s.place, s.earliest, s.latest, s.uncertainty_s, words[kind], ""))

    try:
        rows = read_csv_rows(path, SIGHTING_COLUMNS, check=check, comments=True)
    except DataFileError as exc:
        raise SightingError(str(exc)) from None
    if not rows:
        msg = f"{path}: no sightings (expected a header 'place,time' and one row per sighting)"
        raise SightingError(msg)
    return [Sighting(s.place, s.earliest, s.latest, s.uncertainty_s, s.kind, f"{path} row {i}")
            for i, s in enumerate(out, 1)]


# ----------------------------------------------------------------------------------------------
# placing on the route
# ----------------------------------------------------------------------------------------------
class _RouteLine:
    """The route's geometry as vertices with their km, for snapping points to it."""

    def __init__(self, route: Route) -> None:
        self.lon, self.lat, self.km = route.vertices

    def snap(self, lat: float, lon: float) -> tuple[float, float, float, float]:
        """(km along the route, distance in km, lat, lon) of the route's nearest point."""
        kx = 111.32 * math.cos(math.radians(lat))
        ky = 110.57
        x, y = (self.lon - lon) * kx, (self.lat - lat) * ky
        ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
        dx, dy = bx - ax, by - ay
        len2 = dx * dx + dy * dy
        t = np.clip(-(ax * dx + ay * dy) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
        px, py = ax + t * dx, ay + t * dy
        d = np.hypot(px, py)
        i = int(np.argmin(d))
        f = float(t[i])
        km = float(self.km[i] + f * (self.km[i + 1] - self.km[i]))
        return (km, float(d[i]), float(self.lat[i] + f * (self.lat[i + 1] - self.lat[i])),
                float(self.lon[i] + f * (self.lon[i + 1] - self.lon[i])))

    def at(self, km: float) -> tuple[float, float]:
        return float(np.interp(km, self.km, self.lat)), float(np.interp(km, self.km, self.lon))


def place_sightings(sightings: Sequence[Sighting], route: Route, network: RailNetwork
                    ) -> list[PlacedSighting]:
    """Find each sighting's km on ``route``.

    A name is looked up among the route's border crossings (``border KP-CN``) and stops, then in
    the network's station index; a station the route passes is taken at its km, any other
    station and any ``lat,lon`` at the nearest point of the route.

    Raises
    ------
    SightingError
        An unknown place, or one farther than :data:`SNAP_MAX_KM` from the route.
    """
    line = _RouteLine(route)
    out = []
    for s in sightings:
        out.append(_place(s, route, network, line))
    return out


def _place(s: Sighting, route: Route, network: RailNetwork, line: _RouteLine
           ) -> PlacedSighting:
    key = normalize_name(s.place)
    ll = s.lat_lon
    if ll is None:
        for m in route.marks:
            names = {normalize_name(m.name)}
            if m.kind == "border" and "→" in m.detail:
                a, b = (x.strip() for x in m.detail.split("→"))
                names.add(normalize_name(f"border {a}-{b}"))
            if key in names and m.kind in ("border", "stop", "gauge_change"):
                lat, lon = line.at(m.km)
                return PlacedSighting(s, m.km, m.name, 0.0, lat, lon, f"{m.kind} at km "
                                      f"{m.km:,.1f}")
        if key.startswith("border "):
            have = ", ".join(f"border {m.detail.replace(' → ', '-')}"
                             for m in route.marks if m.kind == "border") or "none"
            msg = f"{s.origin}: the route has no crossing '{s.place}' (its crossings: {have})"
            raise SightingError(msg)
        try:
            station = network.stations.find(s.place)
        except StationNotFoundError as exc:
            raise SightingError(f"{s.origin}: {exc}") from None
        for m in route.marks:
            if m.node == station.node and m.kind in ("stop", "station"):
                lat, lon = line.at(m.km)
                return PlacedSighting(s, m.km, station.label, 0.0, lat, lon,
                                      f"station on the route at km {m.km:,.1f}")
        km, dist, lat, lon = line.snap(station.lat, station.lon)
        name, given = station.label, f"'{s.place}' ({station.label})"
    else:
        km, dist, lat, lon = line.snap(*ll)
        name, given = f"{ll[0]:.4f},{ll[1]:.4f}", f"{ll[0]:.4f},{ll[1]:.4f}"
    near = _nearest_mark(route, km)
    if dist > SNAP_MAX_KM:
        msg = (f"{s.origin}: {given} lies {dist:,.1f} km from the route (nearest point: km "
               f"{km:,.0f}, {near}); a sighting must be within {SNAP_MAX_KM:g} km of it")
        raise SightingError(msg)
    return PlacedSighting(s, km, name, dist, lat, lon,
                          f"snapped {dist:,.1f} km to the route at km {km:,.1f} ({near})")


def _nearest_mark(route: Route, km: float) -> str:
    marks = [m for m in route.marks if m.kind in ("station", "stop", "border")]
    if not marks:
        return f"km {km:,.0f}"
    m = min(marks, key=lambda m: abs(m.km - km))
    d = km - m.km
    if abs(d) < 0.5:
        return f"at {m.name}"
    return f"{abs(d):,.1f} km {'past' if d > 0 else 'before'} {m.name}"


# ----------------------------------------------------------------------------------------------
# consistency
# ----------------------------------------------------------------------------------------------
def fastest_running_s(plan: JourneyPlan, km_a: float, km_b: float, *, pace: float = 1.0
                      ) -> float:
    """The shortest running time from ``km_a`` to ``km_b``: the train at the top of the plan's
    grid of speed caps (its own top speed and the lines' limits still apply), no halts."""

    n_caps = sum(1 for s in plan.parameters if s.kind == ParameterKind.CAP)
    caps = np.full((1, n_caps), float(plan.grid_kmh[-1]))
    g0, w1 = plan.cap_weights(caps)
    c = plan.cum_at(np.array([km_a, km_b], dtype=float), np.zeros(2, dtype=int), g0, w1)
    return max(float(c[1] - c[0]), 0.0) * pace


def fastest_pace(plan: JourneyPlan) -> float:
    """The fastest trip pace a sighting may imply before it is impossible (at most 1).

    The pace factor multiplies every running time of a trip (:mod:`simulator.parameters`).
    Without a calibration its column is drawn from the scenario's rules: their lowest value
    (1: the speed profile). With one (:attr:`JourneyPlan.calibration`), a new trip runs
    ``exp(σ z)`` times the profile: the pace beaten by the same share of trips as a time moved
    by :data:`IMPOSSIBLE_SIGMAS` uncertainties, Φ(−3) ≈ 0.13 %, over the posterior's σ.
    """
    specs = [(c, s) for c, s in enumerate(plan.parameters) if s.kind == ParameterKind.PACE]
    if not specs:
        return 1.0
    c, spec = specs[0]
    low = spec.default.support[0]
    cal = plan.calibration
    if cal is not None and any(col == c for col, _, _ in cal.targets(plan.parameters)):
        floor = cal.pace_floor(float(ndtr(-IMPOSSIBLE_SIGMAS)))
        if floor is not None:
            low = floor
    return min(float(low), 1.0)


def check_sightings(placed: Sequence[PlacedSighting], plan: JourneyPlan, *,
                    origin: str, destination: str, min_pace: float = 1.0,
                    depart_s: tuple[float, float] | None = None) -> list[PlacedSighting]:
    """The sightings in route order; raise :class:`SightingError` when they cannot all be true.

    Two sightings are impossible together when the later place along the route is seen before
    the earlier one, or when the time between them is shorter than the train's fastest run
    (:func:`fastest_running_s` × ``min_pace``, :func:`fastest_pace`), each even with its time
    moved by :data:`IMPOSSIBLE_SIGMAS` uncertainties. ``depart_s`` (the departure window,
    seconds after the plan's epoch) acts as a first sighting at the origin.
    """
    order = sorted(placed, key=lambda p: (p.km, _KIND_RANK[p.kind], p.sighting.earliest))
    epoch = plan.epoch

    def bounds(p: PlacedSighting) -> tuple[float, float]:
        lo, hi = p.window_s(epoch)
        slack = IMPOSSIBLE_SIGMAS * p.uncertainty_s
        return lo - slack, hi + slack

    if depart_s is not None:
        for p in order:
            if p.km <= 0.5:
                continue
            need = fastest_running_s(plan, 0.0, p.km, pace=min_pace)
            if bounds(p)[1] < depart_s[0] + need:
                earliest = epoch + timedelta(seconds=depart_s[0])
                msg = (f"{p.sighting.origin}: {p.name} (km {p.km:,.0f}) at "
                       f"{_clock(p.sighting.latest)} is impossible: the train leaves {origin} "
                       f"at {_clock(earliest.astimezone(p.sighting.latest.tzinfo))} at the "
                       f"earliest and needs at least {_duration(need)} to get there")
                raise SightingError(msg)
    fastest = "its top speed" + (
        f" and the fastest trip pace allowed (×{min_pace:.2f} the running times)"
        if min_pace < 1 else "")
    for a, b in itertools.pairwise(order):
        a_lo, _ = bounds(a)
        _, b_hi = bounds(b)
        need = fastest_running_s(plan, a.km, b.km, pace=min_pace) if b.km > a.km else 0.0
        if b_hi - a_lo >= need:
            continue
        ta, tb = a.sighting.earliest, b.sighting.latest
        slack = (f" (allowing {IMPOSSIBLE_SIGMAS:g}× each sighting's uncertainty, "
                 f"±{_duration(a.uncertainty_s)} and ±{_duration(b.uncertainty_s)})")
        if b.km - a.km < 0.5 or tb <= ta:
            what = ("at the same place" if b.km - a.km < 0.5 else
                    f"{b.km - a.km:,.0f} km further along the line to {destination}")
            msg = (f"sightings out of order: {b.sighting.describe()} ({b.sighting.origin}) is "
                   f"{what} than {a.sighting.describe()} ({a.sighting.origin}) but "
                   f"{'no later' if tb >= ta else 'earlier'}; the train runs {origin} → "
                   f"{destination}{slack}")
        else:
            gap = (tb - ta).total_seconds()
            msg = (f"sightings impossible together: {a.name} (km {a.km:,.0f}) at {_clock(ta)} "
                   f"and {b.name} (km {b.km:,.0f}) at {_clock(tb)} are "
                   f"{b.km - a.km:,.0f} km apart in {_duration(gap)} "
                   f"({(b.km - a.km) / max(gap, 1) * 3600:,.0f} km/h); the train needs at least "
                   f"{_duration(need)} even at {fastest}{slack}")
        raise SightingError(msg)
    return order


# ----------------------------------------------------------------------------------------------
def _clock(dt: datetime, *, date: bool = True) -> str:
    off = dt.utcoffset() or timedelta(0)
    m = round(off.total_seconds() / 60)
    sign = "+" if m >= 0 else "-"
    zone = f"{sign}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
    return dt.strftime("%Y-%m-%d %H:%M" if date else "%H:%M") + f" {zone}"


def _duration(seconds: float) -> str:
    """``2 h 05 min``, ``15 min``."""
    m = round(seconds / 60)
    if m < 60:
        return f"{m} min"
    return f"{m // 60} h {m % 60:02d} min"
