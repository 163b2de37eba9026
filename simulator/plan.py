"""The journey plan: everything the engine needs to run replications of one scenario.

Built once per scenario by :mod:`simulator.planning`; picklable, so it is sent once to each
worker process or Dask worker. Positions are km from the origin, times seconds after ``epoch``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property

import numpy as np

from simulator.calibration.posterior import Calibration, Mode
from simulator.parameters import Distribution, ParameterKind, ParameterSpec
from simulator.scenario import Duration

__all__ = ["DelayRule", "HaltKind", "JourneyPlan", "NightSpec", "PlannedHalt"]

#: clock tolerance at the edges of night windows (minutes)
_EPS_MIN = 1e-6


class HaltKind(StrEnum):
    """Why the train halts."""

    BORDER = "border"
    GAUGE_CHANGE = "gauge_change"
    LOCOMOTIVE_CHANGE = "locomotive_change"
    STOP = "stop"
    CEREMONY = "ceremony"


@dataclass(frozen=True)
class PlannedHalt:
    """A halt of the leader's train (and of the pilot train when ``pilot_halts``)."""

    km: float
    kind: HaltKind
    place: str
    duration: Duration
    pilot_halts: bool
    cause: str


@dataclass(frozen=True)
class NightSpec:
    """A night rule: between ``start_min`` and ``end_min`` (local minutes after midnight) the
    train runs on the night speed profile (``slow``: the rule's speed factor, applied when the
    profiles are computed) or does not run (``halt``)."""

    start_min: int
    end_min: int
    mode: str  # "slow" | "halt"

    def inside(self, local_min: float) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= local_min < self.end_min
        return local_min >= self.start_min or local_min < self.end_min

    def state(self, local_min: float) -> tuple[bool, float]:
        """Inside the window or not, and the minutes until that changes (a clock within a
        hair of a window's edge counts as past it)."""
        if self.start_min == self.end_min:
            return False, math.inf
        inside = self.inside(local_min)
        to_end = (self.end_min - local_min) % 1440
        to_start = (self.start_min - local_min) % 1440
        if inside and to_end < _EPS_MIN:
            return False, to_start
        if not inside and to_start < _EPS_MIN:
            return True, to_end
        return inside, to_end if inside else to_start


@dataclass(frozen=True)
class DelayRule:
    """Unplanned stops of one delay rule: a Poisson process along the stretches it governs.

    ``x0_km``, ``lam0``, ``per_km``: where each stretch starts, the expected number of stops
    before it (at rate multiplier 1) and the expected stops per km inside it.
    """

    name: str
    duration_s: Distribution
    cause: str
    x0_km: np.ndarray
    lam0: np.ndarray
    per_km: np.ndarray
    expected: float  # expected stops over the whole route at rate multiplier 1
    #: a shared rule of the operating defaults (not a scenario's override): calibrations set it
    shared: bool = False

    def km_at(self, lam: np.ndarray) -> np.ndarray:
        """Position of the point with ``lam`` expected stops before it."""
        j = np.maximum(np.searchsorted(self.lam0, lam, side="right") - 1, 0)
        return self.x0_km[j] + (lam - self.lam0[j]) / self.per_km[j]

    @cached_property
    def slots(self) -> int:
        """Random numbers kept per replication for this rule's stops (more are drawn when a
        replication needs them): enough for four times the expected rate, nearly always."""
        lam = 4.0 * self.expected
        k, p, total = 0, math.exp(-lam), math.exp(-lam)
        while total < 1 - 1e-9:
            k += 1
            p *= lam / k
            total += p
        return max(k, 4)


