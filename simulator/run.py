"""Running scenarios: from a scenario file to its simulated journeys.

The steps, each a public function::

    load_scenario ─▶ plan_scenario ─────────────▶ simulate ───────────▶ ScenarioResult
    (scenario.py)    (route, plan, check: no       (Monte Carlo,          (tables, charts,
                     simulating yet)                then analysis)          .write())

:func:`run_scenario` does them all for one scenario; :func:`compare_scenarios` for several,
checking every one (file, route, reported places) before simulating any, so that a bad input
fails in seconds. The command line (``trainsim run``, ``compare``, ``validate``) calls these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from simulator.errors import ArgumentError, ScenarioError
from simulator.montecarlo import run_monte_carlo
from simulator.network.graph import RailNetwork, load_network
from simulator.planning import Prepared, prepare
from simulator.reports import analyse, check_reported_legs
from simulator.results import ScenarioComparison, ScenarioResult
from simulator.scenario import MAX_REPLICATIONS, MAX_SEED, Scenario, load_scenario

__all__ = ["Progress", "check_distinct_names", "compare_scenarios", "plan_scenario", "run_scenario",
           "simulate"]

#: a progress callback: ``progress(scenario_name, replications_done, replications_total)``
Progress = Callable[[str, int, int], object]


def plan_scenario(scenario: Scenario | str | Path, *,
                  network: RailNetwork | str | Path | None = None) -> Prepared:
    """Route and plan a scenario, and check everything that depends on its route.

    Nothing is simulated: this is what ``trainsim validate`` runs, and a scenario it accepts
    runs.

    Parameters
    ----------
    scenario
        A loaded :class:`~simulator.scenario.Scenario`, a scenario file, or the name of a
        bundled scenario (``"hanoi-2019"``).
    network
        The rail network (a loaded one, or a snapshot file); by default the scenario's
        ``network``, else the bundled one.

    Returns
    -------
    Prepared
        Every planning stage's result (itinerary, traction, route points, speed profiles,
        journey plan), see :mod:`simulator.planning`.

    Raises
    ------
    ScenarioError
        A bad field, an unknown station, an impossible route or order of places, a reported
        leg that runs backwards: one line naming the file, line and field.
    DataFileError
        A file the scenario names is missing.
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    net = load_network(network) if isinstance(network, str | Path) else network
    prep = prepare(loaded, network=net)
    check_reported_legs(prep)
    return prep


def simulate(prepared: Prepared, *, replications: int | None = None, seed: int | None = None,
             workers: int | None = None, scheduler: str | None = None,
             progress: Progress | None = None) -> ScenarioResult:
    """Run the replications of a planned scenario and compare them with the reported figures.

    Parameters
    ----------
    prepared
        A planned scenario (:func:`plan_scenario`).
    replications
        Monte Carlo replications, 1 to 100,000; the scenario's ``replications`` by default.
    seed
        Master seed, 0 to 2**63 − 1; the scenario's ``seed`` by default. The same seed gives
        the same results bit for bit, whatever ``workers`` or ``scheduler``.
    workers
        Local processes (default: the CPUs available, at most 8); 1 runs in this process.
    scheduler
        Address of a Dask distributed scheduler (``"tcp://10.0.0.5:8786"``) to run on instead.
    progress
        Called as ``progress(name, done, total)`` as replications finish.

    Returns
    -------
    ScenarioResult

    Raises
    ------
    ArgumentError
        ``replications`` or ``seed`` out of range.
    NoConnectionError
        The Dask scheduler cannot be reached.
    """
    scenario = prepared.scenario
    n = scenario.replications if replications is None else replications
    seed = scenario.seed if seed is None else seed
    _check_range("replications", n, 1, MAX_REPLICATIONS)
    _check_range("seed", seed, 0, MAX_SEED)
    if workers is not None:
        _check_range("workers", workers, 1, 10_000)
    tick = None
    if progress is not None:
        report = progress

        def tick(done: int) -> None:
            report(scenario.name, done, n)

    mc = run_monte_carlo(prepared.plan, n, seed=seed, workers=workers, scheduler=scheduler,
                         progress=tick)
    return ScenarioResult(analyse(prepared, mc))


