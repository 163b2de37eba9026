"""The nowcast's particle filter on a small synthetic route, where the exact answer is known."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from synthetic import FIXED, journey

from simulator.journey import draw_parameters
from simulator.nowcast import (
    ParticleFilter,
    log_likelihood,
    model_sigma_s,
    nowcast,
    plan_with_sightings,
    weighted_quantile,
)
from simulator.planning import Prepared
from simulator.sightings import PlacedSighting, Sighting, SightingKind

Z90 = 1.6448536269514722  # the 95 % point of the standard normal


def seen(prep: Prepared, km: float, when: datetime, *, minutes: float = 5.0,
         kind: SightingKind = SightingKind.PASSING, latest: datetime | None = None
         ) -> PlacedSighting:
    s = Sighting(f"km {km:g}", when, latest or when, minutes * 60, kind, f"test km {km:g}")
    return PlacedSighting(s, km, f"km {km:g}", 0.0, 0.0, 0.0)


def planned(tmp_path: Path, sightings_km: list[float], **options: object
            ) -> tuple[Prepared, list[int]]:
    """A synthetic journey planned with route points at ``sightings_km``."""
    prep = journey(tmp_path, **options)  # type: ignore[arg-type]
    epoch = prep.plan.epoch
    # times only to plan with (a slow train: any rules make these possible)
    placed = [seen(prep, km, epoch + timedelta(hours=8 + km / 20)) for km in sightings_km]
    prep, _, points = plan_with_sightings(prep.scenario, prep.itinerary, placed)
    return prep, points


def running_s(prep: Prepared, a: float, b: float) -> float:
    """The speed profile's running time from km a to km b (no caps drawn: fixed rules)."""
    plan = prep.plan
    params = draw_parameters(plan, 0, 1)
    from simulator._batch import Batch

    batch = Batch(plan, params, None)
    c = plan.cum_at(np.array([a, b]), np.zeros(2, dtype=int), batch.g0, batch.w1)
    return float(c[1] - c[0])


def test_weighted_quantile_matches_numpy_with_equal_weights() -> None:
    x = np.random.default_rng(1).normal(size=1001)
    q = [0.05, 0.5, 0.95]
    assert np.allclose(weighted_quantile(x, np.ones_like(x), q),
                       np.quantile(x, q, method="hazen"))
    # particles of no weight do not count
    v = np.array([1.0, 2.0, 3.0])
    assert weighted_quantile(v, np.array([1.0, 0.0, 1.0]), 0.5)[0] == pytest.approx(2.0)
    assert weighted_quantile(v, np.array([0.0, 0.0, 1.0]), 0.05)[0] == pytest.approx(3.0)


def test_likelihood_of_intervals() -> None:
    lo = np.array([0.0, 100.0, 120.0])
    hi = np.array([50.0, 100.0, 400.0])
    ll = log_likelihood(lo, hi, (150.0, 150.0), 50.0)
    assert ll[2] == 0.0  # standing there at the time: the best fit
    assert ll[0] == pytest.approx(-0.5 * 4)  # left 100 s (2 σ) before
    assert ll[1] == pytest.approx(-0.5)
    # with the model's error (a Student t of 4 degrees of freedom) the tails are heavy: far
    # off by 10 standard deviations is unlikely but not impossible
    from scipy.stats import t

    gaps = np.array([0.0, 300.0, 1000.0])
    ll = log_likelihood(gaps, gaps, (0.0, 0.0), 1.0, 100.0)
    scale = 100.0 * np.sqrt(2 / 4)  # a t of standard deviation 100 s
    expected = t.logpdf(gaps / scale, 4) - t.logpdf(0, 4)
    assert np.allclose(ll - ll[0], expected, atol=0.05)


def test_model_error_grows_like_a_random_walk_beyond_a_leg() -> None:
    span = 15.5 * 3600
    assert model_sigma_s(span / 2, 0.1) == pytest.approx(0.1 * span / 2)
    assert model_sigma_s(4 * span, 0.1) == pytest.approx(0.1 * 2 * span)


