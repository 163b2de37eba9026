"""Stage 5 of planning: the journey plan the engine runs, and the rows of the timeline.

:func:`build_plan` looks up, for every stretch of the route, the rules that apply (unplanned-stop
rates, night rules, time zones), turns them into the arrays of a
:class:`~simulator.journey.JourneyPlan`, and lists the plan's parameters (every quantity a
replication draws, :mod:`simulator.parameters`). :func:`timeline_points` lists the rows of
``timeline.csv``: one per place and event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from simulator.parameters import Distribution, ParameterKind, ParameterSpec
from simulator.physics import TrainDynamics
from simulator.plan import DelayRule, JourneyPlan, NightSpec
from simulator.planning.itinerary import Itinerary
from simulator.planning.points import PointKind, RoutePoint
from simulator.planning.profiles import SpeedProfiles
from simulator.planning.traction import PlannedHalt, Traction
from simulator.scenario import OperatingDefaults, Scenario, first_rule

__all__ = [
    "LEAD_S", "TimelineKind", "TimelinePoint", "Which", "build_plan", "check_order",
    "reported_points", "timeline_points",
]

#: simulation time starts this long before the earliest departure (room for the pilot's lead)
LEAD_S = 6 * 3600.0


class TimelineKind(StrEnum):
    """The ``event`` column of timeline.csv."""

    DEPART = "depart"
    ARRIVE = "arrive"
    PASS = "pass"
    BORDER = "border"
    GAUGE_CHANGE = "gauge_change"
    LOCOMOTIVE_CHANGE = "locomotive_change"
    STOP = "stop"
    CEREMONY = "ceremony"
    STATION = "station"
    ROAD_ARRIVE = "road_arrive"


class Which(StrEnum):
    """Which time of a route point a timeline row shows."""

    ARRIVE = "arrive"
    DEPART = "depart"
    HALT_START = "halt_start"
    ROAD = "road"  # the road leg's arrival (not on the rail route)


@dataclass(frozen=True)
class TimelinePoint:
    """A row of the timeline: a place and an event there; the times come from the replications.

    ``point`` is the route point (None for the road leg's destination); ``index`` the halt for
    a halt row.
    """

    name: str
    kind: TimelineKind
    km: float
    point: int | None
    which: Which
    index: int = -1
    tz: str = ""
    detail: str = ""


def build_plan(scenario: Scenario, itinerary: Itinerary, traction: Traction,
               profiles: SpeedProfiles, points: list[RoutePoint],
               rules: OperatingDefaults) -> JourneyPlan:
    """The :class:`~simulator.journey.JourneyPlan` of ``scenario``."""
    km = np.array([p.km for p in points])
    seg_after = np.minimum(itinerary.segment_index(km + 1e-6), len(itinerary.segments) - 1)
    seg_after[-1] = len(itinerary.segments) - 1
    lo, hi = _departure_range(scenario)
    offsets: dict[str, float] = {}

    def offset(zone: str) -> float:
        # UTC offset at the departure (a trip of a few days does not cross a DST change here)
        if zone not in offsets:
            off = lo.astimezone(ZoneInfo(zone)).utcoffset()
            offsets[zone] = off.total_seconds() if off is not None else 0.0
        return offsets[zone]

    tz_name = [itinerary.segments[int(j)].tz for j in seg_after]
    halt_point = np.array([_point_of(points, h.km) for h in traction.halts], dtype=int)
    # night rules: the route cut where the rule or the UTC offset changes
    night_rules = list(rules.night)
    breaks: list[float] = [0.0]
    night_rule: list[int] = []
    night_off: list[float] = []
    for s in itinerary.segments:
        rule = first_rule(night_rules, s.country, s.line)
        key = (night_rules.index(rule) if rule is not None else -1, offset(s.tz))
        if night_rule and (night_rule[-1], night_off[-1]) == key:
            breaks[-1] = s.km_end
            continue
        if night_rule:
            breaks[-1] = s.km_start
        night_rule.append(key[0])
        night_off.append(key[1])
        breaks.append(s.km_end)
    breaks[-1] = itinerary.length_km
    epoch = lo.astimezone(UTC) - timedelta(seconds=LEAD_S)
    delay_rules = _delay_rules(itinerary, rules, scenario.defaults)
    plan = JourneyPlan(
        epoch=epoch, length_km=itinerary.length_km, km=km, place=[p.name for p in points],
        point_kind=[str(p.kind) for p in points], tz_name=tz_name,
        tz_offset_s=np.array([offset(z) for z in tz_name]),
        knots_km=profiles.knots_km, cum_day_s=profiles.cum_day_s,
        cum_night_s=profiles.cum_night_s, delta_day_s=profiles.delta_day_s,
        delta_night_s=profiles.delta_night_s, grid_kmh=profiles.grid_kmh,
        point_knot=profiles.knot_index(km), stop_loss_s=_stop_losses(profiles, traction),
        halts=traction.halts, halt_point=halt_point, delay_rules=delay_rules,
        night=[NightSpec(*r.window_minutes(), r.mode) for r in night_rules],
        night_breaks_km=np.array(breaks), night_rule=np.array(night_rule, dtype=int),
        night_offset_s=np.array(night_off), reserved_km=list(itinerary.reserved_km),
        has_pilot=rules.pilot is not None,
        pilot_delays=rules.pilot.delays_apply if rules.pilot else False,
        parameters=_parameters(scenario, rules, profiles, delay_rules, traction.halts,
                               (lo, hi), epoch),
    )
    return plan


def timeline_points(plan: JourneyPlan, points: list[RoutePoint]) -> list[TimelinePoint]:
    """The rows of the timeline, one per place and event, in km order.

    A place passed without halting has one row (``pass``, or ``border`` at a crossing); a place
    where the train halts has its arrival, one row per halt (at the halt's start), and its
    departure. The origin has its departure, the destination its arrival.
    """
    out: list[TimelinePoint] = []
    last = len(points) - 1
    halts_at = plan.halts_at
    for i, p in enumerate(points):
        tz = plan.tz_name[i]
        if p.kind == PointKind.FILLER:
            continue
        if p.kind == PointKind.STATION:
            out.append(TimelinePoint(p.name, TimelineKind.STATION, p.km, i, Which.ARRIVE, tz=tz))
            continue
        halts = halts_at.get(i, [])
        if i == last or (halts and i > 0):
            out.append(TimelinePoint(p.name, TimelineKind.ARRIVE, p.km, i, Which.ARRIVE, tz=tz,
                                     detail=p.detail))
        elif not halts:
            kind = TimelineKind.DEPART if i == 0 else (
                TimelineKind.BORDER if p.kind == PointKind.BORDER else TimelineKind.PASS)
            out.append(TimelinePoint(p.name, kind, p.km, i,
                                     Which.DEPART if i == 0 else Which.ARRIVE, tz=tz,
                                     detail=p.detail))
        for k in halts:
            h = plan.halts[k]
            # a halt's row says what the halt is (the place's detail is its border or gauge)
            out.append(TimelinePoint(h.place, TimelineKind(h.kind), p.km, i, Which.HALT_START,
                                     index=k, tz=tz, detail=h.cause))
        if halts and i != last:
            out.append(TimelinePoint(p.name, TimelineKind.DEPART, p.km, i, Which.DEPART, tz=tz,
                                     detail=p.detail))
    return out


def reported_points(itinerary: Itinerary, points: list[RoutePoint]) -> dict[str, int]:
    """The route point of every reported time (by id) and of every place a leg names."""
    out = {rid: _point_of(points, p.km) for rid, p in itinerary.reported_places.items()}
    for name, p in itinerary.leg_places.items():
        out.setdefault(name, _point_of(points, p.km))
    return out


def check_order(scenario: Scenario, itinerary: Itinerary) -> None:
    """Reported clock times must not run backwards along the route."""
    last: tuple[float, datetime, int] | None = None
    for i, rt in enumerate(scenario.reported.times):
        place = itinerary.reported_places.get(rt.id)
        if place is None:
            continue
        if last is not None and place.km >= last[0] and rt.time[1] < last[1]:
            raise scenario.error(("reported", "times", i, "time"),
                                 f"'{rt.at}' lies further along the route than "
                                 f"'{scenario.reported.times[last[2]].at}' but is reported "
                                 "earlier: the places are in an impossible order")
        last = (place.km, rt.time[0], i)


# ----------------------------------------------------------------------------------------------
def _point_of(points: list[RoutePoint], km: float) -> int:
    """The non-station route point at (within merging distance of) ``km``."""
    best = min((abs(p.km - km), i) for i, p in enumerate(points)
               if p.kind not in (PointKind.STATION, PointKind.FILLER))
    return best[1]


def _departure_range(scenario: Scenario) -> tuple[datetime, datetime]:
    dep = scenario.route.stops[0].depart
    assert dep is not None
    return dep


def _rule_key(rule: object) -> str:
    line = getattr(rule, "line", None)
    return f"{getattr(rule, 'country', '')}" + (f":{line}" if line else "")


def _delay_rules(itinerary: Itinerary, rules: OperatingDefaults,
                 defaults: OperatingDefaults | None = None) -> list[DelayRule]:
    """Each delay rule that governs some stretch, as a Poisson process along the route.

    ``rules`` are the scenario's overrides followed by ``defaults`` (:meth:`Scenario.rules`):
    a rule among the last ``len(defaults.delays)`` is a shared one."""
    stretches: dict[int, list[tuple[float, float]]] = {}
    for s in itinerary.segments:
        rule = first_rule(list(rules.delays), s.country, s.line)
        if rule is None or rule.per_100km <= 0:
            continue
        d = next(i for i, r in enumerate(rules.delays) if r is rule)
        for a, b in _minus(s.km_start, s.km_end, itinerary.reserved_km):
            stretches.setdefault(d, []).append((a, b))
    out = []
    for d in sorted(stretches):
        rule = rules.delays[d]
        per_km = rule.per_100km / 100
        x0 = np.array([a for a, _ in stretches[d]])
        length = np.array([b - a for a, b in stretches[d]])
        lam0 = np.concatenate([[0.0], np.cumsum(length * per_km)[:-1]])
        out.append(DelayRule(
            name=_rule_key(rule), duration_s=Distribution.from_duration(rule.duration),
            cause=f"{rule.country}{' ' + rule.line if rule.line else ''} ({rule.provenance})",
            x0_km=x0, lam0=lam0, per_km=np.full(len(x0), per_km),
            expected=float(length.sum() * per_km),
            shared=d >= len(rules.delays) - len(defaults.delays) if defaults else False))
    return out


def _minus(a: float, b: float, holes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """``[a, b]`` without the intervals ``holes``."""
    pieces = [(a, b)]
    for h0, h1 in holes:
        pieces = [q for x, y in pieces for q in ((x, min(y, h0)), (max(x, h1), y)) if q[1] > q[0]]
    return pieces


def _stop_losses(profiles: SpeedProfiles, traction: Traction) -> np.ndarray:
    """Time lost braking to a stand and starting again, at each knot (from the local speed)."""
    knots = profiles.knots_km
    v = profiles.day.speed_at(knots * 1000)
    starts = np.array([s.start_km for s in traction.sections])
    section = np.maximum(np.searchsorted(starts, knots, side="right") - 1, 0)
    out = np.zeros(len(knots))
    for j, sec in enumerate(traction.sections):
        speeds, losses = _stop_loss_table(sec.dynamics)
        inside = section == j
        out[inside] = np.interp(v[inside], speeds, losses)
    return out


def _stop_loss_table(dyn: TrainDynamics) -> tuple[np.ndarray, np.ndarray]:
    speeds = np.linspace(0.0, dyn.max_speed_ms, 12)
    return speeds, np.array([dyn.stop_loss_s(float(v)) for v in speeds])


def _parameters(scenario: Scenario, rules: OperatingDefaults, profiles: SpeedProfiles,
                delay_rules: list[DelayRule], halts: list[PlannedHalt],
                departure: tuple[datetime, datetime], epoch: datetime
                ) -> tuple[ParameterSpec, ...]:
    lo, hi = ((t.astimezone(UTC) - epoch).total_seconds() for t in departure)
    dep = scenario.route.stops[0]
    specs = [ParameterSpec("depart_s", ParameterKind.DEPART, -1,
                           Distribution("uniform", lo, hi, 0.5 * (lo + hi)) if hi > lo
                           else Distribution.fixed(lo), "s",
                           f"departure from {dep.at} ({dep.source})")]
    if rules.pilot is not None:
        specs.append(ParameterSpec("headway_s", ParameterKind.HEADWAY, -1,
                                   Distribution.from_duration(rules.pilot.headway), "s",
                                   f"pilot train's headway ({rules.pilot.headway.provenance})"))
    specs.append(ParameterSpec("pace", ParameterKind.PACE, -1, Distribution.fixed(1.0), "factor",
                               "trip-level factor on running times (1: the speed profile)"))
    for r, rule in enumerate(profiles.cap_rules):
        dist = (Distribution("two_piece", rule.kmh_range[0], rule.kmh_range[1], rule.kmh)
                if rule.kmh_range else Distribution.fixed(rule.kmh))
        specs.append(ParameterSpec(f"cap:{_rule_key(rule)}", ParameterKind.CAP, r, dist, "km/h",
                                   f"speed cap ({rule.provenance})"))
    for d, dr in enumerate(delay_rules):
        specs.append(ParameterSpec(f"delay_rate:{dr.name}", ParameterKind.DELAY_RATE, d,
                                   Distribution.fixed(1.0), "factor",
                                   f"factor on the rate of unplanned stops, {dr.cause}"))
        specs.append(ParameterSpec(f"delay_scale:{dr.name}", ParameterKind.DELAY_SCALE, d,
                                   Distribution.fixed(1.0), "factor",
                                   f"factor on the durations of unplanned stops, {dr.cause}"))
    for k, h in enumerate(halts):
        specs.append(ParameterSpec(f"halt:{h.kind}:{h.place}", ParameterKind.HALT, k,
                                   Distribution.from_duration(h.duration), "s", h.cause))
    if rules.pilot is not None:
        for k, h in enumerate(halts):
            if h.pilot_halts:
                specs.append(ParameterSpec(f"pilot_halt:{h.kind}:{h.place}",
                                           ParameterKind.PILOT_HALT, k,
                                           Distribution.from_duration(h.duration), "s",
                                           f"the pilot train's halt: {h.cause}"))
    seen: dict[str, int] = {}
    unique = []
    for s in specs:
        seen[s.name] = seen.get(s.name, 0) + 1
        name = s.name if seen[s.name] == 1 else f"{s.name}#{seen[s.name]}"
        unique.append(ParameterSpec(name, s.kind, s.index, s.default, s.unit, s.label,
                                    _calibration_key(s, scenario.defaults, rules, profiles,
                                                     delay_rules, halts)))
    return tuple(unique)


def _calibration_key(spec: ParameterSpec, defaults: OperatingDefaults | None,
                     rules: OperatingDefaults, profiles: SpeedProfiles,
                     delay_rules: list[DelayRule], halts: list[PlannedHalt]) -> str:
    """The key by which a calibration sets this column (see :class:`ParameterSpec`): only for
    the shared rules of the operating defaults, never for a scenario's override or its own
    halts (a rule is the defaults' when it is the very object the defaults file holds)."""
    if defaults is None:
        return ""
    kind = spec.kind
    if kind == ParameterKind.PACE:
        return "pace"
    if kind == ParameterKind.HEADWAY:
        return "headway_s" if rules.pilot is defaults.pilot else ""
    if kind == ParameterKind.CAP:
        rule = profiles.cap_rules[spec.index]
        return f"cap:{_rule_key(rule)}" if any(rule is r for r in defaults.caps) else ""
    if kind in (ParameterKind.DELAY_RATE, ParameterKind.DELAY_SCALE):
        dr = delay_rules[spec.index]
        return f"{kind}:{dr.name}" if dr.shared else ""
    if kind in (ParameterKind.HALT, ParameterKind.PILOT_HALT):
        h = halts[spec.index]
        if h.kind == "border":
            border = next((r for r in defaults.borders if h.duration is r.duration), None)
            return "" if border is None else "halt:border:" + "-".join(sorted(border.between))
        if h.kind == "gauge_change" and h.duration is defaults.gauge_change.duration:
            return "halt:gauge_change"
        if h.kind == "locomotive_change" and h.duration is defaults.locomotive_change.duration:
            return "halt:locomotive_change"
    return ""