def run_scenario(scenario: Scenario | str | Path, *, replications: int | None = None,
                 seed: int | None = None, workers: int | None = None,
                 network: RailNetwork | str | Path | None = None,
                 progress: Progress | None = None,
                 scheduler: str | None = None) -> ScenarioResult:
    """Simulate a scenario: plan it (:func:`plan_scenario`), then run it (:func:`simulate`).

    Parameters
    ----------
    scenario
        A loaded scenario, a scenario file, or the name of a bundled scenario
        (``"hanoi-2019"``, ``"vladivostok-2019"``, ...).
    replications, seed, workers, scheduler, progress
        As for :func:`simulate`.
    network
        As for :func:`plan_scenario`.

    Returns
    -------
    ScenarioResult
        Timeline, legs and comparison as DataFrames, the route as a GeoDataFrame, charts,
        and :meth:`~ScenarioResult.write` for every output file.

    Raises
    ------
    ScenarioError, DataFileError, ArgumentError, NoConnectionError
        See :func:`plan_scenario` and :func:`simulate`.

    Examples
    --------
    >>> from simulator import run_scenario
    >>> result = run_scenario("hanoi-2019", replications=200, seed=1)  # doctest: +SKIP
    >>> result.comparison[["leg", "reported_h", "sim_median_h"]]       # doctest: +SKIP
    """
    prepared = plan_scenario(scenario, network=network)
    return simulate(prepared, replications=replications, seed=seed, workers=workers,
                    scheduler=scheduler, progress=progress)


def compare_scenarios(scenarios: Sequence[Scenario | str | Path], *,
                      replications: int | None = None, seed: int | None = None,
                      workers: int | None = None,
                      network: RailNetwork | str | Path | None = None,
                      progress: Progress | None = None,
                      scheduler: str | None = None) -> ScenarioComparison:
    """Simulate several scenarios and compare each with its reported figures.

    Every scenario is loaded, routed and checked before any is simulated, so that a bad one
    fails in seconds.

    Parameters
    ----------
    scenarios
        Loaded scenarios, scenario files or bundled scenarios' names.
    replications, seed
        When given, for every scenario (else each scenario's own); see :func:`simulate`.
    workers, scheduler, progress
        As for :func:`simulate`.
    network
        The rail network of every scenario (default: each scenario's own, else the bundled
        one); see :func:`plan_scenario`.

    Returns
    -------
    ScenarioComparison
        The result of each scenario (by name: ``comparison["hanoi-2019"]``) and the
        comparison across them.

    Raises
    ------
    ScenarioError
        As :func:`run_scenario`, or two scenarios of the same name (their outputs would
        overwrite each other).
    """
    loaded = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    check_distinct_names(loaded)
    prepared = [plan_scenario(s, network=network) for s in loaded]
    return ScenarioComparison([
        simulate(p, replications=replications, seed=seed, workers=workers, scheduler=scheduler,
                 progress=progress) for p in prepared])


def check_distinct_names(scenarios: Sequence[Scenario]) -> None:
    """Refuse two scenarios of the same name: their outputs would overwrite each other."""
    seen: dict[str, Path | None] = {}
    for sc in scenarios:
        if sc.name in seen:
            msg = (f"{sc.path}: field 'name': '{sc.name}' is also the name of "
                   f"{seen[sc.name]}; their outputs would overwrite each other")
            raise ScenarioError(msg)
        seen[sc.name] = sc.path


def _check_range(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        msg = f"{name}: expected a whole number from {lo:,} to {hi:,}, got {value!r}"
        raise ArgumentError(msg)
