"""The journey as a SimPy discrete-event model: the leader's train and its pilot train.

Both trains are SimPy processes (:meth:`_Replication.leader`, :meth:`_Replication.pilot`) that
advance *from event to event*: a halt (border formalities, gauge change, locomotive change,
stop, ceremony), an unplanned stop, a night rule taking effect, or (for the leader) a place where
the pilot train stopped. Between events a train runs the speed profile: the time from km a to km
b is ``pace × (C(b) − C(a))`` with C the cumulative running time of the replication's profile
(:mod:`simulator.planning.profiles`), so nothing steps along the line. Positions of unplanned
stops are drawn up front, per replication, as a Poisson process along the route.

The leader keeps the headway behind the pilot at every point: it may pass (or leave) a place no
earlier than ``headway`` after the pilot did. Running the same profile, the gap between the two
trains changes only where one of them stops or where a night rule slows one and not yet the
other, so the rule is checked there: where the pilot stopped (the leader, arriving, waits until
``headway`` after the pilot left), at every stop of the leader's own, and where a night rule
takes effect for it. The pilot's own delays therefore hold the leader up.

Times are seconds from the plan's epoch (UTC). :func:`simulate_batch` runs the replications of a
:class:`~simulator.parameters.ParameterTable` (drawn by :func:`draw_parameters`, or supplied by
the caller) and keeps only the leader's times at the plan's route points and halts
(:class:`BatchTimes`); with ``record=True`` it also keeps each replication's :class:`Timeline`,
every event with time, time zone, km, place, kind, duration and cause.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Any

import numpy as np
import simpy

from simulator.parameters import (
    Distribution,
    ParameterKind,
    ParameterSpec,
    ParameterTable,
    uniform_rows,
)
from simulator.scenario import Duration

__all__ = [
    "BatchTimes", "DelayRule", "HaltKind", "JourneyPlan", "NightSpec", "PlannedHalt",
    "StartState", "Timeline",
    "TimelineEvent", "draw_parameters", "format_offset", "simulate_batch",
]

#: a train is at a place when it is this close (km)
_EPS_KM = 1e-9
#: clock tolerance at the edges of night windows (minutes)
_EPS_MIN = 1e-6
#: a SimPy process (or a part of one, run with ``yield from``)
_Process = Generator[simpy.Event, Any, None]
#: random streams: parameters, unplanned stops, and the rare extension of the latter
_STREAM_PARAMETERS, _STREAM_NOISE, _STREAM_MORE_NOISE = 0, 1, 2


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
    train runs at ``speed_factor`` of its speed (``slow``) or does not run (``halt``)."""

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
    def _noise_layout(self) -> list[tuple[int, int, int]]:
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
        return sum(2 * self.delay_rules[d].slots for _, d, _ in self._noise_layout)

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


# ----------------------------------------------------------------------------------------------
# outputs
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimelineEvent:
    t_s: float
    km: float
    place: str
    kind: str
    duration_s: float
    cause: str
    train: str = "leader"
    tz_offset_s: float = 0.0
    tz: str = ""


@dataclass
class Timeline:
    """The events of one replication, in time order."""

    epoch: datetime
    events: list[TimelineEvent] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.events.append(TimelineEvent(*args, **kwargs))

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for e in sorted(self.events, key=lambda e: (e.t_s, e.train != "pilot")):
            t = self.epoch + timedelta(seconds=e.t_s)
            local = t + timedelta(seconds=e.tz_offset_s)
            out.append({
                "train": e.train, "kind": e.kind, "place": e.place, "km": round(e.km, 2),
                "time_local": local.strftime("%Y-%m-%d %H:%M") + f" {format_offset(e.tz_offset_s)}",
                "tz": e.tz, "time_utc": t.strftime("%Y-%m-%d %H:%M:%SZ"),
                "duration_min": round(e.duration_s / 60, 1), "cause": e.cause,
            })
        return out


def format_offset(seconds: float) -> str:
    """``UTC+09:00`` for an offset in seconds."""
    sign = "+" if seconds >= 0 else "-"
    m = round(abs(seconds) / 60)
    return f"UTC{sign}{m // 60:02d}:{m % 60:02d}"


