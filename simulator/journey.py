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
other, so the rule is checked there: where the pilot stopped or a night rule took effect for it
(the leader, arriving, waits until ``headway`` after the pilot left), at every stop of the
leader's own, and where a night rule takes effect for the leader. The pilot's own delays
therefore hold the leader up.

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
from typing import Any

import numpy as np
import simpy

from simulator._batch import EPS_KM, STREAM_CALIBRATION, STREAM_PARAMETERS, Anchors, Batch
from simulator.parameters import ParameterTable, uniform_rows
from simulator.plan import JourneyPlan

__all__ = [
    "BatchTimes", "StartState", "Timeline", "TimelineEvent", "draw_parameters",
    "format_offset", "simulate_batch",
]

#: a SimPy process (or a part of one, run with ``yield from``)
_Process = Generator[simpy.Event, Any, None]


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
        With ``record=True`` or ``pilot=True`` and a pilot train, ``(n, P)``: when the pilot
        left (or passed) each route point.
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

    The pilot train left ``km`` at ``pilot_t_s`` (it may have run on since), with its halts at
    ``km`` done. Without ``pilot_t_s`` it is placed at the same km one headway earlier
    (``t_s − headway``), as if it had kept exactly the headway: a pilot that was further ahead,
    or a hold-up of the pilot in progress at the time of the state, is then forgotten.
    """

    km: np.ndarray | float
    t_s: np.ndarray | float
    halts_pending: bool = False
    pilot_t_s: np.ndarray | float | None = None


# ----------------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------------
def draw_parameters(plan: JourneyPlan, seed: int | np.random.Generator, n: int, *,
                    start: int = 0, defaults: str | None = None) -> ParameterTable:
    """Draw ``n`` replications' parameters from the scenario's rules and the calibration.

    Without a calibration every column is drawn from the scenario's rules (the operating
    defaults and the scenario's overrides). With one (:attr:`JourneyPlan.calibration`, set by
    :func:`simulator.planning.prepare` unless ``defaults="hand"``), each row then takes one
    posterior sample of the shared operating parameters and a trip-level pace factor from the
    fitted spread (see :mod:`simulator.calibration.posterior`).

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
    defaults
        ``"hand"``: the scenario's rules even if the plan has a calibration; ``"calibrated"``:
        the plan's calibration (an error without one); None: the plan's calibration if any.

    Returns
    -------
    ParameterTable
        ``n`` rows; the noise keys are the row indices ``start, …, start + n − 1``.
    """
    specs = plan.parameters
    keys = np.arange(start, start + n, dtype=np.int64)
    calibration = None if defaults == "hand" else plan.calibration
    if defaults == "calibrated" and calibration is None:
        msg = "this plan has no calibration (prepare it with defaults='calibrated')"
        raise ValueError(msg)
    if isinstance(seed, np.random.Generator):
        u = seed.random((n, len(specs)))
        master = int(seed.integers(2**62))
        u_cal = seed.random((n, 2)) if calibration is not None else None
    else:
        master = int(seed)
        u = uniform_rows(master, STREAM_PARAMETERS, keys, len(specs))
        u_cal = (uniform_rows(master, STREAM_CALIBRATION, keys, 2)
                 if calibration is not None else None)
    values = np.empty((n, len(specs)))
    for j, spec in enumerate(specs):
        values[:, j] = spec.default.ppf(u[:, j])
    if calibration is not None:
        assert u_cal is not None
        calibration.apply_uniform(specs, values, u_cal)
    return ParameterTable(specs, values, keys, master)


# ----------------------------------------------------------------------------------------------
# the batch
# ----------------------------------------------------------------------------------------------
def simulate_batch(plan: JourneyPlan, params: ParameterTable, *,
                   start: StartState | None = None, record: bool = False,
                   pilot: bool = False) -> BatchTimes:
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
    pilot
        Keep when the pilot train left each route point (:attr:`BatchTimes.pilot_s`; the line
        occupation needs it), read off the places it left as the leader's times are.

    Returns
    -------
    BatchTimes
        The leader's times at the route points and halts. Each row depends only on its row of
        ``params`` and its noise key, never on the other rows.
    """
    batch = Batch(plan, params, None if start is None else (
        start.km, start.t_s, start.halts_pending), None if start is None else start.pilot_t_s)
    n, h = len(params), len(plan.halts)
    hs = np.full((n, h), np.nan)
    he = np.full((n, h), np.nan)
    final = np.full(n, np.nan)
    anchors = Anchors()
    timelines: list[Timeline] | None = [] if record else None
    kept = np.full((n, plan.n_points), np.nan) if record and plan.has_pilot else None
    left = Anchors() if pilot and plan.has_pilot and not record else None
    for r in range(n):
        rep = _Replication(plan, batch, r, anchors, hs, he, record=record)
        rep.run()
        final[r] = rep.arrival
        if timelines is not None:
            assert rep.timeline is not None
            timelines.append(rep.timeline)
        if kept is not None:
            kept[r] = rep.pilot_times()
        if left is not None:  # the places the pilot left, as anchors of its times
            for i in range(len(rep.p_km)):
                left.add(r, rep.p_km[i], rep.p_cd[i], rep.p_cn[i], rep.p_t[i], rep.p_night[i])
    if left is not None:
        kept = left.at(plan, batch, n, np.arange(plan.n_points), "right")
    arrive, depart = anchors.times(plan, batch, n)
    arrive[:, -1] = final
    # the start: the origin at the departure time, or the given state
    at = np.isclose(plan.km[None, :], batch.x0[:, None], rtol=0, atol=EPS_KM)
    arrive = np.where(at, batch.t0[:, None], arrive)
    if timelines is not None:
        for r, tl in enumerate(timelines):
            _passes(plan, arrive[r], tl)
    return BatchTimes(arrive, depart, hs, he, timelines, kept)


