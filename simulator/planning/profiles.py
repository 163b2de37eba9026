"""Stage 4 of planning: speed profiles, and the running time for any speed caps.

The nominal profile (every cap rule at its ``kmh``) gives the cumulative running time along the
route, sampled at *knots*: every :data:`KNOT_KM` and at every route point, so times at points are
exact. Caps are drawn per replication (and a calibration may try values far outside a rule's
stated range), so profiles are also computed with every cap rule set to each value of a grid of
caps (by default 30–120 km/h in 2.5 km/h steps, widened to cover every rule's range). For each
cap rule the change of cumulative running time inside the stretches that rule governs is kept
per grid value; a replication's running time is the nominal one plus, per rule, that change
interpolated at its drawn cap, linearly in 1/cap (running time at a cap is proportional to
1/cap where the cap binds). Speeds at stretches next to each other interact only through
acceleration and braking across the boundary, which this neglects (most such boundaries are
borders, where the train stops anyway).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.physics import KMH, SpeedProfile, speed_profiles
from simulator.planning.itinerary import Itinerary, MarkKind
from simulator.planning.traction import Traction
from simulator.scenario import CapRule, OperatingDefaults, first_rule

__all__ = ["CAP_GRID_KMH", "CAP_STEP_KMH", "DX_M", "KNOT_KM", "SpeedProfiles",
           "compute_profiles", "governing_caps", "profiles_at"]

#: cell length of the speed limits and the physics, metres
DX_M = 100.0
#: spacing of the knots at which cumulative running times are kept, km
KNOT_KM = 1.0
#: default range of the cap grid, km/h (wide enough for calibration priors)
CAP_GRID_KMH = (30.0, 120.0)
CAP_STEP_KMH = 2.5


@dataclass
class SpeedProfiles:
    """Cumulative running times at knots, nominal and per cap rule over a grid of caps.

    Attributes
    ----------
    day, night
        Nominal profiles (every cap at its ``kmh``); ``night`` applies the night rules' speed
        factors and is ``day`` itself when no rule slows the train at night.
    cap_rules
        The cap rules that govern some stretch of the route, in the order of the rules.
    grid_kmh
        ``(G,)`` caps at which the profiles were computed, ascending.
    knots_km
        ``(K,)`` positions of the knots.
    cum_day_s, cum_night_s
        ``(K,)`` nominal cumulative running time at the knots, seconds.
    delta_day_s, delta_night_s
        ``(R, G, K)``: for cap rule r at grid cap g, the change of the cumulative running time
        (inside r's stretches) from the nominal one.
    """

    day: SpeedProfile
    night: SpeedProfile
    cap_rules: list[CapRule]
    grid_kmh: np.ndarray
    knots_km: np.ndarray
    cum_day_s: np.ndarray
    cum_night_s: np.ndarray
    delta_day_s: np.ndarray
    delta_night_s: np.ndarray

    @property
    def has_night(self) -> bool:
        return self.night is not self.day

    def knot_index(self, km: np.ndarray | float) -> np.ndarray:
        """Index of the knot at exactly ``km`` (the positions given to :func:`compute_profiles`)."""
        idx = np.searchsorted(self.knots_km, km)
        idx = np.minimum(idx, len(self.knots_km) - 1)
        if not np.allclose(self.knots_km[idx], km, rtol=0, atol=1e-9):
            msg = "a position is not a knot of the profiles"
            raise ValueError(msg)
        return idx


def cap_grid(rules: list[CapRule], span: tuple[float, float] = CAP_GRID_KMH) -> np.ndarray:
    """Grid caps: ``span`` in :data:`CAP_STEP_KMH` steps, widened to and including every rule's
    range and nominal value."""
    values = [v for r in rules for v in (r.kmh, *(r.kmh_range or ()))]
    lo = min([span[0], *values])
    hi = max([span[1], *values])
    grid = np.arange(lo, hi + CAP_STEP_KMH / 2, CAP_STEP_KMH)
    return np.unique(np.concatenate([grid, values, [hi]]))


def compute_profiles(itinerary: Itinerary, traction: Traction, rules: OperatingDefaults, *,
                     max_speed_kmh: float, points_km: np.ndarray,
                     cap_span_kmh: tuple[float, float] = CAP_GRID_KMH) -> SpeedProfiles:
    """Speed profiles of the train along ``itinerary``.

    Parameters
    ----------
    max_speed_kmh
        Where no limit and no cap applies, the train runs at most this fast.
    points_km
        Positions that must be knots (the route points).
    cap_span_kmh
        The range of caps the grid covers at least; a replication's caps must lie in the grid.
    """
    profiles = _profile_maker(itinerary, traction, rules, max_speed_kmh=max_speed_kmh)
    cap_rules = governing_caps(itinerary, rules)
    seg_rule_index = _seg_rule_index(itinerary, rules, cap_rules)
    knots = np.unique(np.concatenate([
        np.arange(0.0, itinerary.length_km, KNOT_KM), [itinerary.length_km],
        np.asarray(points_km, dtype=float)]))
    knots_m = knots * 1000
    day, night = profiles(np.array([r.kmh for r in cap_rules]))
    grid = cap_grid(cap_rules, cap_span_kmh)
    x = day.x_m
    step_seg = itinerary.segment_index(0.5 * (x[1:] + x[:-1]) / 1000)
    step_rule = seg_rule_index[step_seg]
    n_rules = len(cap_rules)
    delta_day = np.zeros((n_rules, len(grid), len(knots)))
    delta_night = np.zeros_like(delta_day) if night is not day else delta_day
    dt_day, dt_night = np.diff(day.t_s), np.diff(night.t_s)
    inside = [step_rule == r for r in range(n_rules)]
    for g, cap in enumerate(grid):
        gd, gn = profiles(np.full(n_rules, cap))
        change_day = np.diff(gd.t_s) - dt_day
        change_night = change_day if night is day else np.diff(gn.t_s) - dt_night
        for r in range(n_rules):
            delta_day[r, g] = _cum_at(x, np.where(inside[r], change_day, 0.0), knots_m)
            if night is not day:
                delta_night[r, g] = _cum_at(x, np.where(inside[r], change_night, 0.0), knots_m)
    return SpeedProfiles(
        day=day, night=night, cap_rules=cap_rules, grid_kmh=grid, knots_km=knots,
        cum_day_s=day.time_at(knots_m), cum_night_s=night.time_at(knots_m),
        delta_day_s=delta_day, delta_night_s=delta_night)


def governing_caps(itinerary: Itinerary, rules: OperatingDefaults) -> list[CapRule]:
    """The cap rules that govern some stretch of the route, in the order of the rules."""
    seg_rule = [first_rule(rules.caps, s.country, s.line) for s in itinerary.segments]
    return [r for r in rules.caps if any(r is x for x in seg_rule)]


def _seg_rule_index(itinerary: Itinerary, rules: OperatingDefaults,
                    cap_rules: list[CapRule]) -> np.ndarray:
    seg_rule = [first_rule(rules.caps, s.country, s.line) for s in itinerary.segments]
    return np.array([next((k for k, r in enumerate(cap_rules) if r is x), -1)
                     for x in seg_rule])


def profiles_at(itinerary: Itinerary, traction: Traction, rules: OperatingDefaults,
                caps: np.ndarray, *, max_speed_kmh: float) -> tuple[SpeedProfile, SpeedProfile]:
    """Day and night profiles with cap ``caps[r]`` on the stretches of the r-th governing cap
    rule (:func:`governing_caps`): e.g. a typical trip's, at the median of each drawn cap."""
    make = _profile_maker(itinerary, traction, rules, max_speed_kmh=max_speed_kmh)
    return make(np.asarray(caps, dtype=float))


def _profile_maker(itinerary: Itinerary, traction: Traction, rules: OperatingDefaults, *,
                   max_speed_kmh: float) -> Callable[[np.ndarray],
                                                     tuple[SpeedProfile, SpeedProfile]]:
    segs = itinerary.segments
    length_m = itinerary.length_km * 1000
    n_cells = max(1, math.ceil(length_m / DX_M))
    cell_seg = itinerary.segment_index((np.arange(n_cells) + 0.5) * DX_M / 1000)
    seg_rule_index = _seg_rule_index(itinerary, rules, governing_caps(itinerary, rules))
    seg_limit = np.array([s.speed_limit_kmh or math.inf for s in segs])
    seg_night = np.ones(len(segs))
    for j, s in enumerate(segs):
        night_rule = first_rule(rules.night, s.country, s.line)
        if night_rule is not None and night_rule.mode == "slow":
            seg_night[j] = night_rule.speed_factor or 1.0
    sections = [(sec.start_km * 1000, sec.dynamics) for sec in traction.sections]
    rest_m = sorted({h.km * 1000 for h in traction.halts})
    profile = speed_profiles(length_m, sections, n_cells=n_cells, stops_m=rest_m, dx=DX_M,
                             supplement=rules.supplement.value)
    passing = rules.station_passing
    in_zone = None if passing is None else _station_zones(
        n_cells, [m.km for m in itinerary.marks_of(MarkKind.STATION)], passing.zone_m,
        traction.train_length_m)

    def profiles(caps: np.ndarray) -> tuple[SpeedProfile, SpeedProfile]:
        """Day and night profiles with cap ``caps[r]`` on the stretches of cap rule r."""
        cap = np.where(seg_rule_index >= 0, caps[np.maximum(seg_rule_index, 0)], math.inf)
        limit = np.minimum(seg_limit, cap)
        limit[~np.isfinite(limit)] = max_speed_kmh
        cells = limit[cell_seg] * KMH
        if passing is not None:
            cells[in_zone] = np.minimum(cells[in_zone], passing.kmh * KMH)
        day = profile(cells)
        if np.all(seg_night == 1):
            return day, day
        return day, profile(cells * seg_night[cell_seg])

    return profiles


def _cum_at(x: np.ndarray, step: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The running sum of per-step values ``step`` (between points ``x``), at positions ``at``."""
    return np.interp(at, x, np.concatenate([[0.0], np.cumsum(step)]))


def _station_zones(n_cells: int, stations_km: list[float], zone_m: float,
                   train_m: float) -> np.ndarray:
    """The cells where the station speed holds: while any part of the train is in a station
    zone."""
    in_zone = np.zeros(n_cells, dtype=bool)
    for km in stations_km:
        z0 = int(max(km * 1000 - zone_m / 2, 0) // DX_M)
        z1 = math.ceil((km * 1000 + zone_m / 2 + train_m) / DX_M)
        in_zone[z0:z1] = True
    return in_zone
