"""The next-event engine is the same model as the chunked engine it replaced.

``tests/data/equivalence/`` holds, per flagship scenario, what the chunked engine (route cut into
≤ 20 km chunks stepped one by one) gave over 40,000 replications: 2,000 quantiles and the median
of the rail journey time, of the time between consecutive stops, and of every reported leg. It
also holds the inputs as they were then: the scenario, the operating rules and the rolling stock
(copies), and the itinerary (the route and its places), so that the comparison keeps its meaning
when the network data, the router or the shared rules change. See ``README.md`` there.

Each quantity must pass a two-sample Kolmogorov–Smirnov test (family-wise α = 1 % per scenario,
Bonferroni) and its median must lie within 0.5 % of the chunked engine's.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from simulator.montecarlo import MonteCarloResult, run_monte_carlo
from simulator.planning import Itinerary, MarkKind, Prepared, plan_journey
from simulator.reports import analyse
from simulator.scenario import load_scenario

DATA = Path(__file__).parent / "data" / "equivalence"
SCENARIOS = sorted(p.stem for p in (DATA / "scenarios").glob("*.yaml"))
#: replications of the next-event engine per scenario (the median of a leg is then known to
#: about 0.2 %, well inside MEDIAN_TOLERANCE)
N = 3_000
ALPHA = 0.01
MEDIAN_TOLERANCE = 0.005


def frozen(name: str) -> Prepared:
    scenario = load_scenario(DATA / "scenarios" / f"{name}.yaml",
                             defaults=DATA / "operating.yaml")
    itinerary = Itinerary.read(DATA / f"{name}.itinerary.json")
    # the chunked engine drew from the hand-set rules: compare the engines on those
    return plan_journey(scenario, itinerary, defaults="hand")


def quantities(prep: Prepared, mc: MonteCarloResult) -> dict[str, np.ndarray]:
    """The same quantities the reference holds, in hours."""
    out = {"rail journey": mc.journey_s / 3600}
    stops = prep.itinerary.marks_of(MarkKind.STOP)
    km = prep.plan.km
    for a, b in itertools.pairwise(stops):
        ia = int(np.argmin(np.abs(km - a.km)))
        ib = int(np.argmin(np.abs(km - b.km)))
        out[f"stops: {a.name} → {b.name}"] = (mc.arrive(ib) - mc.depart(ia)) / 3600
    for leg in analyse(prep, mc).comparisons:
        out.setdefault(leg.leg, np.asarray(leg.sim_h))
    return out


def test_the_reference_covers_the_five_flagship_scenarios() -> None:
    assert set(SCENARIOS) == {"hanoi-2019", "hanoi-2019-return", "vladivostok-2019",
                              "vladivostok-2023-expected", "vostochny-2023"}


# untraced by coverage (`make test`): 3,000 replications of the engine that the other tests
# cover line by line would take several times longer traced
@pytest.mark.no_cover
@pytest.mark.parametrize("name", SCENARIOS)
def test_same_distributions_as_the_chunked_engine(name: str) -> None:
    from scipy.stats import ks_2samp  # a quarter of a second: not for every worker's collection

    ref = np.load(DATA / f"{name}.npz")
    prep = frozen(name)
    mc = run_monte_carlo(prep.plan, N, seed=20240601, workers=1)
    got = quantities(prep, mc)
    names = [str(x) for x in ref["names"]]
    assert set(names) == set(got), "the reference and the engine name different quantities"
    alpha = ALPHA / len(names)
    for i, q in enumerate(names):
        ks = ks_2samp(got[q], ref["quantiles_h"][i])
        median = float(np.median(got[q]))
        ref_median = float(ref["median_h"][i])
        assert ks.pvalue > alpha, f"{q}: KS p = {ks.pvalue:.2g}"
        assert abs(median - ref_median) <= MEDIAN_TOLERANCE * ref_median, (
            f"{q}: median {median:.3f} h against {ref_median:.3f} h")