class _Train:
    """Where a train is: km, cumulative running time there (day and night), night mode, and
    when it arrived there."""

    __slots__ = ("arrived", "cd", "cn", "km", "night")

    def __init__(self, km: float, cd: float, cn: float) -> None:
        self.km, self.cd, self.cn = km, cd, cn
        self.night = False
        self.arrived = math.nan


class _Replication:
    """One replication: the two SimPy processes and what they share."""

    def __init__(self, plan: JourneyPlan, batch: Batch, r: int, anchors: Anchors,
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
            if km > x0 + EPS_KM or (pending and km > x0 - EPS_KM):
                stops.append((km, cds[k], cns[k], ("halt", k, durations[k])))
        if delays is not None:
            for km, cd, cn, s, d in delays[r]:
                stops.append((km, cd, cn, ("delay", d, s)))
        stops.sort(key=lambda s: s[0])
        groups: list[tuple[float, float, float, list[tuple[Any, ...]]]] = []
        for km, cd, cn, item in stops:
            if groups and km - groups[-1][0] <= EPS_KM:
                groups[-1][3].append(item)
            else:
                groups.append((km, cd, cn, [item]))
        last = (plan.length_km, b.end_cd[r], b.end_cn[r])
        if groups and abs(groups[-1][0] - last[0]) <= EPS_KM:
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
        if groups[0][0] > me.km + EPS_KM:  # nothing to do here: leave, keeping the headway
            yield from self._hold(me)
            self.anchors.add(self.r, me.km, me.cd, me.cn, env.now, me.night)
        last = len(groups) - 1
        for g, (km, cd, cn, items) in enumerate(groups):
            dwell = sum(item[2] for item in items)
            if g < last:  # run there and stand for the halts and unplanned stops
                yield from self._advance(me, km, cd, cn, dwell)
                self._stood(me.arrived, km, items)
                yield from self._hold(me)
                self.anchors.add(self.r, me.km, me.cd, me.cn, env.now, me.night)
            else:  # the destination: arrive keeping the headway behind the pilot
                yield from self._advance(me, km, cd, cn, 0.0)
                yield from self._hold(me)
                self.arrival = env.now
                self._log(env.now, km, "arrive", 0.0, "destination")
                self._stood(env.now, km, items)
                if dwell:
                    yield env.timeout(dwell)

    def _stood(self, t: float, km: float, items: list[tuple[Any, ...]]) -> None:
        """Record the halts and unplanned stops made at ``km`` from time ``t``, one after the
        other."""
        for item in items:
            s = item[2]
            if item[0] == "halt":
                h = self.plan.halts[item[1]]
                self.hs[self.r, item[1]] = t
                self.he[self.r, item[1]] = t + s
                self._log(t, km, h.kind, s, h.cause, place=h.place)
            else:
                self._log(t, km, "delay", s,
                          f"unplanned stop: {self.plan.delay_rules[item[1]].cause}",
                          between=True)
            t += s

    def _advance(self, me: _Train, km: float, cd: float, cn: float, dwell: float) -> _Process:
        """Run to ``km`` and stand there ``dwell`` seconds, holding behind the pilot where it
        stopped on the way."""
        after = me.km
        while self.plan.has_pilot:
            y = self._next_pilot_point(after)
            if y is None or y[0] >= km - EPS_KM:
                break
            after = y[0]
            if not self.night:
                # where the pilot has left already and the leader, running on, keeps the
                # headway anyway, nothing happens: no event
                i = bisect_right(self.p_km, y[0] + EPS_KM) - 1
                if i >= 0 and abs(self.p_km[i] - y[0]) <= EPS_KM and (
                        self.env.now + self.pace * (y[1] - me.cd)
                        >= self.p_t[i] + self.headway):
                    continue
            yield from self._run(me, *y, leader=True)
            yield from self._hold(me)
            self.anchors.add(self.r, me.km, me.cd, me.cn, self.env.now, me.night)
        yield from self._run(me, km, cd, cn, leader=True, dwell=dwell)

    def _next_pilot_point(self, km: float) -> tuple[float, float, float] | None:
        """The first place after ``km`` where the pilot stopped or may stop next."""
        i = bisect_right(self.p_km, km + EPS_KM)
        if i < len(self.p_km):
            return self.p_km[i], self.p_cd[i], self.p_cn[i]
        f = self.p_frontier
        if f is None or f[0] <= km + EPS_KM:
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

    def _pilot_time_at(self, km: float, cd: float, cn: float, *,
                       arrival: bool = False) -> float | None:
        """When the pilot left (or passed) ``km``; None while that is not known yet. With
        ``arrival``, where the pilot is heading now, when it gets there (a lower bound of when
        it leaves)."""
        i = bisect_right(self.p_km, km + EPS_KM) - 1
        if i < 0:
            return None
        if abs(self.p_km[i] - km) <= EPS_KM:
            return self.p_t[i]
        later = i < len(self.p_km) - 1
        if not later and (self.p_frontier is None or km > self.p_frontier[0] + EPS_KM or (
                not arrival and km >= self.p_frontier[0] - EPS_KM)):
            return None
        run = cn - self.p_cn[i] if self.p_night[i] else cd - self.p_cd[i]
        return self.p_t[i] + self.pace * run

    # -- the pilot train ------------------------------------------------------------------------
    def pilot(self) -> _Process:
        env = self.env
        yield env.timeout(float(self.batch.pilot_t0[self.r]))
        me = _Train(self.x0, *self.c0)
        self._log(env.now, me.km, "depart", 0.0, "pilot train leaves ahead", train="pilot")
        groups = self._groups(pilot=True)
        for g, (km, cd, cn, items) in enumerate(groups):
            dwell = sum(item[2] for item in items)
            if km > me.km + EPS_KM:
                self._publish(me)
                self.p_frontier = (km, cd, cn)
            yield from self._run(me, km, cd, cn, leader=False, dwell=dwell)
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
    def _run(self, me: _Train, km: float, cd: float, cn: float, *, leader: bool,
             dwell: float = 0.0) -> _Process:
        """Run ``me`` to ``km`` (no stop on the way but for night rules), then stand there
        ``dwell`` seconds; ``me.arrived`` is the time of arrival."""
        env = self.env
        if not self.night:  # one event: running there and standing there
            run = self.pace * (cd - me.cd) if km > me.km else 0.0
            me.arrived = env.now + run
            if run + dwell > 0:
                yield env.timeout(run + dwell)
            me.km, me.cd, me.cn = km, cd, cn
            return
        yield from self._run_at_night(me, km, cd, cn, leader=leader)
        me.arrived = env.now
        if dwell > 0:
            yield env.timeout(dwell)

    def _run_at_night(self, me: _Train, km: float, cd: float, cn: float, *, leader: bool
                      ) -> _Process:
        """Run to ``km`` piece by piece: a piece ends where the night rule or the time zone
        changes, or where the local clock enters or leaves the rule's window. Each piece
        starts as a departure: the pilot tells the leader, the leader keeps the headway."""
        plan, env = self.plan, self.env
        train = "leader" if leader else "pilot"
        breaks = plan.night_breaks_km
        first = True
        while km - me.km > EPS_KM:
            if leader and not first:
                yield from self._hold(me)
            first = False
            piece = min(int(np.searchsorted(breaks, me.km + EPS_KM, side="right")) - 1,
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
            if end >= km - EPS_KM:
                end, c_end = km, (cd, cn)
            if leader and plan.has_pilot:
                # the gap to the pilot shrinks along a piece where the pilot ran slower: leave
                # late enough to keep the headway at its end (where the pilot's time is known)
                tp = self._pilot_time_at(end, *c_end, arrival=True)
                if tp is not None and tp + self.headway - run > env.now + 1e-9:
                    wait = tp + self.headway - run - env.now
                    self._log(env.now, me.km, "headway_wait", wait,
                              f"keeps {self.headway / 60:.0f} min behind the pilot train")
                    yield env.timeout(wait)
                    continue
            # leave here in this piece's mode
            if leader:
                self.anchors.add(self.r, me.km, me.cd, me.cn, env.now, night)
            else:
                self._publish(me)
                self.p_frontier = (end, *c_end)
            if night:
                self._log(env.now, me.km, "night_slow", run,
                          "night rule: reduced speed in this section", train=train)
            yield env.timeout(run)
            me.km, me.cd, me.cn = end, c_end[0], c_end[1]

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
        q = max(int(np.searchsorted(plan.km, km + EPS_KM, side="right")) - 1, 0)
        here = abs(plan.km[q] - km) <= EPS_KM and plan.place[q]
        if place is None:
            place = (f"km {km:,.0f} ({self._between(km)})" if between or not here
                     else plan.place[q])
        self.timeline.add(t, km, place, kind, duration, cause, train,
                          float(plan.tz_offset_s[q]), plan.tz_name[q])

    def _between(self, km: float) -> str:
        plan = self.plan
        named = [i for i, name in enumerate(plan.place) if name and plan.point_kind[i] not in (
            "station", "filler")]
        before = [i for i in named if plan.km[i] <= km + EPS_KM]
        after = [i for i in named if plan.km[i] > km + EPS_KM]
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
