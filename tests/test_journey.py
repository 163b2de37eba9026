"""The SimPy journey: running times, event order, the pilot train's headway, night rules, caps,
gauge changes, and replications started from a given state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from synthetic import FIXED, journey

from simulator.journey import BatchTimes, StartState, draw_parameters, simulate_batch
from simulator.planning import Prepared


def run(prep: Prepared, seed: int = 0, n: int = 1, *, record: bool = False) -> BatchTimes:
    return simulate_batch(prep.plan, draw_parameters(prep.plan, seed, n), record=record)


def total_s(prep: Prepared, times: BatchTimes) -> np.ndarray:
    return times.arrive_s[:, -1] - times.arrive_s[:, 0]


def test_plain_run_takes_the_profile_time(tmp_path: Path) -> None:
    prep = journey(tmp_path)
    plan = prep.plan
    t = run(prep)
    assert t.arrive_s[0, 0] == pytest.approx(6 * 3600)  # the departure, 6 h after the epoch
    assert total_s(prep, t)[0] == pytest.approx(prep.day.running_time_s)
    # a trip-level pace factor multiplies every running time
    params = draw_parameters(plan, 0, 1)
    params["pace"] = 1.25
    slow = simulate_batch(plan, params)
    assert total_s(prep, slow)[0] == pytest.approx(1.25 * prep.day.running_time_s)


def test_events_come_in_order_with_halts_where_planned(tmp_path: Path) -> None:
    halts = [(60.0, {"at": "Border", "kind": "stop", "duration": {"fixed": 20, **FIXED}}),
             (60.0, {"at": "Border", "kind": "locomotive_change", "to": "ru-ep1"}),
             (140.0, {"at": "Town", "kind": "ceremony", "duration": {"fixed": 30, **FIXED}})]
    prep = journey(tmp_path, halts=halts, headway={"fixed": 30, **FIXED})
    t = run(prep, record=True)
    assert t.timelines is not None
    rows = [e for e in t.timelines[0].events if e.train == "leader"]
    ordered = sorted(rows, key=lambda e: e.t_s)
    assert [e.km for e in ordered] == sorted(e.km for e in ordered)  # never goes back
    kinds = [e.kind for e in ordered if e.kind not in ("pass", "headway_wait", "pilot_wait")]
    assert kinds == ["depart", "stop", "locomotive_change", "ceremony", "arrive"]
    assert t.halt_end_s[0, 0] == pytest.approx(t.halt_start_s[0, 0] + 20 * 60)
    assert t.halt_start_s[0, 1] == pytest.approx(t.halt_end_s[0, 0])
    # running time plus 70 min of halts (the pilot halts for the locomotive change too and
    # leaves 30 min ahead, so it never holds the leader up)
    assert total_s(prep, t)[0] == pytest.approx(prep.day.running_time_s + 70 * 60)


@pytest.mark.parametrize("seed", range(8))
def test_leader_never_closes_on_the_pilot(tmp_path: Path, seed: int) -> None:
    # both trains are often delayed: the leader must keep the headway everywhere
    prep = journey(tmp_path, km=300.0, stations=12, delays=2.0,
                   delay_minutes={"triangular": [5, 30, 120], **FIXED},
                   headway={"triangular": [10, 20, 40], **FIXED})
    params = draw_parameters(prep.plan, seed, 20)
    t = simulate_batch(prep.plan, params, record=True)
    assert t.pilot_s is not None
    gap = t.arrive_s - t.pilot_s
    assert np.all(gap[:, 1:] >= params["headway_s"][:, None] - 1e-6)
    # somewhere the leader had to wait behind the pilot
    assert any(e.kind in ("pilot_wait", "headway_wait") for tl in t.timelines or []
               for e in tl.events)


@pytest.mark.parametrize("mode", ["slow", "halt"])
def test_the_headway_holds_under_night_rules(tmp_path: Path, mode: str) -> None:
    # the pilot runs the window 25 min ahead in time: it leaves the slow stretch (or its halt)
    # first, and the leader must not close up behind it after that
    night = [{"country": "AA", "start": "23:00", "end": "02:00", "mode": mode, **FIXED,
              **({"speed_factor": 0.4} if mode == "slow" else {})}]
    prep = journey(tmp_path, km=400.0, stations=20, night=night, delays=0.5,
                   headway={"fixed": 25, **FIXED}, depart="2019-02-23 21:00 +00:00")
    params = draw_parameters(prep.plan, 1, 30)
    t = simulate_batch(prep.plan, params, record=True)
    assert t.pilot_s is not None
    assert np.all(t.arrive_s[:, 1:] - t.pilot_s[:, 1:] >= 25 * 60 - 1e-6)
    assert t.timelines is not None
    kind = "night_slow" if mode == "slow" else "night_halt"
    assert all(any(e.kind == kind for e in tl.events) for tl in t.timelines)


def test_a_pilot_halt_holds_the_leader_up(tmp_path: Path) -> None:
    halts = [(100.0, {"at": "Mid", "kind": "locomotive_change", "to": "ru-ep1"})]
    prep = journey(tmp_path, halts=halts, headway={"fixed": 30, **FIXED})
    params = draw_parameters(prep.plan, 0, 2)
    params["pilot_halt:locomotive_change:Mid"] = [20 * 60, 140 * 60]  # the pilot is stuck 2 h
    t = simulate_batch(prep.plan, params, record=True)
    quick, held = t.arrive_s[:, -1]
    # the leader leaves Mid 30 min after the pilot: 140 − 20 = 120 min later
    assert held - quick == pytest.approx(120 * 60)
    assert t.timelines is not None
    assert any(e.kind in ("pilot_wait", "headway_wait") and e.duration_s > 100 * 60
               for e in t.timelines[1].events)


def test_night_slow_rule_applies_only_inside_the_window(tmp_path: Path) -> None:
    night = [{"country": "AA", "start": "22:00", "end": "06:00", "mode": "slow",
              "speed_factor": 0.5, **FIXED}]
    day = journey(tmp_path / "day", night=night)
    running = day.day.running_time_s
    assert day.profiles.night.running_time_s == pytest.approx(2 * running, rel=0.02)
    assert total_s(day, run(day))[0] == pytest.approx(running)  # 12:00 → ~15:30, all day
    # leaving at 21:00 the train runs an hour by day, then slowly
    evening = journey(tmp_path / "evening", night=night, depart="2019-02-23 21:00 +00:00")
    x = float(np.interp(3600.0, evening.day.t_s, evening.day.x_m))  # where it is at 22:00
    night = evening.profiles.night
    expected = 3600.0 + night.running_time_s - float(night.time_at(x))
    assert total_s(evening, run(evening))[0] == pytest.approx(expected, rel=1e-3)


def test_night_halt_rule_waits_for_the_window_to_end(tmp_path: Path) -> None:
    night = [{"country": "AA", "start": "00:00", "end": "05:00", "mode": "halt", **FIXED}]
    prep = journey(tmp_path, night=night, depart="2019-02-23 23:00 +00:00")
    t = run(prep, record=True)
    assert total_s(prep, t)[0] == pytest.approx(prep.day.running_time_s + 5 * 3600)
    assert t.timelines is not None
    halt = next(e for e in t.timelines[0].events if e.kind == "night_halt")
    assert halt.duration_s == pytest.approx(5 * 3600)
    assert halt.t_s == pytest.approx(t.arrive_s[0, 0] + 3600)  # at midnight, an hour out


def test_caps_are_parameters_interpolated_between_precomputed_profiles(tmp_path: Path) -> None:
    prep = journey(tmp_path, cap=60.0, cap_range=(50.0, 70.0), km=300.0)
    plan = prep.plan
    params = draw_parameters(plan, 0, 400)
    caps = params["cap:AA"]
    assert 50 <= caps.min() < 60 < caps.max() <= 70  # drawn within the rule's range
    assert np.median(caps) == pytest.approx(60, abs=1.5)
    # a calibration may try caps far outside the range, anywhere in the grid
    params = draw_parameters(plan, 0, 3)
    params["cap:AA"] = [35.0, 60.0, 110.0]
    t = total_s(prep, simulate_batch(plan, params))
    # on a long cap-limited line running time goes nearly as 1/cap
    assert t[0] / t[1] == pytest.approx(60 / 35, rel=0.03)
    assert t[2] < t[1] < t[0]
    other = journey(tmp_path / "fixed35", cap=35.0, km=300.0)
    assert t[0] == pytest.approx(other.day.running_time_s, rel=1e-3)
    params["cap:AA"] = [20.0, 60.0, 60.0]
    with pytest.raises(ValueError, match="outside the precomputed"):
        simulate_batch(plan, params)


def test_unplanned_stops_are_a_poisson_process(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=500.0, delays=1.0, delay_minutes={"fixed": 10, **FIXED})
    n = 400
    params = draw_parameters(prep.plan, 3, n)
    t = simulate_batch(prep.plan, params, record=True)
    assert t.timelines is not None
    counts = np.array([sum(e.kind == "delay" for e in tl.events) for tl in t.timelines])
    assert counts.mean() == pytest.approx(5.0, abs=0.35)  # 1 per 100 km over 500 km
    assert counts.var() == pytest.approx(5.0, rel=0.25)
    # rate multipliers far beyond the stops kept per replication draw the rest on demand
    params["delay_rate:AA"] = 12.0
    t = simulate_batch(prep.plan, params, record=True)
    assert t.timelines is not None
    counts = np.array([sum(e.kind == "delay" for e in tl.events) for tl in t.timelines])
    assert counts.mean() == pytest.approx(60.0, rel=0.05)
    kms = [e.km for tl in t.timelines for e in tl.events if e.kind == "delay"]
    assert np.histogram(kms, bins=5, range=(0, 500))[0].min() > 0.15 * len(kms)


def test_start_from_a_state(tmp_path: Path) -> None:
    halts = [(150.0, {"at": "Mid", "kind": "stop", "duration": {"fixed": 25, **FIXED}})]
    prep = journey(tmp_path, km=300.0, halts=halts, headway={"fixed": 30, **FIXED},
                   delays=0.5, delay_minutes={"fixed": 30, **FIXED})
    plan = prep.plan
    params = draw_parameters(plan, 5, 200)
    full = simulate_batch(plan, params)
    # starting at the origin at the departure time is the same run, bit for bit
    same = simulate_batch(plan, params,
                          start=StartState(0.0, params["depart_s"], halts_pending=True))
    assert np.array_equal(same.arrive_s, full.arrive_s, equal_nan=True)
    # from a point half-way, seen at a given time: earlier points are unknown, the halt ahead
    # is kept, and without delays the rest follows the profile exactly
    mid = int(np.flatnonzero(plan.km == 150.0)[0])
    params["delay_rate:AA"] = 0.0
    t0 = 30 * 3600.0
    ahead = simulate_batch(plan, params, start=StartState(plan.km[mid], t0, halts_pending=True))
    assert np.isnan(ahead.arrive_s[:, :mid]).all()
    assert np.all(ahead.arrive_s[:, mid] == t0)
    c = prep.profiles.cum_day_s[plan.point_knot]
    assert ahead.arrive_s[:, -1] == pytest.approx(t0 + 25 * 60 + c[-1] - c[mid])
    passed = simulate_batch(plan, params, start=StartState(plan.km[mid], t0))
    assert passed.arrive_s[:, -1] == pytest.approx(t0 + c[-1] - c[mid])


def test_gauge_change_sits_exactly_where_the_gauge_changes(
        flagship: Callable[[str], Prepared]) -> None:
    prep = flagship("vostochny-2023")
    marks = prep.route.marks_of("gauge_change")
    assert len(marks) == 1 and marks[0].name == "Tumangang"
    changes = [k for k, h in enumerate(prep.plan.halts) if h.kind == "gauge_change"]
    assert len(changes) == 1
    point = prep.plan.halt_point[changes[0]]
    assert prep.plan.km[point] == pytest.approx(marks[0].km, abs=0.05)
    # the route is 1,435 mm before the change and 1,520 mm after it
    after = [g for km, g in prep.route.gauge_after if km >= marks[0].km - 0.05]
    assert after == [1520]
    t = run(prep, record=True)
    assert t.timelines is not None
    ev = [e for e in t.timelines[0].events if e.kind == "gauge_change"]
    assert len(ev) == 1 and ev[0].km == pytest.approx(marks[0].km, abs=0.05)
    # no gauge change on the all-standard-gauge Hanoi trip
    hanoi = flagship("hanoi-2019")
    assert not [h for h in hanoi.plan.halts if h.kind == "gauge_change"]
