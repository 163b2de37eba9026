"""The SimPy journey: event order, the pilot train's headway, night rules, gauge changes and
reproducibility of the Monte Carlo runs."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from simulator.journey import HaltSpec, JourneyPlan, NightSpec, _draw, simulate
from simulator.montecarlo import run_monte_carlo
from simulator.scenario import Duration

EPOCH = datetime(2019, 2, 23, 0, 0, tzinfo=UTC)


def fixed(minutes: float) -> Duration:
    return Duration(fixed=minutes, assumption="test")


def plan(*, n: int = 10, run_s: float = 600.0, night_run_s: float | None = None,
         night: list[NightSpec] | None = None, halts: list[HaltSpec] | None = None,
         headway: Duration | None = None, delay_rate: float = 0.0,
         delay: Duration | None = None, depart_h: float = 12.0) -> JourneyPlan:
    return JourneyPlan(
        epoch=EPOCH, depart_s=(depart_h * 3600, depart_h * 3600),
        km=np.arange(n + 1) * 10.0, place=[f"P{i}" for i in range(n + 1)],
        run_day_s=np.full(n, run_s), run_night_s=np.full(n, night_run_s or run_s),
        tz_offset_s=np.zeros(n), tz_name=["UTC"] * n,
        delay_rate=np.full(n, delay_rate), delay_rule=np.full(n, 0 if delay else -1),
        delay_durations=[delay] if delay else [], delay_cause=["test delays"],
        stop_loss_s=np.zeros(n), night_rule=np.full(n, 0 if night else -1), night=night or [],
        reserved=np.zeros(n, dtype=bool), halts=halts or [], headway=headway,
    )


def test_plain_run_takes_the_profile_time() -> None:
    r = simulate(plan(), np.random.default_rng(0))
    assert r.depart_s[0] == 12 * 3600
    assert r.arrive_s[-1] - r.depart_s[0] == pytest.approx(10 * 600)


def test_events_come_in_order_with_halts_where_planned() -> None:
    halts = [HaltSpec(3, "border", "P3", fixed(20), True, "border formalities"),
             HaltSpec(3, "locomotive_change", "P3", fixed(15), True, "new locomotive"),
             HaltSpec(7, "stop", "P7", fixed(30), False, "stop")]
    r = simulate(plan(halts=halts, headway=fixed(30)), np.random.default_rng(1), record=True)
    assert r.timeline is not None
    rows = [e for e in r.timeline.events if e.train == "leader"]
    times = [e.t_s for e in sorted(rows, key=lambda e: e.t_s)]
    kms = [e.km for e in sorted(rows, key=lambda e: (e.t_s, e.km))]
    assert times == sorted(times)
    assert kms == sorted(kms)  # the train never goes back
    kinds = [e.kind for e in sorted(rows, key=lambda e: e.t_s)
             if e.kind not in ("pass", "headway_wait", "pilot_wait")]
    assert kinds == ["depart", "border", "locomotive_change", "stop", "arrive"]
    assert r.halt_end_s[0] == pytest.approx(r.halt_start_s[0] + 20 * 60)
    assert r.halt_start_s[1] == pytest.approx(r.halt_end_s[0])
    # 10 chunks of 10 min, 65 min of halts
    assert r.arrive_s[-1] - r.depart_s[0] == pytest.approx(6000 + 65 * 60)


@pytest.mark.parametrize("seed", range(20))
def test_leader_never_closes_on_the_pilot(seed: int) -> None:
    # the pilot is often delayed, the leader never: the leader must wait behind it
    p = plan(n=30, headway=Duration(triangular=[10, 20, 40], assumption="test"),
             delay_rate=0.5, delay=Duration(triangular=[5, 30, 120], assumption="test"))
    p.delay_rate = np.full(30, 0.5)
    r = simulate(p, np.random.default_rng(seed))
    headway = _draw(p, np.random.default_rng(seed)).headway  # the same first draws
    assert r.pilot_depart_s is not None and r.pilot_arrive_s is not None
    gap_dep = r.depart_s - r.pilot_depart_s
    gap_arr = r.arrive_s - r.pilot_arrive_s
    assert headway >= 10 * 60
    assert np.all(gap_dep >= headway - 1e-6)
    assert np.all(gap_arr >= headway - 1e-6)


def test_pilot_delay_holds_the_leader(monkeypatch: pytest.MonkeyPatch) -> None:
    import simulator.journey as journey

    p = plan(n=5, headway=fixed(10))
    quick = simulate(p, np.random.default_rng(0))
    real_draw = journey._draw

    def pilot_stuck(plan_: JourneyPlan, rng: np.random.Generator) -> object:
        d = real_draw(plan_, rng)
        d.pilot_delay = np.array([0.0, 0.0, 3600.0, 0.0, 0.0])  # the pilot stops an hour
        return d

    monkeypatch.setattr(journey, "_draw", pilot_stuck)
    r = simulate(p, np.random.default_rng(0), record=True)
    # the leader had no delay of its own but arrives an hour later, waiting behind the pilot
    assert r.arrive_s[-1] - quick.arrive_s[-1] == pytest.approx(3600)
    assert r.timeline is not None
    assert any(e.kind in ("pilot_wait", "headway_wait") and e.duration_s > 3000
               for e in r.timeline.events)


def test_night_slow_rule_applies_only_inside_the_window() -> None:
    window = [NightSpec(22 * 60, 6 * 60, "slow")]
    # a day run 12:00 → 13:40 UTC never meets the 22:00–06:00 window
    day = simulate(plan(night=window, night_run_s=1200.0), np.random.default_rng(0))
    assert day.arrive_s[-1] - day.depart_s[0] == pytest.approx(6000)
    # leaving at 21:30: chunks entered at 21:30, 21:40, 21:50 are day chunks, the rest night ones
    evening = simulate(plan(night=window, night_run_s=1200.0, depart_h=21.5),
                       np.random.default_rng(0))
    assert evening.arrive_s[-1] - evening.depart_s[0] == pytest.approx(3 * 600 + 7 * 1200)


def test_night_halt_rule_waits_for_the_window_to_end() -> None:
    window = [NightSpec(0, 5 * 60, "halt")]
    r = simulate(plan(night=window, depart_h=23.5), np.random.default_rng(0), record=True)
    # 23:30, 23:40, 23:50 chunks run; at 00:00 the train halts until 05:00, then 7 more chunks
    assert r.depart_s[3] == pytest.approx(29 * 3600)
    assert r.arrive_s[-1] == pytest.approx(29 * 3600 + 7 * 600)
    assert r.timeline is not None
    assert any(e.kind == "night_halt" for e in r.timeline.events)


def test_monte_carlo_is_reproducible_bit_for_bit() -> None:
    p = plan(n=20, headway=Duration(uniform=[10, 40], assumption="test"),
             delay_rate=0.3, delay=Duration(triangular=[5, 20, 90], assumption="test"))
    p.delay_rate = np.full(20, 0.3)
    a = run_monte_carlo(p, 120, seed=42, workers=1)
    b = run_monte_carlo(p, 120, seed=42, workers=2)
    c = run_monte_carlo(p, 120, seed=43, workers=1)
    assert np.array_equal(a.arrive_s, b.arrive_s)
    assert np.array_equal(a.halt_start_s, b.halt_start_s)
    assert not np.array_equal(a.arrive_s, c.arrive_s)
    assert a.arrive_s.std(axis=0)[-1] > 0


def test_gauge_change_sits_exactly_where_the_gauge_changes(network) -> None:
    from simulator.scenario import load_scenario
    from simulator.simulate import prepare

    prep = prepare(load_scenario("scenarios/vostochny-2023.yaml"), network=network)
    marks = prep.route.marks_of("gauge_change")
    assert len(marks) == 1 and marks[0].name == "Tumangang"
    changes = [h for h in prep.plan.halts if h.kind == "gauge_change"]
    assert len(changes) == 1
    assert prep.plan.km[changes[0].boundary] == pytest.approx(marks[0].km, abs=0.05)
    # the route is 1,435 mm before the change and 1,520 mm after it
    after = [g for km, g in prep.route.gauge_after if km >= marks[0].km - 0.05]
    assert after == [1520]
    r = simulate(prep.plan, np.random.default_rng(0), record=True)
    assert r.timeline is not None
    ev = [e for e in r.timeline.events if e.kind == "gauge_change"]
    assert len(ev) == 1 and ev[0].km == pytest.approx(marks[0].km, abs=0.05)
    # no gauge change on the all-standard-gauge Hanoi trip
    hanoi = prepare(load_scenario("scenarios/hanoi-2019.yaml"), network=network)
    assert not [h for h in hanoi.plan.halts if h.kind == "gauge_change"]


def test_uncertain_caps_interpolate_between_profiles() -> None:
    from simulator.journey import _running_times
    from simulator.scenario import CapRule

    rule = CapRule(country="CN", kmh=80, kmh_range=[70, 88], assumption="test")
    assert (rule.kmh_at(0.0), rule.kmh_at(0.5), rule.kmh_at(1.0)) == (70, 80, 88)
    with pytest.raises(ValueError, match="must contain kmh"):
        CapRule(country="CN", kmh=95, kmh_range=[70, 88], assumption="test")
    p = plan(n=4)
    # rows: slow caps (q = 0), nominal (0.5), fast (1); chunks 0–1 follow rule 0, 2–3 rule 1
    p.run_day_s = np.array([[900.0] * 4, [600.0] * 4, [500.0] * 4])
    p.run_night_s = p.run_day_s.copy()
    p.cap_levels = np.array([0.0, 0.5, 1.0])
    p.cap_rule = np.array([0, 0, 1, 1])
    p.n_cap_rules = 2
    day, _ = _running_times(p, np.array([0.0, 0.75]))
    assert day.tolist() == [900.0, 900.0, 550.0, 550.0]
    r = [simulate(p, np.random.default_rng(s)) for s in range(30)]
    totals = [x.arrive_s[-1] - x.depart_s[0] for x in r]
    assert 2000 <= min(totals) < max(totals) <= 3600
