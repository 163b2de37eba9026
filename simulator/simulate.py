"""From a scenario to a runnable journey plan: scenario → network → route → running times → plan.

:func:`prepare` does every deterministic step once per scenario (route, speed profiles, chunking,
rules looked up per chunk); :mod:`simulator.montecarlo` then runs the random replications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulator import settings
from simulator._io import read_csv_rows
from simulator.errors import (
    DataFileError,
    RouteNotFoundError,
    ScenarioError,
    StationNotFoundError,
)
from simulator.journey import HaltSpec, JourneyPlan, NightSpec
from simulator.network.stations import normalize_name
from simulator.physics import KMH, SpeedProfile, TrainDynamics, speed_profile
from simulator.rolling_stock import Consist, Locomotive, load_consist, load_locomotive
from simulator.routing import Route, find_route
from simulator.scenario import Duration, Scenario

__all__ = ["Place", "Prepared", "TimelinePoint", "prepare"]

CHUNK_KM = 20.0
DX_M = 100.0
#: places closer than this are one boundary
MERGE_KM = 0.05
#: quantiles of uncertain caps at which speed profiles are computed (interpolated between)
CAP_LEVELS = np.linspace(0.0, 1.0, 5)
#: a stop this close to the route already run is one the train has passed
PASSED_KM = 5.0
#: simulation time starts this long before the earliest departure (room for the pilot's lead)
LEAD_S = 6 * 3600.0


@dataclass(frozen=True)
class Place:
    name: str
    km: float


@dataclass(frozen=True)
class TimelinePoint:
    """A place and moment reported in the timeline: the times come from each replication."""

    name: str
    kind: str  # depart, arrive, pass, halt_start, halt_end, road_arrive, station
    km: float
    boundary: int | None  # None for stations between boundaries (interpolated)
    which: str  # "arrive", "depart", "halt_start", "halt_end", "interp", "road"
    index: int = -1  # halt index for halt points
    tz: str = ""
    detail: str = ""


@dataclass
class Prepared:
    scenario: Scenario
    route: Route
    plan: JourneyPlan
    points: list[TimelinePoint]
    day: SpeedProfile
    night: SpeedProfile
    sections: list[tuple[float, TrainDynamics]]
    warnings: list[str] = field(default_factory=list)
    road_to: str | None = None
    #: km of every reported place (by reported-time id, or by name for legs that name a place)
    reported_km: dict[str, float] = field(default_factory=dict)

    def point(self, name: str, which: str | None = None) -> TimelinePoint:
        for p in self.points:
            if p.name == name and (which is None or p.which == which):
                return p
        msg = f"no timeline point {name!r}"
        raise KeyError(msg)


# ----------------------------------------------------------------------------------------------
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


def _first_rule(rules: list[Any], country: str, line: str) -> Any:
    # a rule naming the line beats a country-wide one; among equals the first listed wins
    for specific in (True, False):
        for r in rules:
            if (r.line is not None) == specific and r.matches(country, line):
                return r
    return None


class _Places:
    """Resolve the place names a scenario uses to km along its route."""

    def __init__(self, scenario: Scenario, route: Route, network: Any) -> None:
        self.route = route
        self.network = network
        self.by_key: dict[str, Place] = {}
        stop_marks = route.marks_of("stop")
        for spec, mark in zip(scenario.route.stops, stop_marks, strict=False):
            self.by_key.setdefault(normalize_name(spec.at), Place(mark.name, mark.km))
            self.by_key.setdefault(normalize_name(mark.name), Place(mark.name, mark.km))
        for m in route.marks_of("border"):
            a, b = (x.strip() for x in m.detail.split("→"))
            self.by_key.setdefault(normalize_name(f"border {a}-{b}"), Place(m.name, m.km))
        for m in route.marks_of("gauge_change"):
            self.by_key.setdefault(normalize_name(f"gauge change {m.name}"), Place(m.name, m.km))

    def find(self, name: str) -> Place:
        key = normalize_name(name)
        if key in self.by_key:
            return self.by_key[key]
        if key.startswith("border "):
            have = ", ".join(f"border {m.detail.replace(' → ', '-')}"
                             for m in self.route.marks_of("border")) or "none"
            msg = f"the route has no crossing '{name}' (its crossings: {have})"
            raise LookupError(msg)
        station = self.network.stations.find(name)  # StationNotFoundError names close matches
        for m in self.route.marks:
            if m.node == station.node and m.kind in ("stop", "station"):
                return Place(m.name, m.km)
        msg = f"'{name}' ({station.label}) is a known station but the route does not pass it"
        raise LookupError(msg)


# ----------------------------------------------------------------------------------------------
def prepare(scenario: Scenario, *, network: Any = None) -> Prepared:
    """Route the scenario, compute its running times and build the journey plan."""
    from simulator.network.graph import load_network

    rules = scenario.rules()
    if network is None:
        try:
            network = load_network(scenario.network)
        except DataFileError as exc:
            if scenario.network is None:
                raise
            raise scenario.error(("network",), str(exc)) from None
    route = _route(scenario, network)
    places = _Places(scenario, route, network)
    warnings: list[str] = []
    length_m = route.length_km * 1000

    # ---- where the train halts, and the traction sections --------------------------------
    consist = _consist(scenario)
    cars = scenario.train.cars.value if scenario.train.cars else None
    halts: list[tuple[float, str, str, Duration, bool, str]] = []
    for m in route.marks_of("border"):
        a, b = (x.strip() for x in m.detail.split("→"))
        rule = next((r for r in rules.borders if set(r.between) == {a, b}), None)
        if rule is None:
            warnings.append(f"no border rule for {a}–{b}: the crossing at {m.name} takes no time")
            continue
        halts.append((m.km, "border", m.name, rule.duration, rule.pilot_halts,
                      f"border formalities {a} → {b} ({rule.provenance})"))
    for m in route.marks_of("gauge_change"):
        gc = rules.gauge_change
        halts.append((m.km, "gauge_change", m.name, gc.duration, gc.pilot_halts,
                      f"bogie exchange {m.detail} ({gc.provenance})"))
    sections_spec: list[tuple[float, Locomotive, float | None]] = [
        (0.0, _locomotive(scenario, ("train", "locomotive"), scenario.train.locomotive), None)]
    for i, h in enumerate(scenario.halts):
        place = _find(scenario, places, ("halts", i, "at"), h.at)
        if h.kind == "locomotive_change":
            assert h.to is not None
            loco = _locomotive(scenario, ("halts", i, "to"), h.to)
            lc = rules.locomotive_change
            dur = h.duration or lc.duration
            halts.append((place.km, "locomotive_change", place.name, dur, lc.pilot_halts,
                          f"locomotive change to {loco.name}" + (f"; {h.note}" if h.note else "")))
            sections_spec.append((place.km, loco, h.units))
        else:
            assert h.duration is not None
            halts.append((place.km, h.kind, place.name, h.duration, False,
                          f"{h.kind} ({h.duration.provenance})"))
    sections_spec.sort(key=lambda s: s[0])
    sections: list[tuple[float, TrainDynamics]] = []
    for at_km, loco, units in sections_spec:
        seg = _segment_at(route, at_km + 0.01)
        power = _first_rule([r for r in rules.traction_power if r.kind == loco.kind],
                            seg.country, seg.line)
        dyn = TrainDynamics.from_stock(consist, loco, cars=cars, units=units,
                                       power_factor=power.factor if power else 1.0)
        sections.append((at_km * 1000, dyn))
        _check_electric(route, at_km, loco, sections_spec, warnings)

    # ---- speed limits per cell, day and night -------------------------------------------------
    n_cells = max(1, math.ceil(length_m / DX_M))
    seg_end = np.array([s.km_end * 1000 for s in route.segments])
    mids = (np.arange(n_cells) + 0.5) * DX_M
    seg_idx = np.minimum(np.searchsorted(seg_end, mids), len(route.segments) - 1)
    seg_cap: list[Any] = []
    seg_night = np.ones(len(route.segments))
    missing_caps: set[str] = set()
    for j, s in enumerate(route.segments):
        cap = _first_rule(rules.caps, s.country, s.line)
        if cap is None:
            missing_caps.add(s.country)
        seg_cap.append(cap)
        night = _first_rule(rules.night, s.country, s.line)
        if night is not None and night.mode == "slow":
            seg_night[j] = night.speed_factor or 1.0
    if missing_caps:
        warnings.append("no operating speed cap for " + ", ".join(sorted(missing_caps)) +
                        ": only the train's maximum limits it there")
    # caps given as a range are drawn per replication: profiles at a few quantiles of the ranges
    uncertain = [r for r in rules.caps if r.kmh_range is not None]
    levels = CAP_LEVELS if uncertain else np.array([0.5])
    train_m = consist.length_m + max(
        loco.length_m.value * (units or loco.units.value) for _, loco, units in sections_spec)
    rest_m = sorted({h[0] * 1000 for h in halts})
    supplement = rules.supplement.value
    days: list[SpeedProfile] = []
    nights: list[SpeedProfile] = []
    for q in levels:
        seg_limit = np.array([
            min(s.speed_limit or math.inf, cap.kmh_at(q) if cap else math.inf)
            for s, cap in zip(route.segments, seg_cap, strict=True)])
        seg_limit[~np.isfinite(seg_limit)] = consist.max_speed_kmh.value
        limit_day = seg_limit[seg_idx] * KMH
        if rules.station_passing is not None:
            _station_zones(limit_day, route, rules.station_passing, train_m)
        days.append(speed_profile(length_m, limit_day, sections, stops_m=rest_m, dx=DX_M,
                                  supplement=supplement))
        nights.append(days[-1] if np.all(seg_night == 1) else speed_profile(
            length_m, limit_day * seg_night[seg_idx], sections, stops_m=rest_m, dx=DX_M,
            supplement=supplement))
    mid_level = len(levels) // 2
    day, night = days[mid_level], nights[mid_level]

    # ---- reported places and reserved sections ---------------------------------------------
    reported_places: list[tuple[str, Place, str]] = []
    for i, rt in enumerate(scenario.reported.times):
        if scenario.road and normalize_name(rt.at) == normalize_name(scenario.road.to):
            continue
        reported_places.append((rt.id, _find(scenario, places, ("reported", "times", i, "at"),
                                              rt.at), rt.event))
    reserved_km: list[tuple[float, float]] = []
    for i, rs in enumerate(scenario.reserved):
        first = _find(scenario, places, ("reserved", i, "from"), rs.start)
        last = _find(scenario, places, ("reserved", i, "to"), rs.end)
        reserved_km.append((min(first.km, last.km), max(first.km, last.km)))

    # ---- chunk boundaries ----------------------------------------------------------------------
    named: dict[float, str] = {}
    for m in route.marks:
        if m.kind != "station":
            named.setdefault(round(m.km, 3), m.name)
    for halt in halts:
        named.setdefault(round(halt[0], 3), halt[2])
    for _, rplace, _ in reported_places:
        named.setdefault(round(rplace.km, 3), rplace.name)
    for r_start, r_end in reserved_km:
        named.setdefault(round(r_start, 3), "")
        named.setdefault(round(r_end, 3), "")
    keys = sorted(named)
    merged: list[float] = []
    for k in keys:
        if not merged or k - merged[-1] > MERGE_KM:
            merged.append(k)
        elif named[k] and not named[merged[-1]]:
            named[merged[-1]] = named[k]
    merged[0] = 0.0
    merged[-1] = route.length_km
    bounds = [merged[0]]
    names = [named.get(round(merged[0], 3), "")]
    for k in merged[1:]:
        pieces = max(1, math.ceil((k - bounds[-1]) / CHUNK_KM))
        for piece in range(1, pieces):
            bounds.append(bounds[-1] + (k - bounds[-1]) / (pieces - piece + 1))
            names.append("")
        bounds.append(k)
        names.append(named.get(round(k, 3), "") if k != route.length_km else route.stops[-1])
    km = np.array(bounds)
    names[0] = route.stops[0]
    for i, k in enumerate(km):
        if not names[i]:
            names[i] = _exact(named, float(k))

    def boundary(km_value: float) -> int:
        return int(np.argmin(np.abs(km - km_value)))

    # ---- per chunk: running times, zone, delays, night rules, reserved -----------------------
    n = len(km) - 1
    t_day = day.time_at(km * 1000)
    run_day = np.stack([np.diff(p.time_at(km * 1000)) for p in days])
    run_night = np.stack([np.diff(p.time_at(km * 1000)) for p in nights])
    cap_rule = np.full(n, -1)
    mid = 0.5 * (km[1:] + km[:-1])
    zones = _zones()
    epoch_local = _departure_range(scenario)[0]
    tz_name: list[str] = []
    tz_off = np.zeros(n)
    delay_rate = np.zeros(n)
    delay_rule = np.full(n, -1)
    night_rule = np.full(n, -1)
    reserved = np.zeros(n, dtype=bool)
    stop_loss = np.zeros(n)
    delay_rules = list(rules.delays)
    night_specs = [NightSpec(*r.window_minutes(), r.mode) for r in rules.night]
    loss_tables = [_stop_loss_table(dyn) for _, dyn in sections]
    section_starts = np.array([s for s, _ in sections]) / 1000
    for i in range(n):
        j = _segment_index(route, mid[i])
        seg = route.segments[j]
        cap = seg_cap[j]
        if cap is not None and cap.kmh_range is not None:
            cap_rule[i] = next(k for k, r in enumerate(uncertain) if r is cap)
        lon, lat = seg.coords[len(seg.coords) // 2]
        zname = zone_of(seg.country, lon, lat, zones)
        tz_name.append(zname)
        off = epoch_local.astimezone(ZoneInfo(zname)).utcoffset()
        tz_off[i] = off.total_seconds() if off is not None else 0.0
        reserved[i] = any(a - 1e-6 <= mid[i] <= b + 1e-6 for a, b in reserved_km)
        rule = _first_rule(delay_rules, seg.country, seg.line)
        if rule is not None and not reserved[i]:
            delay_rule[i] = delay_rules.index(rule)
            delay_rate[i] = rule.per_100km * (km[i + 1] - km[i]) / 100
        nr = _first_rule(list(rules.night), seg.country, seg.line)
        if nr is not None:
            night_rule[i] = list(rules.night).index(nr)
        run = max(t_day[i + 1] - t_day[i], 1e-6)
        v = (km[i + 1] - km[i]) * 1000 / run
        sec = np.searchsorted(section_starts, mid[i]) - 1
        speeds, losses = loss_tables[max(int(sec), 0)]
        stop_loss[i] = float(np.interp(v, speeds, losses))

    halt_specs = [HaltSpec(boundary(h[0]), h[1], h[2], h[3], h[4], h[5]) for h in halts]
    halt_specs.sort(key=lambda h: h.boundary)
    lo, hi = _departure_range(scenario)
    # simulation time 0 lies before the earliest departure, so the pilot train can leave first
    epoch = lo.astimezone(UTC) - timedelta(seconds=LEAD_S)
    plan = JourneyPlan(
        epoch=epoch, depart_s=(LEAD_S, LEAD_S + (hi - lo).total_seconds()), km=km, place=names,
        run_day_s=run_day, run_night_s=run_night, tz_offset_s=tz_off,
        tz_name=tz_name, delay_rate=delay_rate, delay_rule=delay_rule,
        delay_durations=[r.duration for r in delay_rules],
        delay_cause=[f"{r.country}{' ' + r.line if r.line else ''} ({r.provenance})"
                     for r in delay_rules],
        stop_loss_s=stop_loss, night_rule=night_rule, night=night_specs, reserved=reserved,
        halts=halt_specs, headway=rules.pilot.headway if rules.pilot else None,
        pilot_delays=rules.pilot.delays_apply if rules.pilot else False,
        cap_levels=levels, cap_rule=cap_rule, n_cap_rules=len(uncertain),
    )
    points = _points(plan, route, reported_places, boundary)
    _check_order(scenario, plan, points)
    reported_km = {rid: float(plan.km[boundary(p.km)]) for rid, p, _ in reported_places}
    for i, leg in enumerate(scenario.reported.legs):
        for key, name in (("from", leg.start), ("to", leg.end)):
            if name not in reported_km and not (
                    scenario.road and normalize_name(name) == normalize_name(scenario.road.to)):
                place = _find(scenario, places, ("reported", "legs", i, key), name)
                reported_km[name] = float(plan.km[boundary(place.km)])
    return Prepared(scenario, route, plan, points, day, night, sections, warnings,
                    scenario.road.to if scenario.road else None, reported_km)


def _station_zones(limit: np.ndarray, route: Route, sp: Any, train_m: float) -> None:
    """Hold the limit to the station speed while any part of the train is in a station zone."""
    for m in route.marks_of("station"):
        z0 = int(max(m.km * 1000 - sp.zone_m / 2, 0) // DX_M)
        z1 = math.ceil((m.km * 1000 + sp.zone_m / 2 + train_m) / DX_M)
        limit[z0:z1] = np.minimum(limit[z0:z1], sp.kmh * KMH)


def _exact(named: dict[float, str], k: float) -> str:
    return named.get(round(float(k), 3), "")


def _stop_loss_table(dyn: TrainDynamics) -> tuple[np.ndarray, np.ndarray]:
    speeds = np.linspace(0.0, dyn.max_speed_ms, 12)
    return speeds, np.array([dyn.stop_loss_s(float(v)) for v in speeds])


def _segment_index(route: Route, km: float) -> int:
    return min(int(np.searchsorted(route.km_ends, km)), len(route.segments) - 1)


def _segment_at(route: Route, km: float) -> Any:
    return route.segments[_segment_index(route, km)]


def _departure_range(scenario: Scenario) -> tuple[datetime, datetime]:
    dep = scenario.route.stops[0].depart
    assert dep is not None
    return dep


def _find(scenario: Scenario, places: _Places, loc: tuple[Any, ...], name: str) -> Place:
    try:
        return places.find(name)
    except (LookupError, StationNotFoundError) as exc:
        raise scenario.error(loc, str(exc)) from None


def _stock(scenario: Scenario, loc: tuple[Any, ...], spec: Any, model: type,
           loader: Any) -> Any:
    """Rolling stock given inline, or by preset name or path (relative to the scenario)."""
    if isinstance(spec, model):
        return spec
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and not path.is_absolute() and scenario.path:
        spec = str(scenario.path.parent / path)
    try:
        return loader(spec)
    except (DataFileError, ScenarioError) as exc:  # a missing or a bad preset
        raise scenario.error(loc, str(exc)) from None


def _consist(scenario: Scenario) -> Consist:
    consist: Consist = _stock(scenario, ("train", "consist"), scenario.train.consist, Consist,
                              load_consist)
    return consist


def _locomotive(scenario: Scenario, loc: tuple[Any, ...], spec: str | Locomotive) -> Locomotive:
    loco: Locomotive = _stock(scenario, loc, spec, Locomotive, load_locomotive)
    return loco


def _check_electric(route: Route, km: float, loco: Locomotive,
                    spec: list[tuple[float, Locomotive, float | None]],
                    warnings: list[str]) -> None:
    if loco.kind != "electric":
        return
    ends = [s[0] for s in spec if s[0] > km]
    end = min(ends) if ends else route.length_km
    bad = sum(s.length_m for s in route.segments
              if km <= s.km_start < end and s.electrified in ("no",)) / 1000
    if bad > 1:
        warnings.append(f"{loco.id} is electric but {bad:.1f} km between km {km:.0f} and "
                        f"{end:.0f} are not electrified (the model lets it run on)")


def _route(scenario: Scenario, network: Any) -> Route:
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
    stops = route.marks_of("stop")
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
        if len(dist) and dist.min() < PASSED_KM:
            msg = (f"stops in an impossible order: '{names[k]}' lies between '{names[k - 2]}' "
                   f"and '{names[k - 1]}' (passed near km {km_at[dist.argmin()]:,.0f}); the "
                   f"route would come back to it, {route.length_km:,.0f} km in all; list it "
                   f"before '{names[k - 1]}'")
            raise scenario.error(("route", "stops", k, "at"), msg)
    return route


def _explain_order(scenario: Scenario, network: Any, names: list[str],
                   route_of: Any) -> None:
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


def _points(plan: JourneyPlan, route: Route, reported: list[tuple[str, Place, str]],
            boundary: Any) -> list[TimelinePoint]:
    pts: list[TimelinePoint] = []
    n = plan.n_chunks
    tz = plan.tz_name
    pts.append(TimelinePoint(route.stops[0], "depart", 0.0, 0, "depart", tz=tz[0]))
    halted = {h.boundary for h in plan.halts}
    for k, h in enumerate(plan.halts):
        pts.append(TimelinePoint(h.place, h.kind, float(plan.km[h.boundary]), h.boundary,
                                 "halt_start", k, tz[min(h.boundary, n - 1)], h.cause))
    for m in route.marks:
        if m.kind == "station":
            continue
        b = boundary(m.km)
        if b in (0, n) and m.kind == "stop":
            continue
        kind = "border" if m.kind == "border" else "pass"
        if m.kind == "gauge_change":
            continue
        pts.append(TimelinePoint(m.name, kind, m.km, b, "arrive", tz=tz[min(b, n - 1)],
                                 detail=m.detail))
        if b in halted:
            pts.append(TimelinePoint(m.name, "depart", m.km, b, "depart", tz=tz[min(b, n - 1)]))
    for _, place, event in reported:
        b = boundary(place.km)
        if any(p.boundary == b and p.which == ("depart" if event == "depart" else "arrive")
               for p in pts):
            continue
        pts.append(TimelinePoint(place.name, event, place.km, b,
                                 "depart" if event == "depart" else "arrive",
                                 tz=tz[min(b, n - 1)]))
    pts.append(TimelinePoint(route.stops[-1], "arrive", route.length_km, n, "arrive",
                             tz=tz[n - 1]))
    for m in route.marks_of("station"):
        pts.append(TimelinePoint(m.name, "station", m.km, None, "interp",
                                 tz=tz[min(int(np.searchsorted(plan.km, m.km)) - 1, n - 1)]))
    pts.sort(key=lambda p: (p.km, p.which == "depart"))
    return pts


def _check_order(scenario: Scenario, plan: JourneyPlan, points: list[TimelinePoint]) -> None:
    """Reported clock times must not run backwards along the route."""
    last: tuple[float, datetime, int] | None = None
    for i, rt in enumerate(scenario.reported.times):
        if scenario.road and normalize_name(rt.at) == normalize_name(scenario.road.to):
            continue
        km = next((p.km for p in points if normalize_name(p.name) == normalize_name(rt.at)),
                  None)
        if km is None:
            continue
        if last is not None and km >= last[0] and rt.time[1] < last[1]:
            raise scenario.error(("reported", "times", i, "time"),
                                 f"'{rt.at}' lies further along the route than "
                                 f"'{scenario.reported.times[last[2]].at}' but is reported "
                                 "earlier: the places are in an impossible order")
        last = (km, rt.time[0], i)
