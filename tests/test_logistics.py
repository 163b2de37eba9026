"""Logistics: energy against a hand calculation, line occupation, what-if sweeps and Sobol
sensitivity on small synthetic journeys whose answers are known."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from synthetic import FIXED, journey

from simulator.cli import main
from simulator.energy import load_fuel, traction_plan, wheel_energy
from simulator.errors import VariationError
from simulator.journey import draw_parameters, simulate_batch
from simulator.logistics import line_occupation
from simulator.montecarlo import run_monte_carlo
from simulator.physics import TrainDynamics, speed_profile
from simulator.reports import analyse
from simulator.rolling_stock import load_consist, load_locomotive
from simulator.sensitivity import design_inputs, design_table, factors, sobol_sensitivity
from simulator.sweep import apply_edits, design_points, parse_variation, run_sweep

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")  # not per module: slow tests run first, apart from theirs
def vostochny(network):
    from simulator.planning import prepare
    from simulator.scenario import load_scenario

    return prepare(load_scenario(ROOT / "scenarios" / "vostochny-2023.yaml"), network=network)


# ----------------------------------------------------------------------------------------------
# energy
# ----------------------------------------------------------------------------------------------
def _train() -> TrainDynamics:
    # the armoured consist (15 cars × 65 t) behind two TEP70 (2 × 129 t): 1,233 t
    return TrainDynamics.from_stock(load_consist("armored-train"), load_locomotive("ru-tep70"))


def test_energy_flat_constant_speed_is_resistance_times_distance() -> None:
    dyn = _train()
    assert dyn.mass_kg == pytest.approx(1_233_000)
    # by hand, at 60 km/h: coaches 975 t × (15 + 0.0028 × 60²) N/t = 975 × 25.08 = 24,453 N;
    # locomotives 258 t × (20 + 0.0028 × 60²) N/t = 258 × 30.08 = 7,760.64 N; R = 32,213.64 N;
    # over 100 km: 3.221364e9 J = 894.82 kWh; no acceleration, no braking
    x = np.linspace(0.0, 100_000.0, 1001)
    e = wheel_energy(x, np.full_like(x, 60 / 3.6), dyn)
    assert e.traction_j == pytest.approx(32_213.64 * 100_000, rel=1e-9)
    assert e.braking_j == 0.0
    # a 1 ‰ up-grade adds m·g·i·d = 1,233,000 × 9.81 × 0.001 × 100,000 J
    up = wheel_energy(x, np.full_like(x, 60 / 3.6), dyn, grade=0.001)
    assert up.traction_j - e.traction_j == pytest.approx(1_233_000 * 9.81 * 0.001 * 1e5,
                                                         rel=1e-9)


def test_energy_of_a_physics_run_from_rest_to_rest() -> None:
    dyn = _train()
    length = 100_000.0
    v = 60 / 3.6
    cells = np.full(1000, v)
    prof = speed_profile(length, cells, [(0.0, dyn)], dx=100.0)
    e = wheel_energy(prof.x_m, prof.v_ms, dyn)
    # by hand: the run at 60 km/h (894.82 kWh, above) plus the kinetic energy to start,
    # ½ · m · ρ · v² = ½ × 1,233,000 × 1.06 × 16.667² = 181.6 MJ, which the brakes take at
    # the end; while accelerating and braking the train runs slower and meets less resistance,
    # so the physics gives a little less than the sum
    kinetic = 0.5 * 1_233_000 * 1.06 * v * v
    assert kinetic == pytest.approx(181.6e6, rel=1e-3)
    hand = 32_213.64 * length + kinetic
    assert hand * 0.985 < e.traction_j < hand
    # what the brakes take: the kinetic energy less the resistance while braking
    assert 0.8 * kinetic < e.braking_j < kinetic


def test_traction_table_fuel_from_stated_efficiency(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=200.0, cap=60.0)  # hauled by two TEP70 all the way
    (stretch,) = traction_plan(prep)
    dyn = prep.traction.sections[0].dynamics
    e = wheel_energy(prep.day.x_m, prep.day.v_ms, dyn)
    assert stretch.wheel_kwh == pytest.approx(e.traction_j / 3.6e6)
    # about 200 km × 32,213.64 N + the start: 1,840 kWh at the wheel
    assert stretch.wheel_kwh == pytest.approx(1_840, rel=0.01)
    # fuel: wheel energy / 0.28 (TEP70 tank-to-wheel) / (0.84 kg/L × 43 MJ/kg / 3.6 MJ/kWh
    # = 10.033 kWh/L)
    fuel = load_fuel()
    assert fuel.diesel.kwh_per_litre == pytest.approx(10.0333, rel=1e-4)
    assert stretch.fuel_l == pytest.approx(stretch.wheel_kwh / 0.28 / 10.0333, rel=1e-4)
    assert stretch.fuel_t == pytest.approx(stretch.fuel_l * 0.84 / 1000)
    assert stretch.pantograph_mwh is None and not stretch.over_range  # 200 km < 1,000 km
    row = stretch.row()
    assert row["double_heading"] == "yes" and row["over_range"] == "no"


def test_energy_of_a_typical_calibrated_trip(vostochny, tmp_path: Path) -> None:
    # the energy is the profile's at the median of each drawn cap: under the calibration the
    # posterior's medians, not the hand-set rules' kmh (the nominal profile)
    plan = vostochny.plan
    cal = plan.calibration
    caps = dict(zip(sorted((s.index, s.name) for s in plan.parameters if s.kind == "cap"),
                    plan.median_caps(), strict=True))
    assert caps[(0, "cap:KP")] == pytest.approx(float(np.median(cal["cap:KP"])))
    assert {r.kmh for r in vostochny.profiles.cap_rules} == {45.0, 80.0}
    typical = vostochny.typical_day
    assert typical is not vostochny.day
    # faster in North Korea (53 against 45 km/h), slower in Russia (71 against 80 km/h)
    assert typical.v_ms.max() < vostochny.day.v_ms.max()
    assert typical.v_ms[:1000].max() > vostochny.day.v_ms[:1000].max()
    stretch = traction_plan(vostochny)[1]  # Tumangang → Ussuriysk, two TEP70
    dyn = vostochny.traction.sections[1].dynamics
    inside = (typical.x_m >= stretch.from_km * 1000 - 1e-6) & (
        typical.x_m <= stretch.to_km * 1000 + 1e-6)
    e = wheel_energy(typical.x_m[inside], typical.v_ms[inside], dyn)
    assert stretch.wheel_kwh == pytest.approx(e.traction_j / 3.6e6)
    # without a calibration the typical trip is the nominal one
    hand = journey(tmp_path, km=100.0, cap=60.0, cap_range=(50.0, 70.0))
    assert hand.typical_day is hand.day


def test_diesel_beyond_its_range_is_flagged_and_electrics_give_mwh(tmp_path: Path) -> None:
    halts = [(1100.0, {"at": "M", "kind": "locomotive_change", "to": "ru-ep1"})]
    prep = journey(tmp_path, km=1300.0, cap=80.0, halts=halts)
    diesel, electric = traction_plan(prep)
    assert diesel.over_range and "longer than the stated range of 1,000 km" in diesel.notes
    assert diesel.from_place == "A" and diesel.to_place == "M"
    assert electric.fuel_l is None and electric.pantograph_mwh == pytest.approx(
        electric.wheel_kwh / 0.85 / 1000)


# ----------------------------------------------------------------------------------------------
# line occupation
# ----------------------------------------------------------------------------------------------
def _result(prep, n: int = 20, seed: int = 0):
    mc = run_monte_carlo(prep.plan, n, seed=seed, workers=1, pilot=True)
    return analyse(prep, mc)


def test_occupation_is_headway_plus_running_plus_margin(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=200.0, stations=3, headway={"fixed": 30, **FIXED},
                   clearance_min=5)
    result = _result(prep)
    occ = line_occupation(result)
    assert occ is not None and occ.basis == "pilot train" and occ.margin_min == 5
    assert [s.name_from for s in occ.sections] == ["A", "S1", "S2", "S3"]
    mc = result.mc
    # no delays: the pilot runs exactly 30 min ahead, so a section is closed for 30 min, the
    # leader's running time through it, its tail passing the end and the 5 min margin
    plan = prep.plan
    train_m = prep.traction.train_length_m
    for j, s in enumerate(occ.sections):
        run_s = mc.arrive_s[0, s.end] - mc.depart(s.start)[0]
        v = float(prep.day.speed_at(plan.km[s.end] * 1000))
        tail = train_m / v if s.end != plan.n_points - 1 else 0.0
        assert occ.closed_h[1, j] * 3600 == pytest.approx(1800 + run_s + tail + 300, abs=1e-3)
    country = next(g for g in occ.groups if g.level == "country")
    journey_s = float(np.median(mc.journey_s))
    assert country.window_h[1] * 3600 == pytest.approx(1800 + journey_s + 300, abs=1e-3)
    rows = occ.rows()
    assert rows[0]["level"] == "country" and rows[-1]["level"] == "section"


def test_pilot_times_kept_by_the_batch_match_the_recorded_ones(tmp_path: Path) -> None:
    night = [{"country": "AA", "start": "23:00", "end": "02:00", "mode": "slow",
              "speed_factor": 0.5, **FIXED}]
    prep = journey(tmp_path, km=300.0, stations=10, delays=1.5, night=night,
                   headway={"triangular": [10, 20, 40], **FIXED},
                   depart="2019-02-23 21:00 +00:00")
    params = draw_parameters(prep.plan, 4, 25)
    recorded = simulate_batch(prep.plan, params, record=True)
    kept = simulate_batch(prep.plan, params, pilot=True)
    assert kept.pilot_s is not None and recorded.pilot_s is not None
    np.testing.assert_allclose(kept.pilot_s, recorded.pilot_s, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(kept.arrive_s, recorded.arrive_s)


def test_without_a_pilot_the_leader_closes_the_line(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=100.0, stations=1)
    occ = line_occupation(_result(prep, n=5))
    assert occ is not None and occ.basis == "leader's train" and occ.margin_min == 0


def test_one_noise_key_per_delay_rule_reproduces_one_key(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=300.0, delays=2.0, headway={"fixed": 20, **FIXED})
    params = draw_parameters(prep.plan, 2, 30)
    wide = params.with_noise(np.repeat(params.noise[:, None], len(prep.plan.delay_rules), 1))
    a, b = simulate_batch(prep.plan, params), simulate_batch(prep.plan, wide)
    np.testing.assert_array_equal(a.arrive_s, b.arrive_s)
    other = params.with_noise(params.noise + 1000)
    assert not np.array_equal(simulate_batch(prep.plan, other).arrive_s, a.arrive_s)


# ----------------------------------------------------------------------------------------------
# sweeps
# ----------------------------------------------------------------------------------------------
def test_parse_variations() -> None:
    v = parse_variation("caps.KP.kmh=40:60:5")
    assert v.values == (40.0, 45.0, 50.0, 55.0, 60.0) and (v.low, v.high) == (40.0, 60.0)
    assert parse_variation("gauge_change.duration=60:240").values == (60.0, 105.0, 150.0,
                                                                      195.0, 240.0)
    assert parse_variation("night.KP.mode=slow,halt").values == ("slow", "halt")
    assert parse_variation("night.KP.start=22:00,23:30").values == ("22:00", "23:30")
    for bad, words in [("caps.KP.kmh", "expected PATH="), ("caps.KP.kmh=60:40", "below"),
                       ("caps.KP.kmh=a:b", "in numbers"), ("caps.KP.kmh=1:2:0", "step"),
                       ("caps..kmh=3", "dotted"), ("caps.KP.kmh=1:100000:1", "at most")]:
        with pytest.raises(VariationError, match=words):
            parse_variation(bad)


def test_latin_hypercube_fills_each_stratum_once() -> None:
    vs = [parse_variation("caps.KP.kmh=40:60"), parse_variation("night.KP.mode=slow,halt")]
    pts = design_points(vs, method="lhs", samples=10, seed=3)
    caps = sorted(p["caps.KP.kmh"] for p in pts)
    assert all(40 <= c <= 60 for c in caps)
    assert [int((c - 40) / 2) for c in caps] == list(range(10))  # one per tenth of the range
    assert sorted(p["night.KP.mode"] for p in pts) == ["halt"] * 5 + ["slow"] * 5
    assert len(design_points(vs, method="grid")) == 10
    with pytest.raises(VariationError, match="--samples"):
        design_points(vs, method="lhs")


def _halt_journey(tmp_path: Path, **kw):
    halts = [(100.0, {"at": "M", "kind": "stop", "duration": {"fixed": 10, **FIXED}})]
    return journey(tmp_path, km=200.0, halts=halts, **kw)


def test_sweep_of_a_halt_duration_adds_exactly_that_time(tmp_path: Path) -> None:
    # the leader's own unplanned stops, a drawn cap and headway; the pilot is never delayed,
    # so it never holds the leader up and a longer halt adds exactly its time
    prep = _halt_journey(tmp_path, cap_range=(50.0, 70.0), delays=1.0, pilot_delays=False,
                         headway={"triangular": [10, 20, 40], **FIXED})
    res = run_sweep(prep.scenario, [parse_variation("halts.M.duration=0:60:30")], base=prep,
                    replications=40, seed=5, workers=1)
    med = [p.journey_h[1] for p in res.points]
    # the same replications at every point: each 30 min more halt is 0.5 h more journey
    assert np.diff(med) == pytest.approx([0.5, 0.5], abs=1e-6)
    assert res.baseline.journey_h[1] == pytest.approx(med[0] + 10 / 60, abs=1e-6)
    rows = res.rows()
    assert rows[0]["point"] == "baseline" and rows[2]["halts.M.duration"] == 30.0
    # a notebook cell's last line prints one line, not every point's arrays
    assert repr(res).startswith("<SweepResult ") and "\n" not in repr(res) and len(repr(res)) < 200
    # the arrival at the halt's place: the halt comes after it, so nothing changes there
    at_m = run_sweep(prep.scenario, [parse_variation("halts.M.duration=0:60:30")], base=prep,
                     replications=40, seed=5, workers=1, at="M")
    assert at_m.destination == "M"
    assert np.diff([p.journey_h[1] for p in at_m.points]) == pytest.approx([0, 0], abs=1e-6)
    with pytest.raises(VariationError, match=r"not a place of the route .*: A, M, Z"):
        run_sweep(prep.scenario, [parse_variation("pace=1")], base=prep, at="Nowhere")
    # a rule of a country or line the route never enters would change nothing: refused
    for path, words in (("caps.XX.kmh=40", "no part of the route is in XX .*AA"),
                        ("delays.AA:Nowhere.per_100km=1", "no line called 'Nowhere' in AA")):
        with pytest.raises(VariationError, match=words):
            run_sweep(prep.scenario, [parse_variation(path)], base=prep, replications=4)


def test_sweep_of_a_cap_and_of_the_pace(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=200.0, cap=60.0)
    res = run_sweep(prep.scenario, [parse_variation("caps.AA.kmh=40:80:20")], base=prep,
                    replications=4, workers=1)
    j = [p.journey_h[1] for p in res.points]
    # 200 km at 40, 60 and 80 km/h, plus the same few minutes to start and stop
    assert j[0] - j[2] == pytest.approx(200 / 40 - 200 / 80, rel=0.02)
    assert j[0] > j[1] > j[2] and j[1] == pytest.approx(res.baseline.journey_h[1], abs=1e-6)
    paced = run_sweep(prep.scenario, [parse_variation("pace=1:1.2:0.1")], base=prep,
                      replications=4, workers=1)
    run_h = prep.day.running_time_s / 3600
    assert [p.journey_h[1] for p in paced.points] == pytest.approx(
        [run_h, 1.1 * run_h, 1.2 * run_h], rel=1e-9)


def test_sweep_creates_a_night_halt(tmp_path: Path) -> None:
    # 200 km at 60 km/h leaving at 22:00 UTC: one hour in, the 23:00–05:00 halt stops it 6 h
    prep = journey(tmp_path, km=200.0, cap=60.0, depart="2019-02-23 22:00 +00:00")
    res = run_sweep(prep.scenario, [parse_variation("night.AA.mode=halt")], base=prep,
                    replications=3, workers=1)
    (point,) = res.points
    assert point.journey_h[1] - res.baseline.journey_h[1] == pytest.approx(6.0, abs=1e-6)
    assert point.notes == ["night rule AA created: 23:00–05:00 halt"]


def test_a_what_if_changes_only_what_it_names_under_the_calibration(vostochny) -> None:
    # the swept rule is fixed at its value; every other rule keeps the calibrated draw of the
    # baseline, row by row (before, any edit of a timing rule left the calibration's operating
    # digest behind, and the what-if ran on the hand-set rules against a calibrated baseline)
    from simulator.planning import plan_journey

    base = vostochny.plan
    cols = [s.name for s in base.parameters]
    sc, _, _ = apply_edits(vostochny.scenario, {"caps.KP.kmh": 50.0,
                                                "gauge_change.duration": 90.0}, columns=cols)
    assert sc.defaults is vostochny.scenario.defaults
    plan = plan_journey(sc, vostochny.itinerary).plan
    assert plan.calibration is base.calibration
    spec = {s.name: s for s in plan.parameters}
    assert spec["cap:KP"].calibration == "" and spec["cap:RU"].calibration == "cap:RU"
    assert spec["halt:gauge_change:Tumangang"].calibration == ""
    what_if, baseline = draw_parameters(plan, 3, 400), draw_parameters(base, 3, 400)
    assert np.all(what_if["cap:KP"] == 50.0)
    assert np.all(what_if["halt:gauge_change:Tumangang"] == 90 * 60.0)
    for name in ("cap:RU", "pace", "delay_rate:KP:P'yŏngra", "halt:ceremony:Khasan"):
        assert np.array_equal(what_if[name], baseline[name]), name
    assert np.ptp(what_if["pace"]) > 0


def test_bad_sweep_paths_are_one_line_errors(tmp_path: Path) -> None:
    prep = _halt_journey(tmp_path)
    sc = prep.scenario
    cols = [s.name for s in prep.plan.parameters]
    for edits, words in [
            ({"caps.AA.kmh": 500.0}, "caps.0.kmh': .*must be ≤ 400"),
            ({"speed.AA": 1.0}, "neither an operating rule nor a scenario field"),
            ({"halts.Nowhere.duration": 5.0}, "no item 'Nowhere' in halts .*there are: M"),
            ({"borders.KP-RU.duration": 5.0}, "no item 'KP-RU'"),
            ({"caps.AA": 5.0}, "chooses an item of caps; name a field of it too"),
            ({"delays.ZZ.per_100km": 1.0}, "field 'delays.0.duration': Field required"),
            ({"pace": "fast"}, "takes numbers")]:
        with pytest.raises(VariationError, match=words):
            apply_edits(sc, edits, columns=cols)
    # a rule of a country that has none is created; the scenario's own rules are untouched
    new, params, notes = apply_edits(sc, {"caps.ZZ.kmh": 50.0, "pace": 1.1}, columns=cols)
    assert notes == ["caps rule ZZ created: kmh=50.0"] and params == {"pace": 1.1}
    assert any(r.country == "ZZ" and r.kmh == 50 for r in new.rules().caps)
    assert not any(r.country == "ZZ" for r in sc.rules().caps)


# ----------------------------------------------------------------------------------------------
# Sobol sensitivity
# ----------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sobol_indices_of_an_additive_journey(tmp_path: Path) -> None:
    # journey time = running time (cap drawn in 50–70 km/h) + a halt uniform in 0–240 min:
    # additive, so each factor's S1 is its share of the variance and S1 = ST
    halts = [(100.0, {"at": "M", "kind": "stop", "duration": {"uniform": [0, 240], **FIXED}})]
    prep = journey(tmp_path, km=200.0, cap=60.0, cap_range=(50.0, 70.0), halts=halts)
    plan = prep.plan
    res = sobol_sensitivity(prep, base_n=512, seed=3, workers=1, resamples=100)
    assert {f.label for f in res.factors} == {"speed cap in AA", "stop at M"}
    # the variances by hand: the halt, (240 min)² / 12 = 4,800 min² = 1.333 h²; the running
    # time, from the cap's own draws through the engine (no other spread)
    params = draw_parameters(plan, 11, 20_000)
    params["halt:stop:M"] = 0.0
    run_h = (simulate_batch(plan, params).arrive_s[:, -1] - params["depart_s"]) / 3600
    var_halt, var_run = 240**2 / 12 / 3600, float(np.var(run_h))
    total = var_halt + var_run
    o = res.index("A → Z")
    halt = next(i for i, f in enumerate(res.factors) if f.label == "stop at M")
    cap = 1 - halt
    assert res.std_h[o] ** 2 == pytest.approx(total, rel=0.1)
    assert res.s1[o, halt] == pytest.approx(var_halt / total, abs=0.05)
    assert res.s1[o, cap] == pytest.approx(var_run / total, abs=0.05)
    assert res.st[o, halt] == pytest.approx(res.s1[o, halt], abs=0.05)
    assert "**stop at M** explains" in res.sentence()


def test_unplanned_stops_are_a_factor_and_fixed_quantities_are_not(tmp_path: Path) -> None:
    # everything fixed but the unplanned stops (and a narrow headway spread that cannot
    # matter: the pilot is never delayed here): the stops explain the spread
    prep = journey(tmp_path, km=300.0, cap=60.0, delays=2.0, pilot_delays=False,
                   delay_minutes={"triangular": [10, 30, 90], **FIXED},
                   headway={"uniform": [20, 21], **FIXED})
    facs = factors(prep.plan, draw_parameters(prep.plan, 0, 500))
    assert [f.label for f in facs] == ["pilot train's headway", "unplanned stops in AA"]
    assert facs[1].delay_rule == 0 and facs[1].columns == ()
    res = sobol_sensitivity(prep, base_n=256, seed=1, workers=1, resamples=50)
    o = res.destination
    assert res.s1[o, 1] > 0.9 and res.s1[o, 0] < 0.05
    assert res.runs == 256 * (2 + 2)


def test_sobol_inputs_follow_the_calibrated_draw(vostochny) -> None:
    # under the committed calibration the design draws what a run draws: every column's
    # marginal is the run's (posterior caps and delay factors, a spread pace, scaled halts),
    # and the one calibrated delay-rate factor of two lines sets both, as in the run
    from scipy.stats import ks_2samp, qmc

    plan = vostochny.plan
    assert plan.calibration is not None
    facs = factors(plan)
    stops = next(f for f in facs if "delays:KP-east:rate" in f.calibrated)
    assert stops.label == "unplanned stops on the P'yŏngra and Hambuk lines (KP)"
    assert len(stops.delay_rules) == 2
    assert next(f for f in facs if f.label == "trip pace factor").calibrated == ("pace:sigma",)
    inputs = design_inputs(plan, facs)
    u = qmc.Sobol(len(inputs), seed=5).random(4096)
    design = design_table(plan, inputs, u, 5)
    run = draw_parameters(plan, 5, 4096)
    hand = draw_parameters(plan, 5, 4096, defaults="hand")
    varied = [name for name in run.names if np.ptp(run[name]) > 0]
    assert {"pace", "cap:KP", "cap:RU", "delay_rate:KP:P'yŏngra",
            "halt:gauge_change:Tumangang"} <= set(varied)
    for name in varied:
        assert ks_2samp(design[name], run[name]).statistic < 0.04, name
    for name in set(run.names) - set(varied):
        assert np.all(design[name] == run[name][0]), name
    # the hand-set rules' draws are another distribution (the test could fail)
    assert ks_2samp(design["cap:KP"], hand["cap:KP"]).statistic > 0.3
    assert np.all(hand["pace"] == 1.0) and np.std(np.log(design["pace"])) > 0.05
    for table in (design, run):
        assert np.array_equal(table["delay_rate:KP:P'yŏngra"], table["delay_rate:KP:Hambuk"])


def test_sobol_needs_a_power_of_two(tmp_path: Path) -> None:
    prep = journey(tmp_path, km=50.0, cap_range=(50.0, 70.0))
    with pytest.raises(ValueError, match="power of two"):
        sobol_sensitivity(prep, base_n=100)


# ----------------------------------------------------------------------------------------------
# the commands
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")  # not per module: slow tests run first, apart from theirs
def logistics_run(network, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("logistics") / "vladivostok-2019"
    code = main(["run", str(ROOT / "scenarios" / "vladivostok-2019.yaml"), "-n", "40",
                 "--seed", "1", "--out", str(out), "--quiet", "--workers", "1",
                 "--sensitivity", "64"])
    assert code == 0
    return out


def test_run_writes_logistics_traction_and_sensitivity(logistics_run: Path) -> None:
    for name in ("logistics.csv", "traction.csv", "sensitivity.csv", "sensitivity.png"):
        assert (logistics_run / name).stat().st_size > 0, name
    rows = list(csv.DictReader((logistics_run / "logistics.csv").open(encoding="utf-8")))
    levels = {r["level"] for r in rows}
    assert {"country", "line", "section"} <= levels
    ru = next(r for r in rows if r["level"] == "country" and r["name"] == "RU")
    assert float(ru["window_h_p05"]) <= float(ru["window_h_median"]) <= float(ru["window_h_p95"])
    traction = list(csv.DictReader((logistics_run / "traction.csv").open(encoding="utf-8")))
    assert [r["locomotive"] for r in traction] == ["ru-tep70", "ru-ep1"]
    assert float(traction[0]["fuel_l"]) > 0 and float(traction[1]["pantograph_mwh"]) > 0
    summary = (logistics_run / "summary.md").read_text(encoding="utf-8")
    assert "### Line occupation" in summary and "### Traction and energy" in summary
    # the logistics tables for a fixed seed, against tests/data/golden
    section = summary.split("## Logistics")[1].split("\n## ")[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| ")) + "\n"
    golden = ROOT / "tests" / "data" / "golden" / "vladivostok-2019-n40-seed1-logistics.md"
    if os.environ.get("TRAINSIM_UPDATE_GOLDEN"):
        golden.write_text(table, encoding="utf-8")
    assert table == golden.read_text(encoding="utf-8")
    assert "of the spread in the arrival at Vladivostok" in summary
    assert summary.rstrip().endswith("see data/rail/README.md.")
    manifest = (logistics_run / "manifest.json").read_text(encoding="utf-8")
    assert "logistics.csv" in manifest and "sensitivity.png" in manifest


def test_sweep_and_sensitivity_commands(network, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    scenario = str(ROOT / "scenarios" / "vladivostok-2019.yaml")
    out = tmp_path / "sweep"
    assert main(["sweep", scenario, "--vary", "caps.RU.kmh=60:80:20", "-n", "10", "--quiet",
                 "--workers", "1", "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "sweep.csv").open(encoding="utf-8")))
    assert [r["caps.RU.kmh"] for r in rows] == ["", "60.0", "80.0"]
    assert float(rows[1]["journey_h_median"]) > float(rows[2]["journey_h_median"])
    assert (out / "sweep.png").stat().st_size > 0
    assert "Reported (arrive) at Vladivostok: 2019-04-24 17:50 UTC+10:00 – 2019-04-24 18:01" in (
        out / "sweep.md").read_text(encoding="utf-8")
    capsys.readouterr()
    assert main(["sweep", scenario, "--vary", "caps.RU.kmh=900", "--out",
                 str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must be ≤ 400" in err
    assert not (tmp_path / "bad").exists()
    sens = tmp_path / "sens"
    assert main(["sensitivity", scenario, "-N", "32", "--quiet", "--workers", "1", "--out",
                 str(sens)]) == 0
    assert "explains" in (sens / "summary.md").read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:
        main(["sensitivity", scenario, "-N", "100", "--out", str(sens)])
    assert exit_.value.code == 2
    assert "a power of two ≥ 2 (64, 256, 1024, …), got 100" in capsys.readouterr().err


@pytest.mark.xdist_group("pyabc-dask")  # see conftest
def test_sweep_and_sensitivity_on_dask_give_the_local_numbers(tmp_path: Path) -> None:
    from distributed import LocalCluster

    prep = _halt_journey(tmp_path, cap_range=(50.0, 70.0), delays=1.0,
                         headway={"triangular": [10, 20, 40], **FIXED})
    vary = [parse_variation("caps.AA.kmh=50:70:20")]
    local = run_sweep(prep.scenario, vary, base=prep, replications=30, workers=1)
    sens = sobol_sensitivity(prep, base_n=16, seed=2, workers=1, resamples=10)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        remote = run_sweep(prep.scenario, vary, base=prep, replications=30,
                           scheduler=cluster.scheduler_address)
        sens_remote = sobol_sensitivity(prep, base_n=16, seed=2, resamples=10,
                                        scheduler=cluster.scheduler_address)
    assert [p.journey_h for p in remote.points] == [p.journey_h for p in local.points]
    np.testing.assert_array_equal(sens.s1, sens_remote.s1)


def test_nothing_drawn_is_a_clear_error(tmp_path: Path) -> None:
    from simulator.errors import ScenarioError

    prep = journey(tmp_path, km=50.0)  # one fixed cap, no delays, no pilot, a fixed departure
    with pytest.raises(ScenarioError, match="nothing in this scenario is drawn"):
        sobol_sensitivity(prep, base_n=8)
