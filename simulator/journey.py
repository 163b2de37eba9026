"""The journey as a SimPy discrete-event model: the leader's train and its pilot train.

Both trains are plain generator processes running over the route cut into *chunks* (≤ 20 km,
split at every place where something happens). Per chunk a train spends the running time of the
precomputed speed profile (the day or the night profile, by the local clock at the chunk's start),
plus any random delays drawn for it. At chunk boundaries the leader's train

* performs its halts (border formalities, gauge change, locomotive change, stops, ceremonies);
* obeys a night rule that halts it;
* waits for the pilot train: it may leave a boundary only ``headway`` after the pilot left it,
  and only once the pilot has cleared the chunk ahead, and it may not reach the next boundary less
  than ``headway`` behind the pilot. The pilot's own delays therefore hold the leader up.

Times are seconds from the plan's epoch (UTC). :func:`simulate` runs one replication; the
:class:`Timeline` of a recorded replication lists every event with time, time zone, km, place,
kind, duration and cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import simpy

__all__ = [
    "HaltSpec", "JourneyPlan", "Replication", "Timeline", "TimelineEvent", "format_offset",
    "simulate",
]


@dataclass(frozen=True)
class HaltSpec:
    """A planned halt at a chunk boundary."""

    boundary: int
    kind: str  # border, gauge_change, locomotive_change, stop, ceremony
    place: str
    duration: Any  # scenario.Duration (sample_s)
    pilot_halts: bool
    cause: str


@dataclass(frozen=True)
class NightSpec:
    start_min: int
    end_min: int
    mode: str  # "slow" | "halt"

    def inside(self, local_min: float) -> bool:
        if self.start_min <= self.end_min:
            return self.start_min <= local_min < self.end_min
        return local_min >= self.start_min or local_min < self.end_min

    def minutes_to_end(self, local_min: float) -> float:
        return (self.end_min - local_min) % 1440


@dataclass
class JourneyPlan:
    """Everything a replication needs, prepared once per scenario (picklable)."""

    epoch: datetime  # UTC; simulation time 0
    depart_s: tuple[float, float]  # earliest, latest departure (s after epoch)
    km: np.ndarray  # chunk boundaries, km from the origin (n + 1)
    place: list[str]  # name of each boundary ("" for a plain subdivision)
    run_day_s: np.ndarray  # running time per chunk, one row per cap level: (levels, n) or (n,)
    run_night_s: np.ndarray
    tz_offset_s: np.ndarray  # UTC offset of each chunk's place, seconds
    tz_name: list[str]
    delay_rate: np.ndarray  # expected unplanned stops per chunk
    delay_rule: np.ndarray  # index into delay_durations (-1: none)
    delay_durations: list[Any]
    delay_cause: list[str]
    stop_loss_s: np.ndarray  # braking + restarting time lost per unplanned stop
    night_rule: np.ndarray  # index into night (-1: none)
    night: list[NightSpec]
    reserved: np.ndarray  # bool per chunk
    halts: list[HaltSpec]
    headway: Any | None = None  # Duration or None (no pilot train)
    pilot_delays: bool = True
    #: quantiles of the uncertain caps at which the rows of run_day_s were computed
    cap_levels: np.ndarray = field(default_factory=lambda: np.array([0.5]))
    cap_rule: np.ndarray | None = None  # per chunk: index of its uncertain cap rule (-1: none)
    n_cap_rules: int = 0
    halts_at: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.run_day_s = np.atleast_2d(self.run_day_s)
        self.run_night_s = np.atleast_2d(self.run_night_s)
        if self.cap_rule is None:
            self.cap_rule = np.full(self.run_day_s.shape[1], -1)
        self.halts_at = {}
        for k, h in enumerate(self.halts):
            self.halts_at.setdefault(h.boundary, []).append(k)

    @property
    def n_chunks(self) -> int:
        return int(self.run_day_s.shape[1])


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
class Replication:
    """Times of one replication: arrival at / departure from every boundary, halt starts/ends."""

    arrive_s: np.ndarray
    depart_s: np.ndarray
    halt_start_s: np.ndarray
    halt_end_s: np.ndarray
    pilot_depart_s: np.ndarray | None
    pilot_arrive_s: np.ndarray | None
    timeline: Timeline | None = None


@dataclass
class _Draws:
    depart: float
    headway: float
    halt: np.ndarray
    pilot_halt: np.ndarray
    delay: np.ndarray  # summed delay seconds per chunk (leader)
    delay_n: np.ndarray
    pilot_delay: np.ndarray
    run_day: np.ndarray  # running time per chunk with this replication's caps
    run_night: np.ndarray


def _draw(plan: JourneyPlan, rng: np.random.Generator) -> _Draws:
    n = plan.n_chunks

    def delays() -> tuple[np.ndarray, np.ndarray]:
        counts = rng.poisson(plan.delay_rate)
        total = counts * plan.stop_loss_s
        for i in np.flatnonzero(counts):
            dur = plan.delay_durations[plan.delay_rule[i]]
            total[i] += float(np.sum(dur.sample_s(rng, int(counts[i]))))
        return total, counts

    depart = float(rng.uniform(*plan.depart_s)) if plan.depart_s[1] > plan.depart_s[0] \
        else plan.depart_s[0]
    headway = float(plan.headway.sample_s(rng)) if plan.headway is not None else 0.0
    halt = np.array([float(h.duration.sample_s(rng)) for h in plan.halts])
    pilot_halt = np.array([float(h.duration.sample_s(rng)) for h in plan.halts])
    delay, counts = delays()
    pilot_delay = delays()[0] if plan.headway is not None and plan.pilot_delays else np.zeros(n)
    day, night = _running_times(plan, rng.uniform(size=plan.n_cap_rules))
    return _Draws(depart, headway, halt, pilot_halt, delay, counts, pilot_delay, day, night)


def _running_times(plan: JourneyPlan, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chunk running times for caps drawn at quantiles ``q`` (one per uncertain cap rule)."""
    levels = len(plan.cap_levels)
    if levels == 1:
        return plan.run_day_s[0], plan.run_night_s[0]
    assert plan.cap_rule is not None
    qc = np.where(plan.cap_rule >= 0, q[np.maximum(plan.cap_rule, 0)], 0.5)
    pos = np.interp(qc, plan.cap_levels, np.arange(levels))
    k0 = np.minimum(pos.astype(int), levels - 2)
    frac = pos - k0
    idx = np.arange(plan.n_chunks)

    def mix(t: np.ndarray) -> np.ndarray:
        return np.asarray(t[k0, idx] * (1 - frac) + t[k0 + 1, idx] * frac)

    return mix(plan.run_day_s), mix(plan.run_night_s)


