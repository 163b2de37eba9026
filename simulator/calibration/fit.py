"""The fit: ABC-SMC (pyabc) of the shared operating parameters to every fitted leg at once.

Likelihood-free: a particle (one value of every calibrated parameter, plus a standard normal
``z`` per training trip) is simulated, one replication per trip, with the same engine and the
same mapping onto the plan's columns that every run uses
(:meth:`~simulator.calibration.posterior.Calibration.apply`); the reporting error of each leg
(:mod:`~simulator.calibration.dataset`) is added, and the particle is kept when the simulated
legs lie close enough to the reported ones (pyabc's adaptive Euclidean distance, each leg
scaled by its spread in the population; the tolerance shrinks from generation to generation).

Each trip's running pace is ``exp(σ z)`` times the speed profile: σ, the spread of pace from
trip to trip, is fitted with the rest; ``z`` is drawn afresh for every simulation of a trip (in
the fit too: it is integrated out), so a prediction for any trip carries the trip-to-trip
variation.

Reproducibility: a fit runs on pyabc's single-core sampler with numpy's global random state
seeded from the fit's seed, so the same seed gives the same posterior bit for bit (pyabc's
multicore samplers are not deterministic). Parallelism comes from running the fits (the
full fit, the cross-validation folds, the structural candidates) side by side:
:func:`run_fits` on local processes or a Dask cluster.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_all_start_methods
from typing import Any

import numpy as np

from simulator._workers import init_worker, run_in_processes
from simulator.calibration.dataset import Trip
from simulator.calibration.posterior import CalibratedParameter, Calibration, Mode, Prior
from simulator.errors import NoConnectionError
from simulator.journey import draw_parameters, simulate_batch
from simulator.plan import JourneyPlan

__all__ = [
    "CANDIDATES", "NIGHT_FACTORS", "FitResult", "FitSettings", "crew_hours", "parameters_for",
    "run_fit", "run_fits",
]

#: the structural candidates: none, a slower pace at night in North Korea, operational stops
CANDIDATES = ("base", "night", "crew")
#: the perturbation kernel's covariance is this times pyabc's default (see :func:`run_fit`)
KERNEL_SCALING = 2.5
#: countries of the crew-stop candidate (the long stretches of the reported legs)
CREW_COUNTRIES = ("CN", "RU")
#: the night candidate's speed factor is simulated on this grid (plans prepared per value)
NIGHT_FACTORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class FitSettings:
    """How long a fit runs (all deterministic given the seed)."""

    population: int = 300
    generations: int = 8
    max_simulations: int = 6_000
    min_acceptance: float = 0.02
    #: equally weighted posterior samples kept
    samples: int = 1000
    #: predictive draws per leg for the scores and tables (in-sample and held out)
    draws: int = 2000


@dataclass
class FitResult:
    """A fitted calibration and what the fit did."""

    calibration: Calibration
    trips: list[str]
    candidate: str
    generations: int
    simulations: int
    epsilon: list[float]
    acceptance: list[float]
    seconds: float
    #: effective sample size of the last population's weights
    ess: float = math.nan


# ----------------------------------------------------------------------------------------------
# the parameters and their priors
# ----------------------------------------------------------------------------------------------
_WIDER = ("widened: a press figure for a speed is evidence, not a bound, and the reported "
          "timestamps win")


def _shared() -> list[CalibratedParameter]:
    """The fitted shared parameters: those the reported legs can tell apart.

    Fourteen legs cannot pin down two dozen parameters: every further dimension of an ABC-SMC
    fit makes its importance weights more degenerate (with every rule of operating.yaml
    fitted, the last population's effective sample size fell to 2–4 of 300 particles). So the
    fit keeps the speed caps of the three countries the legs cross at length, the rates of
    unplanned stops there, the bogie exchange (the one long halt), and the spread of the trip
    pace; every other rule (delay durations, border formalities, locomotive changes, the
    pilot's headway, the cap in Vietnam) keeps its hand-set distribution of operating.yaml, in
    the fit and in every run, and is listed as not fitted.
    """
    p = CalibratedParameter
    v = Mode.VALUE
    out = [
        p("cap:KP", "km/h", v, ("cap:KP",), Prior("uniform", 30, 60),
          "operating.yaml: 40–50 km/h (NPR's 45 km/h; the P'yŏngŭi Line's '40 km/h actual'; "
          "YTN's 'hard to exceed 50'); " + _WIDER + ": up to the ~60 km/h top speed most reports "
          "give the train, down to 30 km/h (the P'yŏngra timetable's ~25 km/h average includes "
          "its stops)"),
        p("cap:CN", "km/h", v, ("cap:CN",), Prior("uniform", 55, 110),
          "operating.yaml: 70–88 km/h (a blog's ~80 km/h; WaPo's 55 mph top speed); " + _WIDER
          + ": Tianjin → Wuchang was run at 73 km/h on average including every station passed "
          "(journeys.md 1c), Tianjin → Benxi on the return at 83 km/h ('a much faster pace', "
          "Yonhap, 2d); 110 km/h stays below the conventional lines' 120–160 km/h, 55 km/h "
          "below the slowest leg's average (Wuchang → Changsha, 59 km/h)"),
        p("cap:RU", "km/h", v, ("cap:RU",), Prior("uniform", 45, 100),
          "operating.yaml: 70–88 km/h, an assumption (the China rule); " + _WIDER + ": "
          "Ussuriysk → Vostochny averaged 55 km/h with its stops (journeys.md 4c); 100 km/h "
          "stays below Trans-Siberian line speeds (60–140 km/h)"),
    ]
    for group, keys, base in (
            ("KP-east", ("KP:P'yŏngra", "KP:Hambuk"),
             "operating.yaml: 0.68 stops per 100 km of 15–240 min on the P'yŏngra and Hambuk "
             "Lines (Daily NK: one visitor's 36 h against a 27 h 43 m timetable)"),
            ("KP", ("KP",), "operating.yaml: 0.1 stops per 100 km of 5–60 min elsewhere in "
                            "North Korea (an assumption: no lateness figure found)"),
            ("CN", ("CN",), "operating.yaml: 0.05 stops per 100 km of 5–30 min (an "
                            "assumption: China Railway clears a state special's path)"),
            ("RU", ("RU",), "operating.yaml: 0.1 stops per 100 km of 5–45 min (an "
                            "assumption: waits in the Trans-Siberian's freight flow)")):
        out.append(p(f"delays:{group}:rate", "factor", v,
                     tuple(f"delay_rate:{k}" for k in keys), Prior("loguniform", 0.2, 5.0),
                     base + "; the factor on the rate may be 5 either way: one traveller's "
                     "report or an assumption is weak evidence (durations keep the rule's)"))
    out += [
        p("halt:gauge_change:scale", "factor", Mode.SCALE, ("halt:gauge_change",),
          Prior("loguniform", 0.25, 4.0),
          "operating.yaml: bogie exchange 60–240 min (EFE: 'may take hours'; no duration "
          "reported); a factor of 4 either way on the rule's draw"),
        p("pace:sigma", "factor", Mode.PACE_SPREAD, ("pace",), Prior("uniform", 0.0, 0.25),
          "trip-to-trip spread of the running pace (log sd): a trip runs exp(σ z) times its "
          "speed profile, z standard normal per trip. Not in operating.yaml; up to 0.25 lets "
          "two trips differ by ±50 % (2 sd): the return from Hanoi ran 'much faster' north "
          "of Tianjin than the outbound"),
    ]
    return out


#: the rules of operating.yaml the fit leaves at their hand-set distributions
NOT_FITTED = ("cap:VN (a few km of the fitted legs run in Vietnam)",
              "the durations of unplanned stops (their rates are fitted)",
              "border formalities (KP–CN, CN–VN, KP–RU)", "locomotive changes",
              "the pilot train's headway")


def _candidate(candidate: str) -> list[CalibratedParameter]:
    p = CalibratedParameter
    if candidate == "night":
        return [p("night:KP:factor", "factor", Mode.VALUE, (), Prior("uniform", 0.3, 1.0),
                  "candidate: between 20:00 and 06:00 local time the train runs at this "
                  "factor × its speed in North Korea (Seoul officials, 2023: 'very slowly and "
                  "at night', journeys.md c); simulated on a grid of 0.1")]
    if candidate == "crew":
        out = [p(f"crew:{c}:every_km", "km", Mode.VALUE, (), Prior("uniform", 150, 1000),
                 f"candidate: a crew change or technical inspection every N km in {c} (an "
                 "assumption: long-distance trains stop for them every few hundred km)")
               for c in CREW_COUNTRIES]
        out.append(p("crew:stop_min", "min", Mode.VALUE, (), Prior("uniform", 5, 40),
                     "candidate: each such stop lasts this long, plus braking and restarting"))
        return out
    if candidate != "base":
        msg = f"unknown structural candidate {candidate!r} (one of {', '.join(CANDIDATES)})"
        raise ValueError(msg)
    return []


def parameters_for(candidate: str = "base") -> list[CalibratedParameter]:
    """The calibrated parameters of a fit: the shared ones and the candidate's. Each trip's own
    pace normal z is not a parameter: every simulation draws it afresh (it is integrated out,
    as for a new trip), so that the fit measures the spread σ, not the four trips' paces."""
    return [*_shared(), *_candidate(candidate)]


# ----------------------------------------------------------------------------------------------
# the simulation of a particle
# ----------------------------------------------------------------------------------------------
def crew_hours(trip: Trip, plan: JourneyPlan, every_km: dict[str, float],
               stop_s: float) -> np.ndarray:
    """``(L,)`` hours the candidate's operational stops add to each leg of ``trip``.

    A stop every ``every_km[country]`` km from where the route enters the country, lasting
    ``stop_s`` plus the braking and restarting time at that place. Added to the simulated
    times after the run: exact when no night rule applies (the pilot stops alike, so the
    headway is unchanged), which holds for the candidate comparison.
    """
    xs: list[float] = []
    for country, a, b in trip.stretches:
        n = every_km.get(country)
        if n:
            xs += np.arange(a + n, b - 1e-6, n).tolist()
    out = np.zeros(len(trip.legs))
    if not xs:
        return out
    x = np.array(xs)
    cost = stop_s + np.interp(x, plan.knots_km, plan.stop_loss_s)
    for i, leg in enumerate(trip.legs):
        out[i] = cost[(x > leg.km_a) & (x < leg.km_b)].sum() / 3600
    return out


def night_key(factor: float) -> str | None:
    """The plan variant for a night factor (None: no night rule, at 1)."""
    f = round(float(factor) * 10) / 10
    return None if f >= 0.999 else f"night:{max(f, NIGHT_FACTORS[0]):.2f}"


class Simulator:
    """Simulates trips for parameter vectors (the fit's model and the predictions)."""

    def __init__(self, trips: Sequence[Trip], params: Sequence[CalibratedParameter],
                 candidate: str) -> None:
        self.trips = list(trips)
        self.params = tuple(params)
        self.names = [p.name for p in params]
        self.candidate = candidate
        self.template = Calibration(self.params, np.zeros((1, len(params))))

    def _ix(self, name: str) -> int:
        return self.names.index(name)

    def legs(self, trip: Trip, theta: np.ndarray, z: np.ndarray, seed: int,
             rng: Any) -> np.ndarray:
        """``(n, L)`` hours of ``trip``'s legs for parameter rows ``theta`` (``(n, k)``) and
        pace normals ``z``, with the reporting error (drawn from ``rng``)."""
        n = len(theta)
        hours = np.empty((n, len(trip.legs)))
        groups: dict[str | None, list[int]] = {}
        if self.candidate == "night":
            f = theta[:, self._ix("night:KP:factor")]
            for r in range(n):
                key = night_key(f[r])
                groups.setdefault(key if key in trip.variants else None, []).append(r)
        else:
            groups[None] = list(range(n))
        for key, rows in groups.items():
            plan = trip.plan if key is None else trip.variants[key]
            idx = np.array(rows)
            table = draw_parameters(plan, seed, n, defaults="hand").take(idx)
            self.template.apply(plan.parameters, table.values, theta[idx], z[idx])
            hours[idx] = trip.leg_hours(simulate_batch(plan, table), plan)
        if self.candidate == "crew":
            stop = theta[:, self._ix("crew:stop_min")] * 60
            every = {c: theta[:, self._ix(f"crew:{c}:every_km")] for c in CREW_COUNTRIES}
            for r in range(n):
                hours[r] += crew_hours(trip, trip.plan, {c: float(v[r]) for c, v in
                                                         every.items()}, float(stop[r]))
        return hours + trip.reporting_error(rng, n)

    def theta(self, u: np.ndarray) -> np.ndarray:
        """Parameter values from the fit's standard normals (``(n, k)`` both)."""
        return np.column_stack([p.prior.from_normal(u[:, j])
                                for j, p in enumerate(self.params)])

    def __call__(self, par: Any) -> dict[str, float]:
        """pyabc's model: one replication of every trip for one particle (given as standard
        normals, mapped onto the priors)."""
        theta = self.theta(np.array([[float(par[name]) for name in self.names]]))
        out: dict[str, float] = {}
        for trip in self.trips:
            z = np.random.standard_normal(1)
            seed = int(np.random.randint(0, 2**31 - 1))
            hours = self.legs(trip, theta, z, seed, np.random)[0]
            for leg, h in zip(trip.legs, hours, strict=True):
                out[leg.key] = float(h)
        return out


# ----------------------------------------------------------------------------------------------
# fitting
# ----------------------------------------------------------------------------------------------
def run_fit(trips: Sequence[Trip], *, seed: int, candidate: str = "base",
            settings: FitSettings = FitSettings(), provenance: dict[str, Any] | None = None
            ) -> FitResult:
    """Fit the calibrated parameters to every leg of ``trips`` (deterministic given ``seed``).

    Returns
    -------
    FitResult
        The calibration (``settings.samples`` equally weighted posterior samples, resampled
        systematically from pyabc's weighted last population) and the fit's diagnostics.
    """
    import pyabc

    # pyabc logs every generation; its warning that the unnormalised weights are tiny is
    # expected here (a density of ~25 standard normals) and says nothing about the fit
    for name in ("ABC", "pyabc"):
        logging.getLogger(name).setLevel(logging.ERROR)
    started = time.perf_counter()
    params = parameters_for(candidate)
    model = Simulator(trips, params, candidate)
    # pyabc works on standard normals mapped onto the priors (Prior.from_normal): a proposal of
    # its Gaussian kernel never falls outside a bounded prior (with 25 dimensions most would)
    prior = pyabc.Distribution(**{p.name: pyabc.RV("norm", 0.0, 1.0) for p in params})
    observed = {leg.key: leg.mid_h for t in trips for leg in t.legs}
    # the perturbation kernel: pyabc's Gaussian with Silverman's bandwidth, 2.5 times wider.
    # With nine parameters Silverman's kernel makes the importance weights degenerate (an
    # effective sample size of 5–15 % of the population); 2.5 times gave ~30 %, 5 times
    # ~7 % again (population 100, measured on these legs)
    abc = pyabc.ABCSMC(model, prior, pyabc.AdaptivePNormDistance(p=2),
                       population_size=settings.population,
                       transitions=pyabc.MultivariateNormalTransition(scaling=KERNEL_SCALING),
                       sampler=pyabc.SingleCoreSampler())
    state = np.random.get_state()
    np.random.seed(seed % 2**32)
    try:
        # pyabc's history in an in-memory database: nothing on disk, and a small fit a third
        # faster than with a file (each generation is committed)
        abc.new("sqlite://", observed)
        history = abc.run(max_nr_populations=settings.generations,
                          max_total_nr_simulations=settings.max_simulations,
                          min_acceptance_rate=settings.min_acceptance)
        frame, weights = history.get_distribution()
        pops = history.get_all_populations()
        sims = int(history.total_nr_simulations)
    finally:
        np.random.set_state(state)
    values = model.theta(frame[[p.name for p in params]].to_numpy(dtype=float))
    w = np.asarray(weights, dtype=float)
    rows = _systematic(w / w.sum(), settings.samples, np.random.default_rng([seed, 1]))
    pops = pops[pops["t"] >= 0]
    eps = [float(e) for e in pops["epsilon"]]
    acc = [float(p) / float(s) if s else math.nan
           for p, s in zip(pops["particles"], pops["samples"], strict=True)]
    cal = Calibration(tuple(params), values[rows], dict(provenance or {}))
    ess = float(w.sum() ** 2 / (w**2).sum())
    return FitResult(cal, [t.name for t in trips], candidate, len(eps), sims, eps, acc,
                     time.perf_counter() - started, ess)


def _systematic(w: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Systematic resampling: ``n`` indices with frequencies proportional to ``w``."""
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(w), positions), len(w) - 1)


# ----------------------------------------------------------------------------------------------
# several fits side by side
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FitJob:
    """One fit: which trips (by index into the dataset), which candidate, which seed."""

    name: str
    trips: tuple[int, ...]
    candidate: str
    seed: int


_TRIPS: list[Trip] = []


def _run_job(job: FitJob, settings: FitSettings, trips: list[Trip] | None = None) -> FitResult:
    pool = trips if trips is not None else _TRIPS
    return run_fit([pool[i] for i in job.trips], seed=job.seed, candidate=job.candidate,
                   settings=settings)


def run_fits(trips: list[Trip], jobs: Sequence[FitJob], settings: FitSettings, *,
             workers: int = 1, scheduler: str | None = None,
             progress: Callable[[FitJob, FitResult], Any] | None = None
             ) -> dict[str, FitResult]:
    """Run ``jobs`` in this process, on ``workers`` local processes, or on a Dask cluster;
    each fit is deterministic, so the results do not depend on where it ran."""
    global _TRIPS
    out: dict[str, FitResult] = {}
    if scheduler is not None:
        from distributed import Client, as_completed


        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            msg = f"cannot reach the Dask scheduler at {scheduler} ({exc.__class__.__name__})"
            raise NoConnectionError(msg) from None
        try:
            data = client.scatter(trips, broadcast=True)
            futures = {client.submit(_run_job, job, settings, data, pure=False): job
                       for job in jobs}
            for fut in as_completed(list(futures)):
                job = futures[fut]
                out[job.name] = fut.result()
                if progress:
                    progress(job, out[job.name])
        finally:
            client.close()
        return out
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            out[job.name] = _run_job(job, settings, trips)
            if progress:
                progress(job, out[job.name])
        return out

    _TRIPS = trips
    done: dict[int, FitResult] = {}
    reported = [0]  # jobs reported so far: in the jobs' order, as they were given

    def take(i: int, result: FitResult) -> None:
        done[i] = result
        while reported[0] in done:
            job = jobs[reported[0]]
            out[job.name] = done.pop(reported[0])
            reported[0] += 1
            if progress:
                progress(job, out[job.name])

    fork = "fork" in get_all_start_methods()
    try:
        # forked workers inherit the trips; spawned ones get them pickled once
        run_in_processes(partial(_run_job, settings=settings), jobs, take, workers=workers,
                         start="fork" if fork else "spawn", initializer=_init_worker,
                         initargs=(None if fork else trips, os.getpid()))
    finally:
        _TRIPS = []
    return out


def _init_worker(trips: list[Trip] | None, parent: int) -> None:
    global _TRIPS
    if trips is not None:
        _TRIPS = trips
    init_worker(parent)