@dataclass
class JourneyPlan:
    """Everything a replication needs, prepared once per scenario (picklable).

    Built by :func:`simulator.planning.prepare`. Positions are km from the origin; times are
    seconds after ``epoch`` (UTC).

    Attributes
    ----------
    km, place, tz_name, tz_offset_s
        The route points (``(P,)``): position, name ('' for a filler), time zone and its UTC
        offset. The outputs keep the leader's time at each.
    point_kind
        The :class:`~simulator.planning.points.PointKind` of each point.
    knots_km, cum_day_s, cum_night_s, delta_day_s, delta_night_s, grid_kmh
        Cumulative running time at knots (:class:`~simulator.planning.profiles.SpeedProfiles`).
    point_knot
        ``(P,)`` knot index of each point.
    stop_loss_s
        ``(K,)`` time lost braking and restarting for an unplanned stop at each knot.
    halts, halt_point
        The halts and the point of each.
    delay_rules
        Unplanned stops, per delay rule that governs some stretch.
    night, night_breaks_km, night_rule, night_offset_s
        Night rules; the route cut where the rule or the UTC offset changes, the rule of each
        piece (-1: none) and its UTC offset.
    reserved_km
        Sections reserved for the train (no unplanned stops there).
    has_pilot, pilot_delays
        Whether a pilot train runs ahead and whether unplanned stops hit it too.
    parameters
        The columns of this plan's :class:`~simulator.parameters.ParameterTable`.
    calibration
        The calibrated operating parameters (:class:`simulator.calibration.Calibration`) that
        :func:`~simulator.journey.draw_parameters` draws from, or None for the hand-set rules
        of the operating defaults. Set by :func:`simulator.planning.prepare`.
    """

    epoch: datetime
    length_km: float
    km: np.ndarray
    place: list[str]
    point_kind: list[str]
    tz_name: list[str]
    tz_offset_s: np.ndarray
    knots_km: np.ndarray
    cum_day_s: np.ndarray
    cum_night_s: np.ndarray
    delta_day_s: np.ndarray
    delta_night_s: np.ndarray
    grid_kmh: np.ndarray
    point_knot: np.ndarray
    stop_loss_s: np.ndarray
    halts: list[PlannedHalt]
    halt_point: np.ndarray
    delay_rules: list[DelayRule]
    night: list[NightSpec]
    night_breaks_km: np.ndarray
    night_rule: np.ndarray
    night_offset_s: np.ndarray
    reserved_km: list[tuple[float, float]]
    has_pilot: bool
    pilot_delays: bool
    parameters: tuple[ParameterSpec, ...]
    calibration: Calibration | None = None
    #: route points where the leader may dwell (halts): their departure times are kept too
    dwell_points: np.ndarray = field(init=False)
    depart_column: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.dwell_points = np.unique(self.halt_point).astype(int)
        self.depart_column = np.full(len(self.km), -1)
        self.depart_column[self.dwell_points] = np.arange(len(self.dwell_points))

    @property
    def n_points(self) -> int:
        return len(self.km)

    def median_caps(self) -> np.ndarray:
        """``(R,)`` the median of each cap column's draw, by cap rule: the calibration's
        posterior median where it sets the cap, else the rule's own median (its ``kmh``)."""
        cal = self.calibration
        targets = ({c: (j, mode) for c, j, mode in cal.targets(self.parameters)}
                   if cal is not None else {})
        caps = sorted((s.index, c) for c, s in enumerate(self.parameters)
                      if s.kind == ParameterKind.CAP)
        out = np.empty(len(caps))
        for r, (_, c) in enumerate(caps):
            j, mode = targets.get(c, (-1, None))
            if mode == Mode.VALUE and cal is not None:
                out[r] = float(np.median(cal.samples[:, j]))
            else:
                out[r] = float(self.parameters[c].default.ppf(np.array([0.5]))[0])
        return out

    @cached_property
    def halts_at(self) -> dict[int, list[int]]:
        """The halts at each route point that has any, in the order they happen."""
        out: dict[int, list[int]] = {}
        for k, p in enumerate(self.halt_point.tolist()):
            out.setdefault(p, []).append(k)
        return out

    def night_rule_at(self, km: float) -> int:
        """Index of the night rule on the stretch leaving ``km`` (-1: none)."""
        piece = int(np.searchsorted(self.night_breaks_km, km, side="right")) - 1
        return int(self.night_rule[min(max(piece, 0), len(self.night_rule) - 1)])

    @cached_property
    def has_night(self) -> bool:
        return bool(np.any(self.night_rule >= 0))

    @cached_property
    def night_slows(self) -> bool:
        return self.delta_night_s is not self.delta_day_s

    @cached_property
    def _delta_points(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.delta_day_s[:, :, self.point_knot],
                self.delta_night_s[:, :, self.point_knot])

    @cached_property
    def noise_layout(self) -> list[tuple[int, int, int]]:
        """(train, rule, first column) of each block of noise columns."""
        trains = 2 if self.has_pilot and self.pilot_delays else 1
        out: list[tuple[int, int, int]] = []
        col = 0
        for t in range(trains):
            for d, rule in enumerate(self.delay_rules):
                out.append((t, d, col))
                col += 2 * rule.slots
        return out

    @property
    def noise_width(self) -> int:
        return sum(2 * self.delay_rules[d].slots for _, d, _ in self.noise_layout)

    def cap_weights(self, caps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grid index below each cap and the weight of the one above (linear in 1/cap)."""
        grid = self.grid_kmh
        lo, hi = float(grid[0]), float(grid[-1])
        if caps.size and (np.nanmin(caps) < lo - 1e-9 or np.nanmax(caps) > hi + 1e-9
                          or np.isnan(caps).any()):
            bad = caps[(caps < lo - 1e-9) | (caps > hi + 1e-9) | np.isnan(caps)]
            msg = (f"speed cap {float(bad.flat[0]):g} km/h lies outside the precomputed "
                   f"{lo:g}–{hi:g} km/h (prepare the plan with a wider cap_span_kmh)")
            raise ValueError(msg)
        g0 = np.clip(np.searchsorted(grid, caps, side="right") - 1, 0, len(grid) - 2)
        inv0, inv1 = 1.0 / grid[g0], 1.0 / grid[g0 + 1]
        return g0, (1.0 / caps - inv0) / (inv1 - inv0)

    def cum_at_points(self, g0: np.ndarray, w1: np.ndarray, *, night: bool = False
                      ) -> np.ndarray:
        """``(n, P)`` cumulative running time at the route points for the given cap weights."""
        base = (self.cum_night_s if night else self.cum_day_s)[self.point_knot]
        delta = self._delta_points[1 if night else 0]
        out = np.broadcast_to(base, (len(g0), len(base))).copy()
        for r in range(delta.shape[0]):
            w = w1[:, r:r + 1]
            out += (1 - w) * delta[r, g0[:, r]] + w * delta[r, g0[:, r] + 1]
        return out

    def cum_at(self, km: np.ndarray, rows: np.ndarray, g0: np.ndarray, w1: np.ndarray, *,
               night: bool = False) -> np.ndarray:
        """Cumulative running time at positions ``km`` for replications ``rows``."""
        knots = self.knots_km
        k = np.clip(np.searchsorted(knots, km, side="right") - 1, 0, len(knots) - 2)
        f = (km - knots[k]) / (knots[k + 1] - knots[k])
        base = self.cum_night_s if night else self.cum_day_s
        delta = self.delta_night_s if night else self.delta_day_s
        out = base[k] * (1 - f) + base[k + 1] * f
        for r in range(delta.shape[0]):
            ga, w = g0[rows, r], w1[rows, r]
            at_k = (1 - w) * delta[r, ga, k] + w * delta[r, ga + 1, k]
            at_k1 = (1 - w) * delta[r, ga, k + 1] + w * delta[r, ga + 1, k + 1]
            out += at_k * (1 - f) + at_k1 * f
        return np.asarray(out)

    def cum_knots(self, g0: np.ndarray, w1: np.ndarray, *, night: bool = False) -> np.ndarray:
        """Cumulative running time at every knot for one replication's cap weights."""
        out = (self.cum_night_s if night else self.cum_day_s).copy()
        delta = self.delta_night_s if night else self.delta_day_s
        for r in range(delta.shape[0]):
            w = w1[r]
            out += (1 - w) * delta[r, g0[r]] + w * delta[r, g0[r] + 1]
        return out