def _run_time(plan: JourneyPlan, d: _Draws, i: int, now: float) -> tuple[float, bool]:
    """Running time of chunk ``i`` entered at ``now``; True if a night rule slowed it."""
    r = plan.night_rule[i]
    if r >= 0:
        rule = plan.night[r]
        if rule.mode == "slow":
            local = ((plan.epoch.timestamp() + now + plan.tz_offset_s[i]) / 60.0) % 1440
            if rule.inside(local):
                return float(d.run_night[i]), True
    return float(d.run_day[i]), False


def _night_halt(plan: JourneyPlan, i: int, now: float) -> float:
    """Seconds a halting night rule keeps a train at boundary ``i`` from ``now``."""
    r = plan.night_rule[i] if i < plan.n_chunks else -1
    if r < 0 or plan.night[r].mode != "halt":
        return 0.0
    local = ((plan.epoch.timestamp() + now + plan.tz_offset_s[i]) / 60.0) % 1440
    rule = plan.night[r]
    return rule.minutes_to_end(local) * 60.0 if rule.inside(local) else 0.0


def simulate(plan: JourneyPlan, rng: np.random.Generator, *, record: bool = False) -> Replication:
    """Run one replication of the journey."""
    d = _draw(plan, rng)
    env = simpy.Environment()
    n = plan.n_chunks
    arr = np.full(n + 1, np.nan)
    dep = np.full(n + 1, np.nan)
    hs = np.full(len(plan.halts), np.nan)
    he = np.full(len(plan.halts), np.nan)
    timeline = Timeline(plan.epoch) if record else None
    has_pilot = plan.headway is not None
    p_dep = np.full(n + 1, np.nan)
    p_arr = np.full(n + 1, np.nan)
    cleared = [env.event() for _ in range(n + 1)] if has_pilot else []

    def log(t: float, b: int, kind: str, dur: float, cause: str, train: str = "leader",
            place: str | None = None) -> None:
        if timeline is not None:
            c = min(b, n - 1)
            where = place if place is not None else (
                plan.place[b] or f"km {plan.km[b]:,.0f} (after {_name(plan, b)})")
            timeline.add(t, float(plan.km[b]), where, kind, dur, cause, train,
                         float(plan.tz_offset_s[c]), plan.tz_name[c])

    def pilot(env: simpy.Environment) -> Any:
        yield env.timeout(max(d.depart - d.headway, 0.0))
        for i in range(n + 1):
            p_arr[i] = env.now
            cleared[i].succeed()  # the pilot has cleared the chunk behind boundary i
            for k in plan.halts_at.get(i, ()):
                h = plan.halts[k]
                if h.pilot_halts:
                    yield env.timeout(d.pilot_halt[k])
            wait = _night_halt(plan, i, env.now)
            if wait:
                yield env.timeout(wait)
            p_dep[i] = env.now
            if i == 0:
                log(env.now, 0, "depart", 0.0, "pilot train leaves ahead", "pilot")
            if i == n:
                log(env.now, n, "arrive", 0.0, "pilot train arrives", "pilot")
                return
            t, _ = _run_time(plan, d, i, env.now)
            yield env.timeout(t + d.pilot_delay[i])

    def leader(env: simpy.Environment) -> Any:
        yield env.timeout(d.depart)
        log(env.now, 0, "depart", 0.0, "scheduled departure")
        for i in range(n + 1):
            arr[i] = env.now
            if i > 0 and plan.place[i] and i < n:
                log(env.now, i, "pass", 0.0, "")
            for k in plan.halts_at.get(i, ()):
                h = plan.halts[k]
                hs[k] = env.now
                yield env.timeout(d.halt[k])
                he[k] = env.now
                log(hs[k], i, h.kind, d.halt[k], h.cause, place=h.place)
            wait = _night_halt(plan, i, env.now)
            if wait:
                log(env.now, i, "night_halt", wait, "night rule: halt until the window ends")
                yield env.timeout(wait)
            if i == n:
                dep[i] = env.now
                log(env.now, n, "arrive", 0.0, "destination")
                return
            t, slowed = _run_time(plan, d, i, env.now)
            run = t + d.delay[i]
            if has_pilot:
                if not cleared[i + 1].triggered:
                    t0 = env.now
                    yield cleared[i + 1]
                    if env.now > t0:
                        log(t0, i, "pilot_wait", env.now - t0,
                            "the pilot train has not cleared the section ahead")
                need = max(p_dep[i] + d.headway, p_arr[i + 1] + d.headway - run)
                if need > env.now:
                    log(env.now, i, "headway_wait", need - env.now,
                        f"keeps {d.headway / 60:.0f} min behind the pilot train")
                    yield env.timeout(need - env.now)
            dep[i] = env.now
            if slowed:
                log(env.now, i, "night_slow", t, "night rule: reduced speed in this section")
            if d.delay[i] > 0:
                cause = plan.delay_cause[plan.delay_rule[i]]
                log(env.now + 0.5 * t, i, "delay", d.delay[i],
                    f"{int(d.delay_n[i])} unplanned stop(s): {cause}",
                    place=f"between {_name(plan, i)} and {_name(plan, i + 1, forward=True)}")
            if plan.reserved[i] and (i == 0 or not plan.reserved[i - 1]):
                log(env.now, i, "reserved_section", 0.0,
                    "line cleared of other traffic for the train")
            yield env.timeout(run)

    if has_pilot:
        env.process(pilot(env))
    env.process(leader(env))
    env.run()
    return Replication(arr, dep, hs, he, p_dep if has_pilot else None,
                       p_arr if has_pilot else None, timeline)


def _name(plan: JourneyPlan, b: int, *, forward: bool = False) -> str:
    step = 1 if forward else -1
    while 0 < b < len(plan.place) - 1 and not plan.place[b]:
        b += step
    return plan.place[b] or f"km {plan.km[b]:.0f}"
