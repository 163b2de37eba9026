"""Running scenarios: from a scenario file to its simulated journeys.

The steps, each a public function::

    load_scenario ─▶ plan_scenario ─────────────▶ simulate ───────────▶ ScenarioResult
    (scenario.py)    (route, plan, check: no       (Monte Carlo,          (tables, charts,
                     simulating yet)                then analysis)          .write())

:func:`run_scenario` does them all for one scenario; :func:`compare_scenarios` for several,
checking every one (file, route, reported places) before simulating any, so that a bad input
fails in seconds. The analyses of a scenario: :func:`sweep_scenario` (what-ifs),
:func:`sensitivity_analysis` (Sobol indices), :func:`nowcast_scenario` (conditioned on
sightings). The command line (``trainsim run``, ``compare``, ``validate``, ``sweep``,
``sensitivity``, ``nowcast``) calls these.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from simulator.calibration.fit import CANDIDATES, FitSettings
from simulator.calibration.run import CalibrationRun
from simulator.calibration.run import calibrate as run_calibration
from simulator.errors import ArgumentError, ScenarioError
from simulator.montecarlo import run_monte_carlo
from simulator.network.graph import RailNetwork, load_network
from simulator.nowcast import (
    DEFAULT_PARTICLES,
    MODEL_ERROR,
    NowcastResult,
    nowcast,
    sighting_uncertainty_min,
)
from simulator.planning import Prepared, prepare
from simulator.reports import analyse, check_reported_legs
from simulator.results import ScenarioComparison, ScenarioResult
from simulator.scenario import MAX_REPLICATIONS, MAX_SEED, Scenario, load_scenario, scenario_path
from simulator.sensitivity import SensitivityResult, sobol_sensitivity
from simulator.sightings import Sighting, parse_sighting
from simulator.sweep import SweepResult, Variation, design_points, parse_variation, run_sweep

__all__ = ["Progress", "calibrate", "check_distinct_names", "compare_scenarios", "nowcast_scenario",
           "plan_scenario", "run_scenario", "sensitivity_analysis", "simulate", "sweep_scenario"]

#: a progress callback: ``progress(scenario_name, replications_done, replications_total)``
Progress = Callable[[str, int, int], object]


def plan_scenario(scenario: Scenario | str | Path, *,
                  network: RailNetwork | str | Path | None = None,
                  defaults: str = "calibrated") -> Prepared:
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
    defaults
        ``"calibrated"``: every draw takes the shared operating parameters from the
        calibration's posterior (``scenarios/defaults/calibrated.yaml``,
        :mod:`simulator.calibration`); ``"hand"``: the hand-set rules of
        ``scenarios/defaults/operating.yaml``. The scenario's overrides apply either way.

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
    prep = prepare(loaded, network=net, defaults=defaults)
    check_reported_legs(prep)
    return prep


def simulate(prepared: Prepared, *, replications: int | None = None, seed: int | None = None,
             workers: int | None = None, scheduler: str | None = None,
             progress: Progress | None = None, sensitivity: int = 0) -> ScenarioResult:
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
    sensitivity
        When > 0, also the Sobol indices of the arrival and leg times with this many base
        samples (a power of two; see :func:`sensitivity_analysis`), as
        :attr:`ScenarioResult.sensitivity`. A scenario that draws nothing gets a warning
        instead.

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
    # the pilot train's times too: the line occupation needs them
    mc = run_monte_carlo(prepared.plan, n, seed=seed, workers=workers, scheduler=scheduler,
                         progress=_ticks(progress, scenario.name, n), pilot=True)
    indices = None
    if sensitivity:
        try:
            indices = _sobol(prepared, sensitivity, seed, workers, scheduler, progress)
        except ScenarioError as exc:  # nothing drawn: the other outputs still stand
            prepared = replace(prepared, warnings=[*prepared.warnings,
                                                   f"no sensitivity analysis: {exc}"])
    return ScenarioResult(analyse(prepared, mc), sensitivity=indices)


def _ticks(progress: Progress | None, label: str, total: int) -> Callable[[int], None] | None:
    """``progress`` as run_monte_carlo calls it (with the replications done)."""
    if progress is None:
        return None
    report = progress

    def tick(done: int) -> None:
        report(label, done, total)

    return tick


def _sobol(prepared: Prepared, base_n: int, seed: int, workers: int | None,
           scheduler: str | None, progress: Progress | None) -> SensitivityResult:
    if base_n < 2 or base_n & (base_n - 1):
        msg = f"sensitivity: expected a power of two ≥ 2 base samples, got {base_n}"
        raise ArgumentError(msg)
    label = f"{prepared.scenario.name} (sensitivity)"
    report = None if progress is None else (
        lambda done, total: progress(label, done, total))  # type: ignore[misc]
    return sobol_sensitivity(prepared, base_n=base_n, seed=seed, workers=workers,
                             scheduler=scheduler, progress=report)


def run_scenario(scenario: Scenario | str | Path, *, replications: int | None = None,
                 seed: int | None = None, workers: int | None = None,
                 network: RailNetwork | str | Path | None = None,
                 progress: Progress | None = None, scheduler: str | None = None,
                 sensitivity: int = 0, defaults: str = "calibrated") -> ScenarioResult:
    """Simulate a scenario: plan it (:func:`plan_scenario`), then run it (:func:`simulate`).

    Parameters
    ----------
    scenario
        A loaded scenario, a scenario file, or the name of a bundled scenario
        (``"hanoi-2019"``, ``"vladivostok-2019"``, ...).
    replications, seed, workers, scheduler, progress, sensitivity
        As for :func:`simulate`.
    network, defaults
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
    prepared = plan_scenario(scenario, network=network, defaults=defaults)
    return simulate(prepared, replications=replications, seed=seed, workers=workers,
                    scheduler=scheduler, progress=progress, sensitivity=sensitivity)