@pytest.mark.no_cover
def test_departure_window_is_narrowed_exactly(tmp_path: Path) -> None:
    """A uniform departure window, no randomness but the departure: a sighting at km 100
    makes the arrival a normal of the sighting's standard deviation around the truth."""
    prep, points = planned(tmp_path, [100.0],
                           depart=["2019-02-23 12:00 +00:00", "2019-02-23 14:00 +00:00"])
    plan = prep.plan
    t100, t200 = running_s(prep, 0, 100), running_s(prep, 0, 200)
    truth_depart = datetime.fromisoformat("2019-02-23 12:50+00:00")
    sighting = seen(prep, 100.0, truth_depart + timedelta(seconds=t100), minutes=5)
    pf = ParticleFilter(plan, draw_parameters(plan, 3, 8000), seed=3, points=points,
                        model_error=0.0)
    step = pf.assimilate(sighting, points[0])
    assert step.ess < 0.25 * 8000  # a 5-min sighting against a 2-h window
    final = pf.equal_weights()
    arrive = final.arrive_s[:, -1]
    expected = (truth_depart - plan.epoch).total_seconds() + t200
    q05, q50, q95 = np.quantile(arrive, [0.05, 0.5, 0.95])
    assert q50 == pytest.approx(expected, abs=45)
    assert q95 - q50 == pytest.approx(Z90 * 300, rel=0.15)
    assert q50 - q05 == pytest.approx(Z90 * 300, rel=0.15)
    # the prior is kept as it was drawn: the whole window
    prior = pf.prior.arrive_s[:, -1]
    assert np.ptp(prior) == pytest.approx(7200, rel=0.01)


@pytest.mark.no_cover
def test_a_sighting_reveals_the_pace_and_it_stays(tmp_path: Path) -> None:
    """A trip-level pace factor drawn in [0.8, 1.25]: a precise sighting at km 100 identifies
    it, and the arrival at km 200 follows (twice the sighting's error, as km 200 is twice as
    far)."""
    prep, points = planned(tmp_path, [100.0])
    plan = prep.plan
    params = draw_parameters(plan, 5, 8000)
    params["pace"] = np.random.default_rng(5).uniform(0.8, 1.25, len(params))
    t100, t200 = running_s(prep, 0, 100), running_s(prep, 0, 200)
    depart = params["depart_s"][0]
    truth = 1.1
    sighting = seen(prep, 100.0, plan.epoch + timedelta(seconds=depart + truth * t100),
                    minutes=2)
    pf = ParticleFilter(plan, params, seed=5, points=points, model_error=0.0)
    pf.assimilate(sighting, points[0])
    final = pf.equal_weights()
    pace = final.params["pace"]
    assert np.median(pace) == pytest.approx(truth, abs=0.004)
    arrive = final.arrive_s[:, -1]
    q05, q50, q95 = np.quantile(arrive, [0.05, 0.5, 0.95])
    assert q50 == pytest.approx(depart + truth * t200, abs=60)
    sd = 120 * t200 / t100
    assert (q95 - q05) / 2 == pytest.approx(Z90 * sd, rel=0.2)