@dataclass
class BatchTimes:
    """The leader's times in a batch of replications (seconds after the plan's epoch).

    Attributes
    ----------
    arrive_s
        ``(n, P)`` arrival at (or passage of) each route point; NaN before a start state.
    dwell_depart_s
        ``(n, Q)`` departure from each point where the train may dwell
        (:attr:`JourneyPlan.dwell_points`).
    halt_start_s, halt_end_s
        ``(n, H)`` start and end of each halt; NaN for halts before a start state.
    timelines
        With ``record=True``, each replication's events.
    pilot_s
        With ``record=True`` and a pilot train, ``(n, P)``: when the pilot left (or passed)
        each route point.
    """

    arrive_s: np.ndarray
    dwell_depart_s: np.ndarray
    halt_start_s: np.ndarray
    halt_end_s: np.ndarray
    timelines: list[Timeline] | None = None
    pilot_s: np.ndarray | None = None


@dataclass(frozen=True)
class StartState:
    """Where and when replications start, instead of the origin at the departure time.

    The leader's train is at ``km`` at time ``t_s`` (seconds after the plan's epoch), one value
    per replication (or one for all). Halts at exactly ``km`` are still to come when
    ``halts_pending`` (the train was seen arriving or standing there), done otherwise (it was
    seen passing or leaving). Unplanned stops are drawn for the stretch ahead only.

    What is not kept: the pilot train's actual position. It is placed at the same km one
    headway earlier (``t_s − headway``), as if it had kept exactly the headway, with its halts
    at ``km`` done; a hold-up of the pilot in progress at the time of the state is forgotten.
    """

    km: np.ndarray | float
    t_s: np.ndarray | float
    halts_pending: bool = False


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------
def draw_parameters(plan: JourneyPlan, seed: int | np.random.Generator, n: int, *,
                    start: int = 0) -> ParameterTable:
    """Draw ``n`` replications' parameters from the scenario's rules.

    Parameters
    ----------
    plan
        The journey plan; its :attr:`~JourneyPlan.parameters` are the columns.
    seed
        Master seed. Row ``i`` depends only on ``seed`` and ``start + i``, so any split of the
        rows into batches draws the same values. A :class:`numpy.random.Generator` may be given
        instead (rows then depend on the generator's state).
    n
        Rows to draw.
    start
        Index of the first row (for drawing a batch of a larger run).

    Returns
    -------
    ParameterTable
        ``n`` rows; the noise keys are the row indices ``start, …, start + n − 1``.
    """
    specs = plan.parameters
    keys = np.arange(start, start + n, dtype=np.int64)
    if isinstance(seed, np.random.Generator):
        u = seed.random((n, len(specs)))
        master = int(seed.integers(2**62))
    else:
        master = int(seed)
        u = uniform_rows(master, _STREAM_PARAMETERS, keys, len(specs))
    values = np.empty((n, len(specs)))
    for j, spec in enumerate(specs):
        values[:, j] = spec.default.ppf(u[:, j])
    return ParameterTable(specs, values, keys, master)


# ----------------------------------------------------------------------------------------------
# the batch
# ----------------------------------------------------------------------------------------------
def simulate_batch(plan: JourneyPlan, params: ParameterTable, *,
                   start: StartState | None = None, record: bool = False) -> BatchTimes:
    """Run one replication per row of ``params``.

    Parameters
    ----------
    plan
        The journey plan.
    params
        One row per replication; columns as :attr:`JourneyPlan.parameters`. Caps must lie within
        the plan's grid of caps (:attr:`JourneyPlan.grid_kmh`).
    start
        Start the replications from a given state instead of the origin at the departure time
        (the ``depart`` column is then unused).
    record
        Keep each replication's event timeline (for a few replications: it is slow).

    Returns
    -------
    BatchTimes
        The leader's times at the route points and halts. Each row depends only on its row of
        ``params`` and its noise key, never on the other rows.
    """
    batch = _Batch(plan, params, start)
    n, h = len(params), len(plan.halts)
    hs = np.full((n, h), np.nan)
    he = np.full((n, h), np.nan)
    final = np.full(n, np.nan)
    anchors = _Anchors()
    timelines: list[Timeline] | None = [] if record else None
    pilot = np.full((n, plan.n_points), np.nan) if record and plan.has_pilot else None
    for r in range(n):
        rep = _Replication(plan, batch, r, anchors, hs, he, record=record)
        rep.run()
        final[r] = rep.arrival
        if timelines is not None:
            assert rep.timeline is not None
            timelines.append(rep.timeline)
        if pilot is not None:
            pilot[r] = rep.pilot_times()
    arrive, depart = anchors.times(plan, batch, n)
    arrive[:, -1] = final
    # the start: the origin at the departure time, or the given state
    at = np.isclose(plan.km[None, :], batch.x0[:, None], rtol=0, atol=_EPS_KM)
    arrive = np.where(at, batch.t0[:, None], arrive)
    if timelines is not None:
        for r, tl in enumerate(timelines):
            _passes(plan, arrive[r], tl)
    return BatchTimes(arrive, depart, hs, he, timelines, pilot)