def compare_scenarios(scenarios: Sequence[Scenario | str | Path], *,
                      replications: int | None = None, seed: int | None = None,
                      workers: int | None = None,
                      network: RailNetwork | str | Path | None = None,
                      progress: Progress | None = None,
                      scheduler: str | None = None, sensitivity: int = 0,
                      defaults: str = "calibrated") -> ScenarioComparison:
    """Simulate several scenarios and compare each with its reported figures.

    Every scenario is loaded, routed and checked before any is simulated, so that a bad one
    fails in seconds.

    Parameters
    ----------
    scenarios
        Loaded scenarios, scenario files or bundled scenarios' names.
    replications, seed
        When given, for every scenario (else each scenario's own); see :func:`simulate`.
    workers, scheduler, progress, sensitivity
        As for :func:`simulate`.
    network
        The rail network of every scenario (default: each scenario's own, else the bundled
        one); see :func:`plan_scenario`.
    defaults
        As for :func:`plan_scenario`.

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
    prepared = [plan_scenario(s, network=network, defaults=defaults) for s in loaded]
    return ScenarioComparison([
        simulate(p, replications=replications, seed=seed, workers=workers, scheduler=scheduler,
                 progress=progress, sensitivity=sensitivity) for p in prepared])


def sensitivity_analysis(scenario: Scenario | str | Path, *, base_samples: int = 1024,
                         seed: int | None = None, workers: int | None = None,
                         network: RailNetwork | str | Path | None = None,
                         progress: Progress | None = None,
                         scheduler: str | None = None) -> SensitivityResult:
    """Which drawn quantity drives the spread of the arrival and leg times: Sobol indices.

    Variance-based sensitivity (SALib, Saltelli's scheme) with respect to every quantity a
    replication draws; see :mod:`simulator.sensitivity`.

    Parameters
    ----------
    scenario
        A loaded scenario, a scenario file or a bundled scenario's name.
    base_samples
        Base samples N, a power of two; ``N × (factors + 2)`` replications run.
    seed
        Seed of the sample, the noise and the bootstrap (default: the scenario's).
    workers, scheduler, progress
        As for :func:`simulate`.
    network
        As for :func:`plan_scenario`.

    Returns
    -------
    SensitivityResult
        First-order and total indices per output and factor, with ``sentence()``,
        ``rows()`` and ``write(folder)``.

    Raises
    ------
    ScenarioError
        Nothing in the scenario is drawn (no spread to attribute).
    """
    prepared = plan_scenario(scenario, network=network)
    seed = prepared.scenario.seed if seed is None else seed
    return _sobol(prepared, base_samples, seed, workers, scheduler, progress)


def sweep_scenario(scenario: Scenario | str | Path, vary: Sequence[str | Variation], *,
                   design: str = "grid", samples: int | None = None,
                   replications: int | None = None, seed: int | None = None,
                   at: str | None = None, workers: int | None = None,
                   network: RailNetwork | str | Path | None = None,
                   progress: Progress | None = None,
                   scheduler: str | None = None) -> SweepResult:
    """What-if: the arrival over a grid or a Latin hypercube of rule and scenario values.

    Parameters
    ----------
    scenario
        A loaded scenario, a scenario file or a bundled scenario's name.
    vary
        What to vary, as ``trainsim sweep --vary`` takes it (``"caps.KP.kmh=40:60:5"``,
        ``"night.KP.mode=slow,halt"``; see :mod:`simulator.sweep`), or parsed variations.
    design, samples
        ``"grid"`` (every combination) or ``"lhs"``: a Latin hypercube of ``samples`` points.
    replications, seed
        Per design point; every point runs the same replications (common random numbers).
    at
        The place whose arrival is reported (default: the destination).
    workers, scheduler, progress
        As for :func:`simulate`.
    network
        As for :func:`plan_scenario`.

    Returns
    -------
    SweepResult
        The baseline and every design point, with ``markdown()`` and ``write(folder)``.

    Raises
    ------
    VariationError
        A bad path or value (before anything is simulated).
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    variations = [parse_variation(v) if isinstance(v, str) else v for v in vary]
    seed = loaded.seed if seed is None else seed
    n = loaded.replications if replications is None else replications
    _check_range("replications", n, 1, MAX_REPLICATIONS)
    points = len(design_points(variations, method=design, samples=samples, seed=seed))
    base = plan_scenario(loaded, network=network)
    return run_sweep(loaded, variations, method=design, samples=samples, replications=n,
                     seed=seed, base=base, at=at, workers=workers, scheduler=scheduler,
                     progress=_ticks(progress, f"{loaded.name} (sweep)", (points + 1) * n))


def nowcast_scenario(scenario: Scenario | str | Path, sightings: Sequence[str | Sighting], *,
                     now: datetime | None = None, particles: int = DEFAULT_PARTICLES,
                     seed: int | None = None, model_error: float = MODEL_ERROR,
                     network: RailNetwork | str | Path | None = None,
                     workers: int | None = None) -> NowcastResult:
    """Where the train is now and when it will arrive, conditioned on sightings.

    A particle filter over the journey (:mod:`simulator.nowcast`).

    Parameters
    ----------
    scenario
        A loaded scenario, a scenario file or a bundled scenario's name.
    sightings
        What was seen, as ``trainsim nowcast --seen`` takes it (``"Tianjin 2019-02-24 13:00
        +08:00 ±20m"``, ``"stopped at Changsha 2019-02-25 13:10 Asia/Shanghai"``), or parsed.
    now
        The moment whose position is wanted (default: the last sighting).
    particles, seed, model_error
        Particles of the filter, its seed (default: the scenario's) and the model's own
        error on a leg (a fraction of its time).
    network
        As for :func:`plan_scenario`.
    workers
        Local processes that run the particles (default: the CPUs available); the result is
        the same with any number.

    Returns
    -------
    NowcastResult
        The forecast before and after the sightings, the position now; written by
        :func:`simulator.nowcast_outputs.write_nowcast`.

    Raises
    ------
    SightingError
        An unreadable, off-route or impossible sighting.
    """
    loaded = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    default = sighting_uncertainty_min(loaded)
    seen = [parse_sighting(s, default_uncertainty_min=default, origin=repr(s))
            if isinstance(s, str) else s for s in sightings]
    net = load_network(network) if isinstance(network, str | Path) else network
    return nowcast(loaded, seen, now=now, particles=particles, seed=seed,
                   model_error=model_error, network=net, workers=workers)


def calibrate(scenarios: Sequence[str | Path], *, seed: int = 13, cv: bool = False,
              candidates: Sequence[str] = CANDIDATES, population: int | None = None,
              generations: int | None = None, simulations: int | None = None,
              draws: int | None = None, workers: int | None = None,
              scheduler: str | None = None, command: str = "",
              progress: Callable[[str], object] | None = None) -> CalibrationRun:
    """Fit the shared operating parameters to every measured leg of the scenarios (ABC-SMC).

    ``trainsim calibrate`` without the files: :mod:`simulator.calibration`. The result's
    ``calibration`` is what ``scenarios/defaults/calibrated.yaml`` holds
    (``run.calibration.write(path)``); every draw then uses it.

    Parameters
    ----------
    scenarios
        Scenario files or bundled scenarios' names; those with reported clock times are fitted.
    seed
        Master seed: the same seed gives the same calibration.
    cv
        Also leave-one-trip-out cross-validation against the hand-set rules and the press's
        method, and of the structural ``candidates``.
    candidates
        Structural candidates to cross-validate (:data:`simulator.calibration.fit.CANDIDATES`).
    population, generations, simulations
        The ABC-SMC population, its most generations and simulations per fit (defaults:
        :class:`simulator.calibration.fit.FitSettings`).
    draws
        Predictive draws per leg for the scores and tables (default 2,000; fewer for a quick
        look, at the cost of noisier scores).
    workers, scheduler
        Fits run side by side on local processes (default: the CPUs, at most 8) or a Dask
        cluster.
    command
        How the fit was asked for, kept in the calibration's provenance.
    progress
        Called with a line of text as fits finish.

    Returns
    -------
    CalibrationRun
        The fits, the calibration, and with ``cv`` the held-out forecasts
        (:mod:`simulator.calibration.report` writes them).

    Raises
    ------
    ValueError
        No measured legs to fit (two trips at least with ``cv``), or an unknown candidate.
    """
    paths = [scenario_path(s) for s in scenarios]
    for path in paths:  # every file is checked before anything is fitted
        load_scenario(path)
    base = FitSettings()
    fit = FitSettings(population=population or base.population,
                      generations=generations or base.generations,
                      max_simulations=simulations or base.max_simulations,
                      draws=draws or base.draws)
    return run_calibration(paths, seed=seed, settings=fit, cv=cv, candidates=candidates,
                           workers=workers or min(len(os.sched_getaffinity(0)), 8),
                           scheduler=scheduler, command=command, progress=progress)


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