@pytest.mark.no_cover  # 46,000 particles through code the other tests cover: slow traced
@pytest.mark.slow
def test_sequential_filter_agrees_with_one_big_importance_sample(tmp_path: Path) -> None:
    """With unplanned stops, halts, a pilot train and an uncertain cap, the filter (resampling,
    kernel moves, runs continued from a state) gives the posterior of plain importance sampling
    over a large sample weighted by both sightings at once."""
    halts = [(150.0, {"at": "Town", "kind": "stop",
                      "duration": {"triangular": [10, 30, 90], **FIXED}})]
    prep, points = planned(tmp_path, [100.0, 200.0], km=300.0, stations=6, delays=1.0,
                           delay_minutes={"triangular": [5, 30, 120], **FIXED},
                           headway={"triangular": [10, 20, 40], **FIXED},
                           cap_range=(45.0, 75.0), halts=halts)
    plan = prep.plan
    prior = draw_parameters(plan, 11, 40_000)
    pf_big = ParticleFilter(plan, prior, seed=11, points=points,
                            model_error=0.0, ess_threshold=0.0)
    # the truth: one replication from a different seed
    truth = pf_big.simulate(plan, draw_parameters(plan, 999, 1)).arrive_s[0]
    sightings = [seen(prep, km, plan.epoch + timedelta(seconds=float(truth[p])), minutes=10)
                 for km, p in zip([100.0, 200.0], points, strict=True)]
    for s, p in zip(sightings, points, strict=True):
        pf_big.assimilate(s, p)  # never resamples: importance sampling
    reference = weighted_quantile(pf_big.particles.arrive_s[:, -1], pf_big.particles.weights,
                                  [0.05, 0.5, 0.95])
    pf = ParticleFilter(plan, draw_parameters(plan, 12, 6000), seed=12, points=points,
                        model_error=0.0,
                        ess_threshold=1.0)  # resamples and moves after every sighting
    for s, p in zip(sightings, points, strict=True):
        step = pf.assimilate(s, p)
        assert step.resampled
    got = np.quantile(pf.equal_weights().arrive_s[:, -1], [0.05, 0.5, 0.95])
    assert got[1] == pytest.approx(reference[1], abs=6 * 60)
    assert got[0] == pytest.approx(reference[0], abs=12 * 60)
    assert got[2] == pytest.approx(reference[2], abs=15 * 60)
    # and the sightings did narrow the prior
    wide = np.quantile(pf.prior.arrive_s[:, -1], [0.05, 0.95])
    assert got[2] - got[0] < 0.6 * (wide[1] - wide[0])


def test_resampled_copies_get_fresh_noise_and_stay_in_bounds(tmp_path: Path) -> None:
    prep, points = planned(tmp_path, [100.0], km=300.0, delays=1.0,
                           cap_range=(45.0, 75.0))
    plan = prep.plan
    params = draw_parameters(plan, 2, 3000)
    pf = ParticleFilter(plan, params, seed=2, points=points, model_error=0.0)
    when = plan.epoch + timedelta(seconds=float(np.median(pf.prior.arrive_s[:, points[0]])))
    step = pf.assimilate(seen(prep, 100.0, when, minutes=3), points[0])
    assert step.resampled
    keys = pf.particles.params.noise
    assert len(np.unique(keys)) == len(keys)  # every copy has its own stream
    caps = pf.particles.params["cap:AA"]
    assert caps.min() >= params["cap:AA"].min() and caps.max() <= params["cap:AA"].max()
    # every particle still runs forward in time
    assert np.all(np.diff(pf.particles.arrive_s, axis=1) >= -1e-6)


def test_moving_a_run_in_time_equals_running_it_again(tmp_path: Path) -> None:
    """Without night rules the engine ignores the clock: shifting a particle's future (what the
    filter does) gives the same times as running it again from the shifted state."""
    prep, points = planned(tmp_path, [100.0], km=300.0, stations=5, delays=1.5,
                           delay_minutes={"triangular": [5, 30, 120], **FIXED},
                           headway={"triangular": [10, 20, 40], **FIXED},
                           cap_range=(45.0, 75.0))
    plan = prep.plan
    when = plan.epoch + timedelta(hours=9)
    runs = []
    for translatable in (True, False):
        pf = ParticleFilter(plan, draw_parameters(plan, 4, 500), seed=4, points=points,
                            model_error=0.1,
                            ess_threshold=0.0)
        pf.translatable = translatable
        pf.assimilate(seen(prep, 100.0, when, minutes=20), points[0])
        runs.append(pf.particles.arrive_s)
    assert np.allclose(runs[0], runs[1], atol=1e-6)