class _Batch:
    """Per-batch inputs, computed with numpy for all rows at once."""

    def __init__(self, plan: JourneyPlan, params: ParameterTable,
                 start: StartState | None) -> None:
        if params.specs != plan.parameters:
            msg = "the parameter table's columns are not this plan's parameters"
            raise ValueError(msg)
        if np.any(params.noise < 0):
            msg = "noise keys must be non-negative"
            raise ValueError(msg)
        n = len(params)
        self.n = n
        self.plan = plan
        cols = {kind: params.columns(kind) for kind in ParameterKind}
        self.depart = cols[ParameterKind.DEPART][:, 0]
        self.headway = (cols[ParameterKind.HEADWAY][:, 0] if plan.has_pilot
                        else np.zeros(n))
        self.pace = cols[ParameterKind.PACE][:, 0]
        if np.any(self.pace <= 0) or np.any(self.headway < 0):
            msg = "pace factors must be positive and headways non-negative"
            raise ValueError(msg)
        self.g0, self.w1 = plan.cap_weights(cols[ParameterKind.CAP])
        self.cd_pt = plan.cum_at_points(self.g0, self.w1)
        self.cn_pt = (plan.cum_at_points(self.g0, self.w1, night=True) if plan.night_slows
                      else self.cd_pt)
        self.halt_s = cols[ParameterKind.HALT].tolist()
        # the halts and the destination as plain Python numbers, for the per-row loop
        self.halt_km = plan.km[plan.halt_point].tolist()
        self.halt_cd = self.cd_pt[:, plan.halt_point].tolist()
        self.halt_cn = self.cn_pt[:, plan.halt_point].tolist()
        self.end_cd = self.cd_pt[:, -1].tolist()
        self.end_cn = self.cn_pt[:, -1].tolist()
        pilot_halts = [k for k, h in enumerate(plan.halts) if h.pilot_halts]
        self.leader_halts = list(range(len(plan.halts)))
        self.pilot_halts = pilot_halts
        pilot = np.zeros((n, len(plan.halts)))
        if plan.has_pilot and pilot_halts:
            pilot[:, pilot_halts] = cols[ParameterKind.PILOT_HALT]
        self.pilot_halt_s = pilot.tolist()
        self.pilot_halts_pending = start is None
        if start is None:
            self.x0 = np.zeros(n)
            self.t0 = self.depart.copy()
            self.halts_pending = True
        else:
            self.x0 = np.broadcast_to(np.asarray(start.km, dtype=float), (n,)).copy()
            self.t0 = np.broadcast_to(np.asarray(start.t_s, dtype=float), (n,)).copy()
            self.halts_pending = start.halts_pending
            if np.any(self.x0 < 0) or np.any(self.x0 > plan.length_km + _EPS_KM):
                msg = f"start positions must lie on the route (0–{plan.length_km:,.1f} km)"
                raise ValueError(msg)
        rows = np.arange(n)
        self.c0d = plan.cum_at(self.x0, rows, self.g0, self.w1)
        self.c0n = plan.cum_at(self.x0, rows, self.g0, self.w1, night=True) \
            if plan.night_slows else self.c0d
        self.delays = [self._delays(params, cols, t) for t in range(
            2 if plan.has_pilot and plan.pilot_delays else 1)]
        self._knots: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _delays(self, params: ParameterTable, cols: dict[ParameterKind, np.ndarray],
                train: int) -> list[list[tuple[float, float, float, float, int]]]:
        """Per row, the unplanned stops of one train: (km, C day, C night, seconds, rule)."""
        plan, n = self.plan, self.n
        layout = [(d, col) for t, d, col in plan._noise_layout if t == train]
        rate = cols[ParameterKind.DELAY_RATE]
        scale = cols[ParameterKind.DELAY_SCALE]
        if np.any(rate < 0) or np.any(scale < 0):
            msg = "delay rate and duration factors must be non-negative"
            raise ValueError(msg)
        u = uniform_rows(params.seed, _STREAM_NOISE, params.noise, plan.noise_width)
        rows_l: list[np.ndarray] = []
        km_l: list[np.ndarray] = []
        dur_l: list[np.ndarray] = []
        rule_l: list[np.ndarray] = []
        for d, col in layout:
            rule = plan.delay_rules[d]
            k = rule.slots
            gaps = -np.log1p(-u[:, col:col + k])
            events = np.cumsum(gaps, axis=1)
            limit = rate[:, d] * rule.expected
            hit = events < limit[:, None]
            dur = rule.duration_s.ppf(u[:, col + k:col + 2 * k]) * scale[:, d:d + 1]
            r_idx, e_idx = np.nonzero(hit)
            lam = events[r_idx, e_idx] / rate[r_idx, d]
            extra_rows: list[int] = []
            extra_lam: list[float] = []
            extra_dur: list[float] = []
            for r in np.flatnonzero(hit[:, -1]):  # more stops than slots: draw the rest
                more = _more_stops(params.seed, int(params.noise[r]), train, d,
                                   float(events[r, -1]), float(limit[r]), rule,
                                   float(scale[r, d]))
                extra_rows += [int(r)] * len(more)
                extra_lam += [x / rate[r, d] for x, _ in more]
                extra_dur += [y for _, y in more]
            rows_l += [r_idx, np.array(extra_rows, dtype=int)]
            km_l += [rule.km_at(lam), rule.km_at(np.array(extra_lam))]
            dur_l += [dur[r_idx, e_idx], np.array(extra_dur)]
            rule_l += [np.full(len(r_idx) + len(extra_rows), d)]
        out: list[list[tuple[float, float, float, float, int]]] = [[] for _ in range(n)]
        if not rows_l:
            return out
        rows = np.concatenate(rows_l).astype(int)
        km = np.concatenate(km_l)
        keep = km > self.x0[rows] + _EPS_KM
        rows, km = rows[keep], km[keep]
        dur = np.concatenate(dur_l)[keep]
        rule_ix = np.concatenate(rule_l)[keep]
        dwell = dur + np.interp(km, plan.knots_km, plan.stop_loss_s)
        cd = plan.cum_at(km, rows, self.g0, self.w1)
        cn = plan.cum_at(km, rows, self.g0, self.w1, night=True) if plan.night_slows else cd
        order = np.lexsort((km, rows))
        for r, x, c1, c2, s, d in zip(rows[order].tolist(), km[order].tolist(),
                                      cd[order].tolist(), cn[order].tolist(),
                                      dwell[order].tolist(), rule_ix[order].tolist(),
                                      strict=True):
            out[r].append((x, c1, c2, s, d))
        return out

    def knots(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative running time (day, night) at every knot for replication ``r``."""
        if r not in self._knots:
            day = self.plan.cum_knots(self.g0[r], self.w1[r])
            night = self.plan.cum_knots(self.g0[r], self.w1[r], night=True) \
                if self.plan.night_slows else day
            self._knots = {r: (day, night)}
        return self._knots[r]


def _more_stops(seed: int, key: int, train: int, rule_index: int, last: float, limit: float,
                rule: DelayRule, scale: float) -> list[tuple[float, float]]:
    """Stops beyond the slots kept per replication: (expected-count position, seconds)."""
    rng = np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(_STREAM_MORE_NOISE, key, train, rule_index)))
    out: list[tuple[float, float]] = []
    while True:
        u = rng.random((2, rule.slots))
        events = last + np.cumsum(-np.log1p(-u[0]))
        dur = rule.duration_s.ppf(u[1]) * scale
        for e, s in zip(events.tolist(), dur.tolist(), strict=True):
            if e >= limit:
                return out
            out.append((e, s))
        last = float(events[-1])


class _Anchors:
    """Where each replication's leader left a place (stops, holds, changes of night mode): the
    times at the route points follow from them and the cumulative running time."""

    def __init__(self) -> None:
        self.row: list[int] = []
        self.km: list[float] = []
        self.cd: list[float] = []
        self.cn: list[float] = []
        self.t: list[float] = []
        self.night: list[bool] = []

    def add(self, row: int, km: float, cd: float, cn: float, t: float, night: bool) -> None:
        self.row.append(row)
        self.km.append(km)
        self.cd.append(cd)
        self.cn.append(cn)
        self.t.append(t)
        self.night.append(night)

    def times(self, plan: JourneyPlan, batch: _Batch, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Arrival at every point and departure from the dwell points, ``(n, P)``, ``(n, Q)``."""
        row = np.array(self.row, dtype=np.int64)
        width = plan.length_km + 1.0
        key = row * width + np.array(self.km)
        cd, cn = np.array(self.cd), np.array(self.cn)
        t, night = np.array(self.t), np.array(self.night, dtype=bool)

        def at(points: np.ndarray, side: str) -> np.ndarray:
            q_row = np.repeat(np.arange(n), len(points))
            q_key = q_row * width + np.tile(plan.km[points], n)
            idx = np.searchsorted(key, q_key, side=side) - 1  # type: ignore[call-overload]
            ok = (idx >= 0) & (row[np.maximum(idx, 0)] == q_row)
            idx = np.maximum(idx, 0)
            c_day = batch.cd_pt[:, points].ravel()
            c_night = batch.cn_pt[:, points].ravel()
            run = np.where(night[idx], c_night - cn[idx], c_day - cd[idx])
            out = np.where(ok, t[idx] + batch.pace[q_row] * run, np.nan)
            return out.reshape(n, len(points))

        arrive = at(np.arange(plan.n_points), "left")
        depart = at(plan.dwell_points, "right")
        return arrive, depart


class _Train:
    """Where a train is: km, cumulative running time there (day and night), night mode."""

    __slots__ = ("cd", "cn", "km", "night")

    def __init__(self, km: float, cd: float, cn: float) -> None:
        self.km, self.cd, self.cn = km, cd, cn
        self.night = False


class _Replication:
    """One replication: the two SimPy processes and what they share."""

    def __init__(self, plan: JourneyPlan, batch: _Batch, r: int, anchors: _Anchors,
                 hs: np.ndarray, he: np.ndarray, *, record: bool) -> None:
        self.plan, self.batch, self.r = plan, batch, r
        self.anchors, self.hs, self.he = anchors, hs, he
        self.env = simpy.Environment()
        self.pace = float(batch.pace[r])
        self.headway = float(batch.headway[r])
        self.x0, self.t0 = float(batch.x0[r]), float(batch.t0[r])
        self.c0 = (float(batch.c0d[r]), float(batch.c0n[r]))
        self.arrival = math.nan
        self.timeline = Timeline(plan.epoch) if record else None
        self.epoch_s = plan.epoch.timestamp()
        # the pilot's published progress: where it left, when, in which mode
        self.p_km: list[float] = []
        self.p_cd: list[float] = []
        self.p_cn: list[float] = []
        self.p_t: list[float] = []
        self.p_night: list[bool] = []
        self.p_frontier: tuple[float, float, float] | None = None
        self.p_moved: simpy.Event | None = None  # made when the leader waits for the pilot
        self.night = plan.has_night

    def run(self) -> None:
        if self.plan.has_pilot:
            self.env.process(self.pilot())
        self.env.process(self.leader())
        self.env.run()

    # -- the stops of each train ----------------------------------------------------------------
    def _groups(self, *, pilot: bool) -> list[tuple[float, float, float, list[tuple[Any, ...]]]]:
        """The train's stops in km order, grouped by place: (km, C day, C night, items); an
        item is ("halt", k, seconds) or ("delay", rule, seconds). The destination comes last."""
        plan, b, r = self.plan, self.batch, self.r
        x0 = self.x0
        durations = b.pilot_halt_s[r] if pilot else b.halt_s[r]
        delays = b.delays[1 if pilot and len(b.delays) > 1 else 0] \
            if not pilot or plan.pilot_delays else None
        stops: list[tuple[float, float, float, tuple[Any, ...]]] = []
        pending = b.pilot_halts_pending if pilot else b.halts_pending
        cds, cns = b.halt_cd[r], b.halt_cn[r]
        for k in (b.pilot_halts if pilot else b.leader_halts):
            km = b.halt_km[k]
            if km > x0 + _EPS_KM or (pending and km > x0 - _EPS_KM):
                stops.append((km, cds[k], cns[k], ("halt", k, durations[k])))
        if delays is not None:
            for km, cd, cn, s, d in delays[r]:
                stops.append((km, cd, cn, ("delay", d, s)))
        stops.sort(key=lambda s: s[0])
        groups: list[tuple[float, float, float, list[tuple[Any, ...]]]] = []
        for km, cd, cn, item in stops:
            if groups and km - groups[-1][0] <= _EPS_KM:
                groups[-1][3].append(item)
            else:
                groups.append((km, cd, cn, [item]))
        last = (plan.length_km, b.end_cd[r], b.end_cn[r])
        if groups and abs(groups[-1][0] - last[0]) <= _EPS_KM:
            return groups
        groups.append((*last, []))
        return groups

    # -- the leader's train ---------------------------------------------------------------------
    def leader(self) -> _Process:
        env = self.env
        yield env.timeout(self.t0)
        me = _Train(self.x0, *self.c0)
        self._log(env.now, me.km, "depart", 0.0,
                  "scheduled departure" if self.x0 == 0 else "start state")
        groups = self._groups(pilot=False)
        if groups[0][0] > me.km + _EPS_KM:  # nothing to do here: leave, keeping the headway
            yield from self._hold(me)
            self.anchors.add(self.r, me.km, me.cd, me.cn, env.now, me.night)
        for g, (km, cd, cn, items) in enumerate(groups):
            yield from self._advance(me, km, cd, cn)
            last = g == len(groups) - 1
            if last:
                yield from self._hold(me)
                self.arrival = env.now
                self._log(env.now, km, "arrive", 0.0, "destination")
            for item in items:
                if item[0] == "halt":
                    k, s = item[1], item[2]
                    h = self.plan.halts[k]
                    self.hs[self.r, k] = env.now
                    self._log(env.now, km, h.kind, s, h.cause, place=h.place)
                    yield env.timeout(s)
                    self.he[self.r, k] = env.now
                else:
                    d, s = item[1], item[2]
                    self._log(env.now, km, "delay", s,
                              f"unplanned stop: {self.plan.delay_rules[d].cause}",
                              between=True)
                    yield env.timeout(s)
            if last:
                return
            yield from self._hold(me)
            self.anchors.add(self.r, me.km, me.cd, me.cn, env.now, me.night)

    def _advance(self, me: _Train, km: float, cd: float, cn: float) -> _Process:
        """Run to ``km``, holding behind the pilot where it stopped on the way."""
        after = me.km
        while self.plan.has_pilot:
            y = self._next_pilot_point(after)
            if y is None or y[0] >= km - _EPS_KM:
                break
            after = y[0]
            if not self.night:
                # where the pilot has left already and the leader, running on, keeps the
                # headway anyway, nothing happens: no event
                i = bisect_right(self.p_km, y[0] + _EPS_KM) - 1
                if i >= 0 and abs(self.p_km[i] - y[0]) <= _EPS_KM and (
                        self.env.now + self.pace * (y[1] - me.cd)
                        >= self.p_t[i] + self.headway):
                    continue
            yield from self._run(me, *y, leader=True)
            yield from self._hold(me)
            self.anchors.add(self.r, me.km, me.cd, me.cn, self.env.now, me.night)
        yield from self._run(me, km, cd, cn, leader=True)

    def _next_pilot_point(self, km: float) -> tuple[float, float, float] | None:
        """The first place after ``km`` where the pilot stopped or may stop next."""
        i = bisect_right(self.p_km, km + _EPS_KM)
        if i < len(self.p_km):
            return self.p_km[i], self.p_cd[i], self.p_cn[i]
        f = self.p_frontier
        if f is None or f[0] <= km + _EPS_KM:
            return None
        return f

    def _hold(self, me: _Train) -> _Process:
        """Keep the headway: leave ``me.km`` no earlier than ``headway`` after the pilot."""
        if not self.plan.has_pilot:
            return
        env = self.env
        t0 = env.now
        waited = False
        while (tp := self._pilot_time_at(me.km, me.cd, me.cn)) is None:
            waited = True
            if self.p_moved is None:
                self.p_moved = self.env.event()
            yield self.p_moved
        need = tp + self.headway
        if need > env.now:
            yield env.timeout(need - env.now)
        if env.now > t0:
            self._log(t0, me.km, "pilot_wait" if waited else "headway_wait", env.now - t0,
                      "the pilot train is stopped ahead" if waited else
                      f"keeps {self.headway / 60:.0f} min behind the pilot train")

    def _pilot_time_at(self, km: float, cd: float, cn: float) -> float | None:
        """When the pilot left (or passed) ``km``; None while that is not known yet."""
        i = bisect_right(self.p_km, km + _EPS_KM) - 1
        if i < 0:
            return None
        if abs(self.p_km[i] - km) <= _EPS_KM:
            return self.p_t[i]
        later = i < len(self.p_km) - 1
        if not later and (self.p_frontier is None or km >= self.p_frontier[0] - _EPS_KM):
            return None
        run = cn - self.p_cn[i] if self.p_night[i] else cd - self.p_cd[i]
        return self.p_t[i] + self.pace * run

    # -- the pilot train ------------------------------------------------------------------------
    def pilot(self) -> _Process:
        env = self.env
        yield env.timeout(max(self.t0 - self.headway, 0.0))
        me = _Train(self.x0, *self.c0)
        self._log(env.now, me.km, "depart", 0.0, "pilot train leaves ahead", train="pilot")
        groups = self._groups(pilot=True)
        for g, (km, cd, cn, items) in enumerate(groups):
            if km > me.km + _EPS_KM:
                self._publish(me)
                self.p_frontier = (km, cd, cn)
                yield from self._run(me, km, cd, cn, leader=False)
            for item in items:
                yield env.timeout(item[2])
            if g == len(groups) - 1:
                self._log(env.now, km, "arrive", 0.0, "pilot train arrives", train="pilot")
                self._publish(me)
                self.p_frontier = None
                return

    def pilot_times(self) -> np.ndarray:
        """``(P,)`` when the pilot left or passed each route point (after the run)."""
        plan, b, r = self.plan, self.batch, self.r
        out = np.full(plan.n_points, np.nan)
        for p in range(plan.n_points):
            t = self._pilot_time_at(float(plan.km[p]), float(b.cd_pt[r, p]),
                                    float(b.cn_pt[r, p]))
            out[p] = np.nan if t is None else t
        return out

    def _publish(self, me: _Train) -> None:
        """The pilot leaves ``me.km`` now: tell the leader."""
        self.p_km.append(me.km)
        self.p_cd.append(me.cd)
        self.p_cn.append(me.cn)
        self.p_t.append(self.env.now)
        self.p_night.append(me.night)
        if self.p_moved is not None:
            moved, self.p_moved = self.p_moved, None
            moved.succeed()

    # -- running ---------------------------------------------------------------------------------
    def _run(self, me: _Train, km: float, cd: float, cn: float, *, leader: bool
             ) -> _Process:
        """Run ``me`` to ``km`` (no stop on the way but for night rules)."""
        if not self.night:
            if km > me.km:
                yield self.env.timeout(self.pace * (cd - me.cd))
            me.km, me.cd, me.cn = km, cd, cn
            return
        yield from self._run_at_night(me, km, cd, cn, leader=leader)

    def _run_at_night(self, me: _Train, km: float, cd: float, cn: float, *, leader: bool
                      ) -> _Process:
        """Run to ``km`` piece by piece: a piece ends where the night rule or the time zone
        changes, or where the local clock enters or leaves the rule's window."""
        plan, env = self.plan, self.env
        train = "leader" if leader else "pilot"
        breaks = plan.night_breaks_km
        while km - me.km > _EPS_KM:
            piece = min(int(np.searchsorted(breaks, me.km + _EPS_KM, side="right")) - 1,
                        len(plan.night_rule) - 1)
            end = min(float(breaks[piece + 1]), km)
            rule = int(plan.night_rule[piece])
            night, switch_s = False, math.inf
            if rule >= 0:
                spec = plan.night[rule]
                local = ((self.epoch_s + env.now + plan.night_offset_s[piece]) / 60.0) % 1440
                inside, minutes = spec.state(local)
                if inside and spec.mode == "halt":
                    wait = minutes * 60.0
                    self._log(env.now, me.km, "night_halt", wait,
                              "night rule: halt until the window ends", train=train)
                    yield env.timeout(wait)
                    self._moved(me, leader)
                    continue
                night = inside and spec.mode == "slow"
                switch_s = minutes * 60.0
            me.night = night
            c_me = me.cn if night else me.cd
            c_end = self._cum(end)
            c_end_mode = c_end[1] if night else c_end[0]
            run = self.pace * (c_end_mode - c_me)
            if run > switch_s:  # the window opens or closes on the way: stop the piece there
                target = c_me + switch_s / self.pace
                day_k, night_k = self.batch.knots(self.r)
                cum = night_k if night else day_k
                end = float(np.interp(target, cum, plan.knots_km))
                c_end = self._cum(end)
                run = switch_s
            if end >= km - _EPS_KM:
                end, c_end = km, (cd, cn)
            if night:
                self._log(env.now, me.km, "night_slow", run,
                          "night rule: reduced speed in this section", train=train)
            if not leader:
                self.p_frontier = (end, *c_end)
            yield env.timeout(run)
            me.km, me.cd, me.cn = end, c_end[0], c_end[1]
            if end < km - _EPS_KM:
                self._moved(me, leader)

    def _moved(self, me: _Train, leader: bool) -> None:
        """A night rule changed how ``me`` runs at ``me.km``."""
        if leader:
            self.anchors.add(self.r, me.km, me.cd, me.cn, self.env.now, me.night)
        else:
            self._publish(me)

    def _cum(self, km: float) -> tuple[float, float]:
        """This replication's cumulative running time (day, night) at ``km``."""
        day, night = self.batch.knots(self.r)
        knots = self.plan.knots_km
        return float(np.interp(km, knots, day)), float(np.interp(km, knots, night))

    # -- the record -----------------------------------------------------------------------------
    def _log(self, t: float, km: float, kind: str, duration: float, cause: str, *,
             train: str = "leader", place: str | None = None, between: bool = False) -> None:
        if self.timeline is None:
            return
        plan = self.plan
        # the point at km, else the last one before it
        q = max(int(np.searchsorted(plan.km, km + _EPS_KM, side="right")) - 1, 0)
        here = abs(plan.km[q] - km) <= _EPS_KM and plan.place[q]
        if place is None:
            place = (f"km {km:,.0f} ({self._between(km)})" if between or not here
                     else plan.place[q])
        self.timeline.add(t, km, place, kind, duration, cause, train,
                          float(plan.tz_offset_s[q]), plan.tz_name[q])

    def _between(self, km: float) -> str:
        plan = self.plan
        named = [i for i, name in enumerate(plan.place) if name and plan.point_kind[i] not in (
            "station", "filler")]
        before = [i for i in named if plan.km[i] <= km + _EPS_KM]
        after = [i for i in named if plan.km[i] > km + _EPS_KM]
        a = plan.place[before[-1]] if before else plan.place[0]
        b = plan.place[after[0]] if after else plan.place[-1]
        return f"between {a} and {b}"


def _passes(plan: JourneyPlan, arrive: np.ndarray, timeline: Timeline) -> None:
    """Add the places passed and the reserved sections entered to a recorded timeline (ahead
    of the events at the same moment: a train passes a place before it halts there)."""
    passed = Timeline(timeline.epoch)
    for p, name in enumerate(plan.place):
        if not name or np.isnan(arrive[p]) or plan.point_kind[p] in (
                "origin", "destination", "station", "filler"):
            continue
        passed.add(float(arrive[p]), float(plan.km[p]), name, "pass", 0.0, "", "leader",
                   float(plan.tz_offset_s[p]), plan.tz_name[p])
    for a, _ in plan.reserved_km:
        p = int(np.argmin(np.abs(plan.km - a)))
        if abs(plan.km[p] - a) < 0.06 and not np.isnan(arrive[p]):
            passed.add(float(arrive[p]), float(plan.km[p]), plan.place[p] or f"km {a:,.0f}",
                       "reserved_section", 0.0, "line cleared of other traffic for the train",
                       "leader", float(plan.tz_offset_s[p]), plan.tz_name[p])
    timeline.events[:0] = passed.events
