"""Calibration: the posterior reaches every draw, the hand switch, overrides, the file, a small
deterministic fit, the scores, and `trainsim calibrate` end to end on a small budget."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from simulator.calibration import (
    CalibratedParameter,
    Calibration,
    Mode,
    Prior,
    load_calibration,
)
from simulator.cli import main
from simulator.errors import DataFileError
from simulator.journey import draw_parameters
from simulator.planning import prepare
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
VLADIVOSTOK = ROOT / "scenarios" / "vladivostok-2019.yaml"


def _toy() -> Calibration:
    """Two posterior samples: every draw must take one of them."""
    p = CalibratedParameter
    params = (
        p("cap:RU", "km/h", Mode.VALUE, ("cap:RU",), Prior("uniform", 45, 100)),
        p("loco", "factor", Mode.SCALE, ("halt:locomotive_change",), Prior("uniform", 0.5, 3)),
        p("headway_s", "s", Mode.VALUE, ("headway_s",), Prior("uniform", 300, 5400)),
        p("pace:sigma", "factor", Mode.PACE_SPREAD, ("pace",), Prior("uniform", 0, 0.25)),
        p("z:x", "z", Mode.VALUE, (), Prior("normal", 0, 1)),
    )
    return Calibration(params, np.array([[60.0, 2.0, 600.0, 0.1, 5.0],
                                         [90.0, 2.0, 900.0, 0.1, -5.0]]))


@pytest.fixture(scope="session")  # not per module: slow tests run first, apart from theirs
def vladivostok(network):
    return load_scenario(VLADIVOSTOK)


def test_the_posterior_reaches_every_draw(network, vladivostok) -> None:
    cal = _toy()
    plan = prepare(vladivostok, network=network, calibration=cal).plan
    hand = prepare(vladivostok, network=network, defaults="hand").plan
    assert plan.calibration is cal and hand.calibration is None
    n = 4000
    got = draw_parameters(plan, 7, n)
    base = draw_parameters(hand, 7, n)
    caps = got["cap:RU"]
    assert set(np.unique(caps)) == {60.0, 90.0}
    # the headway follows the same sample as the cap; the halt is scaled, not replaced
    assert np.all(got["headway_s"][caps == 60.0] == 600.0)
    assert np.all(got["headway_s"][caps == 90.0] == 900.0)
    loco = "halt:locomotive_change:Ussuriysk"
    assert np.allclose(got[loco], 2.0 * base[loco])
    assert np.array_equal(got["halt:ceremony:Khasan"], base["halt:ceremony:Khasan"])
    # a new trip's pace: exp(σ z) with z standard normal, never a training trip's own z
    log_pace = np.log(got["pace"])
    assert abs(np.median(log_pace)) < 0.01 and abs(np.std(log_pace) - 0.1) < 0.005
    # the hand switch of the draw, and bit-identical hand draws
    again = draw_parameters(plan, 7, n, defaults="hand")
    assert np.array_equal(again.values, base.values)
    # rows depend on their key only (any split into batches)
    part = draw_parameters(plan, 7, 1000, start=3000)
    assert np.array_equal(part.values, got.values[3000:])


def test_an_override_is_not_calibrated(tmp_path: Path, network) -> None:
    text = VLADIVOSTOK.read_text(encoding="utf-8") + (
        "operating:\n  caps:\n    - country: RU\n      kmh: 50\n"
        "      assumption: a slow run\n      reason: what if the Khasan line were slower\n")
    path = tmp_path / "slow.yaml"
    path.write_text(text, encoding="utf-8")
    plan = prepare(load_scenario(path), network=network, calibration=_toy()).plan
    spec = next(s for s in plan.parameters if s.name == "cap:RU")
    assert spec.calibration == ""
    assert np.all(draw_parameters(plan, 1, 50)["cap:RU"] == 50.0)


def test_calibration_file_round_trip_and_errors(tmp_path: Path) -> None:
    cal = _toy()
    cal.provenance = {"command": "trainsim calibrate x", "seed": 1}
    path = tmp_path / "calibrated.yaml"
    cal.write(path)
    back = load_calibration(path)
    assert back.names == cal.names and np.array_equal(back.samples, cal.samples)
    assert back.parameters[1].mode == Mode.SCALE and back.provenance["seed"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text(encoding="utf-8").replace("- [60.0,", "- [-60.0,", 1),
                   encoding="utf-8")
    with pytest.raises(DataFileError, match=r"bad\.yaml: field 'samples.values \(column cap:RU"):
        load_calibration(bad)
    with pytest.raises(DataFileError, match="file not found"):
        load_calibration(tmp_path / "none.yaml")


def test_the_committed_calibration_is_used_by_default(network, vladivostok) -> None:
    from simulator import settings

    cal = load_calibration(settings.calibrated_defaults)
    prov = cal.provenance
    for key in ("command", "seed", "date", "legs", "operating_digest", "method"):
        assert prov.get(key), key
    assert "trainsim calibrate" in prov["command"]
    plan = prepare(vladivostok, network=network).plan
    assert plan.calibration is not None and plan.calibration.path == settings.calibrated_defaults
    # every shared parameter it fits sets some column of the flagship plans (no stale key)
    keys = set()
    for name in ("hanoi-2019", "vostochny-2023"):
        p = prepare(load_scenario(ROOT / "scenarios" / f"{name}.yaml"), network=network,
                    defaults="hand").plan
        keys |= {s.calibration for s in p.parameters}
    for param in cal.parameters:
        assert all(k in keys for k in param.applies_to), param.name


def test_the_dataset(network) -> None:
    from simulator.calibration.dataset import load_trips

    trips, notes = load_trips(sorted((ROOT / "scenarios").glob("*.yaml")), network=network)
    names = {t.name for t in trips}
    assert names == {"hanoi-2019", "hanoi-2019-return", "vladivostok-2019", "vostochny-2023"}
    legs = {leg.key: leg for t in trips for leg in t.legs}
    assert legs["vostochny-2023: Ussuriysk → Vostochny"].mid_h == pytest.approx(25.75)
    assert legs["hanoi-2019-return: Tianjin → Benxi"].mid_h == pytest.approx(9.0)
    assert any("road leg" in n for n in notes)
    assert any("a halt at one place" in n for n in notes)  # the Khasan welcome, 3b
    assert any("claims only" in n for n in notes)


def test_crps_of_a_normal() -> None:
    from scipy.stats import norm

    from simulator.calibration.validation import crps

    rng = np.random.default_rng(0)
    x = rng.normal(10.0, 2.0, 40_000)
    for y in (10.0, 13.0, 4.0):
        z = (y - 10.0) / 2.0
        exact = 2.0 * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / math.sqrt(math.pi))
        assert crps(x, y) == pytest.approx(exact, rel=0.02)
    assert crps(np.full(10, 5.0), 7.0) == pytest.approx(2.0)  # a point forecast: |error|


def test_the_press_method(network) -> None:
    from simulator.calibration.dataset import load_trips
    from simulator.calibration.validation import predict_press, press_speed

    trips, _ = load_trips([ROOT / "scenarios" / "vostochny-2023.yaml", VLADIVOSTOK],
                          network=network)
    vos, vla = trips
    v = press_speed([vos])
    assert v == pytest.approx(sum(leg.km for leg in vos.legs) /
                              sum(leg.mid_h for leg in vos.legs))
    pred = predict_press([vos], vla, 1000, 1)
    assert np.median(pred[:, 0]) == pytest.approx(
        vla.legs[0].km / v * np.median([leg.mid_h / (leg.km / v) for leg in vos.legs]), rel=0.05)


@pytest.mark.xdist_group("pyabc-dask")  # see conftest
@pytest.mark.slow
def test_calibrate_command_small(tmp_path: Path, network, capsys: pytest.CaptureFixture[str]
                                 ) -> None:
    cal = tmp_path / "calibrated.yaml"
    out = tmp_path / "calibration"
    readme = tmp_path / "README.md"
    from simulator.calibration.report import README_BEGIN, README_END

    readme.write_text(f"# x\n\n{README_BEGIN}\nold\n{README_END}\n\nrest\n", encoding="utf-8")
    code = main(["calibrate", str(VLADIVOSTOK), str(ROOT / "scenarios" / "vostochny-2023.yaml"),
                 "--cv", "--candidates", "base", "--population", "16", "--simulations", "48",
                 "--generations", "2", "--draws", "100", "--workers", "1", "--seed", "5",
                 "--quiet",
                 "--calibration", str(cal), "--out", str(out), "--readme", str(readme)])
    text = capsys.readouterr()
    assert code == 0, text.err
    for name in ("summary.md", "posterior.png", "fit.png", "cv.png", "reliability.png",
                 "fit.csv", "cv.csv", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    # the last line names every file written (it left out fit.csv and cv.csv)
    assert "(summary.md, posterior.png, fit.png, fit.csv, cv.png, reliability.png, cv.csv)" \
        in text.out
    got = load_calibration(cal)
    assert got.provenance["seed"] == 5 and "--seed 5" in got.provenance["command"]
    assert "cross_validation" in got.provenance
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert "Leave-one-trip-out" in summary and "press" in summary and "hand-set" in summary
    new = readme.read_text(encoding="utf-8")
    assert "old" not in new and new.endswith("rest\n") and "| trip | leg |" in new


@pytest.mark.parametrize(("text", "expected"), [
    (None, "file not found"), ("# a README\n", "no generated calibration section")])
def test_a_bad_readme_is_refused_before_any_fit(tmp_path: Path, text: str | None, expected: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    readme = tmp_path / "README.md"
    if text is not None:
        readme.write_text(text, encoding="utf-8")
    cal = tmp_path / "calibrated.yaml"
    assert main(["calibrate", str(VLADIVOSTOK), "--quiet", "--calibration", str(cal),
                 "--out", str(tmp_path / "out"), "--readme", str(readme)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--readme {readme}: {expected}" in err, err
    assert not cal.exists() and not (tmp_path / "out").exists()


def test_run_with_the_hand_rules(tmp_path: Path, network) -> None:
    out = tmp_path / "hand"
    assert main(["run", str(VLADIVOSTOK), "-n", "10", "--defaults", "hand", "--out", str(out),
                 "--quiet", "--workers", "1"]) == 0
    assert "hand-set rules" in (out / "summary.md").read_text(encoding="utf-8")


def test_a_calibration_applies_only_to_the_rules_it_was_fitted_to(network, vladivostok) -> None:
    from simulator.calibration import operating_digest

    cal = _toy()
    cal.provenance = {"operating_digest": operating_digest(vladivostok.defaults)}
    prep = prepare(vladivostok, network=network, calibration=cal)
    assert prep.plan.calibration is cal and not any("fitted to other" in w
                                                    for w in prep.warnings)
    cal.provenance = {"operating_digest": "0" * 64}
    prep = prepare(vladivostok, network=network, calibration=cal)
    assert prep.plan.calibration is None
    assert any("fitted to other operating rules" in w for w in prep.warnings)
    with pytest.raises(ValueError, match="defaults must be one of"):
        prepare(vladivostok, network=network, defaults="tuned")


def test_a_candidate_is_kept_only_beyond_noise() -> None:
    from simulator.calibration.dataset import Leg
    from simulator.calibration.run import improvement
    from simulator.calibration.validation import Forecast

    legs = [Leg("t", f"l{i}", "a", "b", 0, 1, False, False, 10.0, 10.0, 100.0, 0.0, 100.0)
            for i in range(12)]
    rng = np.random.default_rng(1)
    wide = [Forecast(leg, "base", rng.normal(10, 3, 4000)) for leg in legs]
    sharp = [Forecast(leg, "c", rng.normal(10, 0.5, 4000)) for leg in legs]
    assert improvement(wide, sharp) > 0  # better on every leg
    # better on one leg, worse on others: no
    mixed = [sharp[0], *wide[1:]]
    assert improvement(wide, mixed) == 0.0
    assert improvement(sharp, wide) == 0.0


@pytest.mark.xdist_group("pyabc-dask")  # see conftest
@pytest.mark.slow
def test_fits_on_processes_and_dask_give_the_same_result(network) -> None:
    """A fit is determined by its seed: the same samples again in this process, on a pool of
    two processes (whose workers end with the run) and on a Dask cluster; another seed gives
    others, all inside the prior."""
    import multiprocessing

    from distributed import LocalCluster

    from simulator.calibration.dataset import load_trips
    from simulator.calibration.fit import FitJob, FitSettings, run_fits

    trips, _ = load_trips([VLADIVOSTOK], network=network)
    small = FitSettings(population=12, generations=2, max_simulations=40, samples=20)
    jobs = [FitJob("a", (0,), "base", 11), FitJob("b", (0,), "base", 12)]
    here = run_fits(trips, jobs, small)
    before = set(multiprocessing.active_children())
    pooled = run_fits(trips, jobs, small, workers=2)
    assert set(multiprocessing.active_children()) <= before
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        there = run_fits(trips, jobs[:1], small, scheduler=cluster.scheduler_address)
    again = run_fits(trips, jobs[:1], small)
    for name in ("a", "b"):
        assert np.array_equal(here[name].calibration.samples, pooled[name].calibration.samples)
    assert np.array_equal(here["a"].calibration.samples, there["a"].calibration.samples)
    assert np.array_equal(here["a"].calibration.samples, again["a"].calibration.samples)
    assert not np.array_equal(here["a"].calibration.samples, here["b"].calibration.samples)
    cap = here["a"].calibration["cap:RU"]
    assert np.all((cap >= 45) & (cap <= 100))  # within the prior


def test_the_digest_follows_the_rules_that_shape_times() -> None:
    from simulator.calibration import operating_digest
    from simulator.scenario import load_defaults

    rules = load_defaults()
    same = rules.model_copy(update={"line_occupation": None})  # logistics only
    assert operating_digest(same) == operating_digest(rules)
    fewer = rules.model_copy(update={"caps": rules.caps[:1]})
    assert operating_digest(fewer) != operating_digest(rules)