def test_model_error_pins_the_train_where_it_was_seen(tmp_path: Path) -> None:
    """A sighting far from what the model expects: with the model's error the train is placed
    where it was seen (not at the nearest simulated time) and runs on from there."""
    prep, points = planned(tmp_path, [100.0])
    plan = prep.plan
    pf = ParticleFilter(plan, draw_parameters(plan, 6, 4000), seed=6, points=points,
                        model_error=0.1)
    expected = float(np.median(pf.prior.arrive_s[:, points[0]]))
    when = expected + 2 * 3600  # two hours late: the rules cannot make the train that slow
    pf.assimilate(seen(prep, 100.0, plan.epoch + timedelta(seconds=when), minutes=5),
                  points[0])
    at = pf.particles.arrive_s[:, points[0]]
    assert np.median(at) == pytest.approx(when, abs=300)  # within the sighting's error
    assert np.std(at) < 7 * 60
    final = pf.equal_weights(model_error=False).arrive_s[:, -1]
    run = running_s(prep, 100, 200)
    assert np.median(final) == pytest.approx(when + run, abs=600)
    # the times before the sighting are spread along the leg, in order
    assert np.all(np.diff(pf.particles.arrive_s, axis=1) >= -1e-6)


@pytest.mark.no_cover
def test_stopped_at_a_halt(tmp_path: Path) -> None:
    """'stopped at' matches particles standing there at the time: a halt of 20–100 min at
    km 100; the train seen standing there 90 min after the earliest possible arrival."""
    halts = [(100.0, {"at": "Town", "kind": "stop",
                      "duration": {"uniform": [20, 100], **FIXED}})]
    prep, points = planned(tmp_path, [100.0], halts=halts)
    plan = prep.plan
    pf = ParticleFilter(plan, draw_parameters(plan, 7, 4000), seed=7, points=points,
                        model_error=0.0)
    arrive = float(pf.prior.arrive_s[0, points[0]])
    step = pf.assimilate(seen(prep, 100.0, plan.epoch + timedelta(seconds=arrive + 90 * 60),
                              minutes=2, kind=SightingKind.STOPPED), points[0])
    assert step.ess < 4000
    halt = pf.equal_weights().params["halt:stop:Town"]
    assert halt.min() >= 80 * 60  # halts still going on 90 min after the arrival (± 2 σ)
    assert np.median(halt) == pytest.approx(95 * 60, abs=3 * 60)


def test_nowcast_of_a_scenario(tmp_path: Path) -> None:
    prep, points = planned(tmp_path, [100.0], cap_range=(45.0, 75.0))
    plan = prep.plan
    t = plan.epoch + timedelta(seconds=float(np.median(
        ParticleFilter(plan, draw_parameters(plan, 1, 200), seed=1).prior.arrive_s[:, points[0]]
    )) + 1800)
    placed = [seen(prep, 100.0, t)]
    prepared = plan_with_sightings(prep.scenario, prep.itinerary, placed)
    result = nowcast(prep.scenario, [], particles=2000, prepared=prepared)
    assert result.now == t
    assert len(result.steps) == 1 and result.steps[0].ess > 0
    # the train runs between km 100 and the end at the time of the sighting: at km 100
    assert np.median(result.position_km) == pytest.approx(100.0, abs=3)
    late = np.median(result.posterior.mc.arrive_s[:, -1]) - np.median(
        result.prior.mc.arrive_s[:, -1])
    assert late > 1800  # seen late, it arrives late (and later: the caps are slower)
    # a notebook shows the result in one line (the dataclass's own repr printed every array)
    text = repr(result)
    assert text.startswith(f"<NowcastResult {prep.scenario.name}: 1 sighting(s), 2,000 particles")
    assert f"at km {np.median(result.position_km):,.0f} (5–95 % km" in text and len(text) < 300
