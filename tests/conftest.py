"""Shared fixtures: the bundled network, the flagship scenarios' plans and one small simulated
journey are made once per test session (the network is also kept by ``load_network`` itself, so
commands run in-process reuse it)."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# the package is imported by the fixtures, not here: xdist's controller process loads this file
# too, and would spend two seconds importing what only the workers use before starting them
if TYPE_CHECKING:
    from simulator import RailNetwork, ScenarioResult
    from simulator.planning import Prepared
    from simulator.reports import Analysis

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"

# charts drawn through pyplot (the API's plot_* methods without axes) need no display
os.environ.setdefault("MPLBACKEND", "Agg")

#: the garbage collector tuned for a long session of short tests: collections every 200,000
#: net allocations of containers instead of 700, a full one after 50 × 50 of those. Each full
#: collection scanned the whole heap again, about 16 times per worker, 4 s of each worker's 33 s
#: (timed with gc.callbacks); figures and frames are still freed, in fewer, larger collections
GC_THRESHOLDS = (200_000, 50, 50)
gc.set_threshold(*GC_THRESHOLDS)


@pytest.hookimpl(wrapper=True, trylast=True)  # inside pytest-cov's own wrapper
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Tests marked ``no_cover`` run untraced (on their own thread; threads they start are
    still traced). pytest-cov pauses coverage for them, but with Python 3.11's tracer, on an
    xdist worker, its pause does not reach the thread that runs the tests (the tracer was
    started on another thread), and a statistical test through traced loops takes three times
    as long. (On 3.12+ coverage uses sys.monitoring, which the pause does turn off: there is
    no tracer here then.) A test is marked only where every line it runs is covered by
    another test (``scripts/coverage_overlap.py`` checks it from coverage's per-test
    contexts) that does not depend on the machine's number of CPUs."""
    tracer = sys.gettrace()
    if tracer is None or item.get_closest_marker("no_cover") is None:
        return (yield)
    sys.settrace(None)
    try:
        return (yield)
    finally:
        sys.settrace(tracer)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Everything left goes to the garbage collector's permanent generation once the session
    is over (after pytest's own last collection, which reports unraisable exceptions): the
    interpreter's exit then does not collect the whole heap again, which took each worker
    0.6–1 s at the end of every run (a process holding the network: 0.60 s to exit, 0.06 s
    frozen)."""
    gc.freeze()


#: session fixtures that simulate and write a whole run: their tests share a worker
SHARED_RUNS = ("vladivostok_run", "logistics_run")


@pytest.hookimpl(trylast=True)  # after `-m` has deselected: the halves are of what runs
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the tests for xdist's worksteal, which gives each of two workers one half of the
    list, in order (and lets a worker that ran dry take tests from the end of the other's).

    The slow tests go first, spread over both halves, so that the run ends on short tests on
    both workers instead of one worker finishing a long test alone. Tests that share a costly
    first use in a process go to the front of one half together: those marked with the same
    ``xdist_group`` (pyabc and Dask take 1.3 s to import) and those of one costly session
    fixture (:data:`SHARED_RUNS`).
    """
    halves: tuple[list[pytest.Item], list[pytest.Item]] = ([], [])
    groups: dict[str, list[pytest.Item]] = {}
    alone: list[pytest.Item] = []
    rest: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        shared = [f for f in SHARED_RUNS if f in getattr(item, "fixturenames", ())]
        if marker is not None or shared:
            groups.setdefault(str(marker.args[0]) if marker else shared[0], []).append(item)
        elif item.get_closest_marker("slow"):
            alone.append(item)
        else:
            rest.append(item)

    def slow_count(tests: list[pytest.Item]) -> int:
        return sum(1 for t in tests if t.get_closest_marker("slow"))

    # the groups whole, the larger first, then the other slow tests one by one, each to the
    # half with fewer slow tests so far
    units = sorted(groups.values(), key=slow_count, reverse=True) + [[t] for t in alone]
    for unit in units:
        min(halves, key=slow_count).extend(unit)
    for half in halves:  # its slow tests first, then the rest of its groups
        half.sort(key=lambda t: not t.get_closest_marker("slow"))
    cut = max(len(items) // 2 - len(halves[0]), 0)
    items[:] = halves[0] + rest[:cut] + halves[1] + rest[cut:]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # tests never write to the user's cache
    os.environ["TRAINSIM_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def network(_isolated_cache: None) -> RailNetwork:
    from simulator import load_network

    return load_network()


@pytest.fixture(scope="session", autouse=True)
def _long_lived_heap_frozen(network: RailNetwork) -> None:
    """What lives for the whole session (the imported modules, the bundled network and its
    router) goes to the garbage collector's permanent generation, which no collection scans
    again (see GC_THRESHOLDS)."""
    from simulator.routing import router_for

    router_for(network)
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def flagship(network: RailNetwork) -> Callable[[str], Prepared]:
    """``flagship(name)``: a flagship scenario planned on the bundled network (once each)."""
    from simulator.run import plan_scenario

    plans: dict[str, Prepared] = {}

    def plan(name: str) -> Prepared:
        if name not in plans:
            plans[name] = plan_scenario(name, network=network)
        return plans[name]

    return plan


@pytest.fixture(scope="session")
def vladivostok(flagship: Callable[[str], Prepared]) -> ScenarioResult:
    """A small simulated journey (Khasan → Ussuriysk → Vladivostok, 30 runs)."""
    from simulator import simulate

    return simulate(flagship("vladivostok-2019"), replications=30, workers=1)


@pytest.fixture(scope="session")
def vladivostok_result(vladivostok: ScenarioResult) -> Analysis:
    """Its analysis, as the map and export writers take it."""
    return vladivostok.analysis


@pytest.fixture(scope="session")
def vladivostok_run(network: RailNetwork, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The output folder of ``trainsim run scenarios/vladivostok-2019.yaml -n 60 --seed 1``."""
    from simulator.cli import main

    out = tmp_path_factory.mktemp("run") / "vladivostok-2019"
    code = main(["run", str(ROOT / "scenarios" / "vladivostok-2019.yaml"), "-n", "60",
                 "--seed", "1", "--out", str(out), "--quiet"])
    assert code == 0
    return out


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests never touch the network: `network fetch` skips its connection probe (tests that use
    # recorded Overpass responses replace the download itself); test_robustness tests the probe
    from simulator.network import fetch

    monkeypatch.setattr(fetch, "check_connection", lambda urls, **kwargs: None)
    monkeypatch.setattr(fetch, "_check_overpass_status", lambda url, **kwargs: None)
