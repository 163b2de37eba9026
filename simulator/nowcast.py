"""Nowcast: where the train is now and when it will arrive, conditioned on sightings.

A sequential Monte Carlo (particle filter) over the journey. Each particle is one replication:
a row of parameters (:func:`~simulator.journey.draw_parameters`: departure, pilot headway, the
trip-level pace factor, speed caps, delay rates and scales, halt durations, or whatever the
calibration draws) with its noise key, the leader's times at every route point and the pilot
train's at the sightings' points. The filter

1. draws ``N`` particles from the scenario's rules and runs them from the origin: the
   unconditioned forecast (the *prior*);
2. takes the sightings in route order; for each, weights every particle by how well its time
   there matches the sighting (:func:`log_likelihood`: the sighting's own error, normal, and the
   model's error on the leg since the last sighting, a heavy-tailed Student t of
   :data:`MODEL_ERROR` of the time run), and reports the effective sample size
   ``ESS = 1 / Σ w²``;
3. moves each particle's time at the sighting to where the train most likely was given both
   errors, spreading the move along the leg behind it; its future moves with it (without night
   rules the engine ignores the clock, so a moved run is the same run; with them every particle
   runs on again from its moved state);
4. when the ESS falls below half the particles, resamples them (systematic resampling) and
   *rejuvenates* the copies: a Liu–West kernel move on their parameters (shrunk towards the
   cloud's mean and jittered with a fraction of its covariance, so the cloud keeps its mean and
   spread) and fresh noise keys, then runs each copy on from the state its ancestor was in at the
   sighting (:class:`~simulator.journey.StartState`: that km, the ancestor's departure time from
   it, the pilot train where it was). The first copy of each ancestor keeps its run, which is
   already a draw given its past.

What a sighting reveals about the trip stays with the particles that match it: their pace
factor, caps and delay factors, so "a train running slow tends to stay slow" wherever the drawn
parameters carry it; the model's error discounts what one leg says about the trip. Forecasts
from the last sighting carry the model's error on the stretch ahead (:meth:`ParticleFilter.
forecast`). A sighting so far from every particle that the ESS would drop below
:data:`MIN_ESS_FRACTION` of the particles has its uncertainty widened (doubling) until it does
not, and the step says so: a forecast resting on a handful of particles would claim a precision
it does not have.

:func:`nowcast` does it all for a scenario and a list of sightings and returns a
:class:`NowcastResult` (the outputs are written by :mod:`simulator.nowcast_outputs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, partial
from typing import Any

import numpy as np

from simulator.errors import SightingError
from simulator.journey import BatchTimes, StartState, draw_parameters, simulate_batch
from simulator.montecarlo import MonteCarloResult, simulate_rows
from simulator.network.graph import RailNetwork
from simulator.parameters import ParameterKind, ParameterTable
from simulator.plan import JourneyPlan
from simulator.planning import (
    Itinerary,
    Place,
    Prepared,
    build_itinerary,
    plan_journey,
    scenario_network,
)
from simulator.reports import Analysis, analyse, check_reported_legs
from simulator.scenario import Scenario
from simulator.sightings import (
    DEFAULT_UNCERTAINTY_MIN,
    PlacedSighting,
    Sighting,
    SightingKind,
    check_sightings,
    fastest_pace,
    place_sightings,
)

__all__ = [
    "DEFAULT_PARTICLES", "ESS_THRESHOLD", "MIN_ESS_FRACTION", "NowcastResult", "ParticleFilter",
    "Particles", "StepReport", "log_likelihood", "model_sigma_s", "nowcast",
    "plan_with_sightings", "prepare_nowcast", "sighting_uncertainty_min", "weighted_quantile",
]

#: particles of a nowcast unless asked otherwise
DEFAULT_PARTICLES = 20_000
#: resample (and rejuvenate) when the ESS falls below this fraction of the particles
ESS_THRESHOLD = 0.5
#: widen a sighting's uncertainty until at least this fraction of the particles is effective
MIN_ESS_FRACTION = 0.01
#: Liu–West discount factor: the kernel keeps the cloud's mean and spread (Liu & West 2001)
LIU_WEST_DELTA = 0.98
#: the widening stops at this factor on the stated uncertainty
MAX_WIDENING = 64.0
#: the model's error on a leg, as a fraction of the time run: what the particles' own spread
#: does not cover. With the hand-set rules the measured legs of the accuracy table (README)
#: missed by 11 % RMS, of which about 4 % was the spread of their own bands. The calibration
#: put the trip-to-trip variation into the draws (a trip pace, the posterior's caps and delay
#: rates): its 14 fitted legs miss by 18 % RMS (log ratio), and the posterior predictive's own
#: spread accounts for 16 % of it, leaving 7 % (11 % without P'yŏngyang → Khasan, whose band
#: the delays widen; 6 % held out, cross-validated); 10 % stays at the top of that range
MODEL_ERROR = 0.10
#: ... over legs of up to this many hours; beyond, the errors of successive legs add up like a
#: random walk (the whole trips miss by 2–3 % where their legs miss by 11 %); the measured legs
#: last 6–37 h, 15.5 h in the median
MODEL_ERROR_SPAN_S = 15.5 * 3600
#: degrees of freedom of the model's error, a Student t: its heavy tail makes a sighting the
#: model did not expect move the train to where it was seen instead of halfway there (the
#: measured legs miss by up to twice their RMS: 22 % with the hand-set rules, 36 % calibrated)
MODEL_ERROR_DOF = 4.0


def model_sigma_s(elapsed_s: Any, fraction: float = MODEL_ERROR) -> Any:
    """The model's error (one standard deviation) on a stretch run in ``elapsed_s`` seconds:
    ``fraction × T`` up to :data:`MODEL_ERROR_SPAN_S`, ``fraction × √(T·span)`` beyond."""
    t = np.maximum(np.asarray(elapsed_s, dtype=float), 0.0)
    return fraction * np.sqrt(t * np.minimum(t, MODEL_ERROR_SPAN_S))


# ----------------------------------------------------------------------------------------------
# statistics
# ----------------------------------------------------------------------------------------------
def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: Any) -> np.ndarray:
    """Quantiles ``q`` of ``values`` (``(n,)`` or ``(n, k)`` along axis 0) under ``weights``.

    The inverse of the weighted empirical CDF with midpoint interpolation; with equal weights it
    agrees with ``np.quantile(..., method="hazen")``.
    """
    q = np.atleast_1d(np.asarray(q, dtype=float))
    v = np.asarray(values, dtype=float)
    flat = v.ndim == 1
    if flat:
        v = v[:, None]
    w = np.asarray(weights, dtype=float)
    out = np.empty((len(q), v.shape[1]))
    keep = w > 0
    v, w = v[keep], w[keep]
    for j in range(v.shape[1]):
        order = np.argsort(v[:, j], kind="stable")
        vs, ws = v[order, j], w[order]
        cdf = (np.cumsum(ws) - 0.5 * ws) / ws.sum()
        out[:, j] = np.interp(q, cdf, vs)
    return out[:, 0] if flat else out


def effective_sample_size(weights: np.ndarray) -> float:
    """``1 / Σ w²`` of normalised weights."""
    w = weights / weights.sum()
    return float(1.0 / np.sum(w * w))


def _normalised(logw: np.ndarray) -> np.ndarray:
    w = np.exp(logw - logw.max())
    return np.asarray(w / w.sum())


def systematic_resample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``len(weights)`` particles drawn by systematic resampling (sorted)."""
    n = len(weights)
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    u = (rng.random() + np.arange(n)) / n
    return np.searchsorted(cdf, u, side="right").clip(0, n - 1)


@cache
def _scale_mixture(dof: float, nodes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Precision multipliers λ and weights of a Student t of unit variance as a normal scale
    mixture: ``N(0, 1/λ)`` with λ (ν − 2)/ν ~ Gamma(ν/2, rate ν/2), on a logarithmic grid of λ
    (which keeps the far tail: within 0.02 in log density out to 14 standard deviations)."""
    lam = np.geomspace(1e-5, 50.0, nodes)
    g = lam * (dof - 2) / dof  # the Gamma variable
    k = dof / 2  # shape; rate k
    log_pdf = k * math.log(k) - math.lgamma(k) + (k - 1) * np.log(g) - k * g
    w = np.exp(log_pdf) * lam * np.gradient(np.log(lam))
    return lam, w / w.sum()


def _gap(lo: np.ndarray, hi: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Signed distance from a particle's interval ``[lo, hi]`` to the sighting's window: how
    far the particle's time must move to meet it (0 when they overlap)."""
    return np.where(hi < window[0], window[0] - hi, np.where(lo > window[1], window[1] - lo,
                                                             0.0))


def _components(gap: np.ndarray, sigma_obs: float, sigma_model: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per particle and mixture component: log density of the gap, and the model's share of
    the variance."""
    lam, w = _scale_mixture(MODEL_ERROR_DOF)
    var_model = sigma_model ** 2 / lam
    var = sigma_obs ** 2 + var_model
    logp = np.log(w) - 0.5 * np.log(var / sigma_obs ** 2) - 0.5 * gap[:, None] ** 2 / var
    return logp, var_model / var


def log_likelihood(lo: np.ndarray, hi: np.ndarray, window: tuple[float, float],
                   sigma_obs: float, sigma_model: float = 0.0) -> np.ndarray:
    """Log-likelihood (up to a constant) of a sighting for particles at the place from ``lo``
    to ``hi``.

    A particle's time is its interval ``[lo, hi]`` (one instant for passing, arriving or
    leaving; its stay for "stopped at"); the sighting's reported time lies in ``window``
    (seconds). Between the two: the sighting's error, normal with standard deviation
    ``sigma_obs``, and the model's error on the leg, a Student t (:data:`MODEL_ERROR_DOF`) of
    standard deviation ``sigma_model``. With no model error this is ``-½ (gap / σ)²``, ``gap``
    the distance between the two intervals (0 when they overlap).
    """
    gap = _gap(lo, hi, window)
    if sigma_model <= 0:
        return np.asarray(-0.5 * (gap / sigma_obs) ** 2)
    logp, _ = _components(gap, sigma_obs, sigma_model)
    top = logp.max(axis=1)
    return np.asarray(top + np.log(np.exp(logp - top[:, None]).sum(axis=1)))


def _true_time_shift(gap: np.ndarray, sigma_obs: float, sigma_model: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Draw, per particle, how far its time at the sighting moves: where the train really was,
    given the particle's time (off by the model's error) and the sighting (off by its own)."""
    if sigma_model <= 0:
        return np.zeros_like(gap)
    logp, share = _components(gap, sigma_obs, sigma_model)
    p = np.exp(logp - logp.max(axis=1, keepdims=True))
    cdf = np.cumsum(p, axis=1)
    k = (cdf < rng.random(len(gap))[:, None] * cdf[:, -1:]).sum(axis=1)
    kappa = share[k]
    move = kappa * gap + np.sqrt(kappa) * sigma_obs * rng.standard_normal(len(gap))
    return np.where(gap != 0.0, move, 0.0)


# ----------------------------------------------------------------------------------------------
# particles
# ----------------------------------------------------------------------------------------------
@dataclass
class Particles:
    """Particles: parameter rows, their times at the route points and halts, log-weights."""

    params: ParameterTable
    arrive_s: np.ndarray
    dwell_depart_s: np.ndarray
    halt_start_s: np.ndarray
    halt_end_s: np.ndarray
    logw: np.ndarray
    #: ``(n, S)`` when the pilot train passed each sighting's point (NaN without a pilot)
    pilot_s: np.ndarray

    @classmethod
    def from_times(cls, params: ParameterTable, times: BatchTimes,
                   points: Sequence[int] = ()) -> Particles:
        pilot = np.full((len(params), len(points)), np.nan)
        if times.pilot_s is not None and len(points):
            pilot[:] = times.pilot_s[:, list(points)]
        return cls(params, times.arrive_s, times.dwell_depart_s, times.halt_start_s,
                   times.halt_end_s, np.zeros(len(params)), pilot)

    def __len__(self) -> int:
        return len(self.params)

    @property
    def weights(self) -> np.ndarray:
        return _normalised(self.logw)

    @property
    def ess(self) -> float:
        return effective_sample_size(self.weights)

    def depart(self, plan: JourneyPlan, point: int) -> np.ndarray:
        col = int(plan.depart_column[point])
        return self.arrive_s[:, point] if col < 0 else self.dwell_depart_s[:, col]

    def take(self, idx: np.ndarray) -> Particles:
        return Particles(self.params.take(idx), self.arrive_s[idx], self.dwell_depart_s[idx],
                         self.halt_start_s[idx], self.halt_end_s[idx], np.zeros(len(idx)),
                         self.pilot_s[idx])

    def as_result(self, seed: int, plan: JourneyPlan) -> MonteCarloResult:
        """The particles as a Monte Carlo result (weights are not kept: resample first)."""
        return MonteCarloResult(seed, self.arrive_s, self.dwell_depart_s,
                                plan.depart_column.copy(), self.halt_start_s, self.halt_end_s)

    def position_km(self, plan: JourneyPlan, t_s: float) -> np.ndarray:
        """``(n,)`` where each particle's train is at time ``t_s`` (linear between points)."""
        dep = self.arrive_s.copy()
        cols = np.flatnonzero(plan.depart_column >= 0)
        dep[:, cols] = self.dwell_depart_s[:, plan.depart_column[cols]]
        times = np.empty((len(self), 2 * plan.n_points))
        times[:, 0::2] = self.arrive_s
        times[:, 1::2] = np.maximum(dep, self.arrive_s)
        times = np.maximum.accumulate(times, axis=1)
        kms = np.repeat(plan.km, 2)
        # per row: the last (time, km) at or before t_s, then interpolate to the next
        j = (times <= t_s).sum(axis=1) - 1
        j = np.clip(j, 0, times.shape[1] - 2)
        rows = np.arange(len(self))
        t0, t1 = times[rows, j], times[rows, j + 1]
        f = np.where(t1 > t0, np.clip((t_s - t0) / np.where(t1 > t0, t1 - t0, 1.0), 0, 1), 0.0)
        km = kms[j] + f * (kms[j + 1] - kms[j])
        km = np.where(t_s < times[:, 0], 0.0, km)
        return np.where(t_s >= times[:, -1], plan.length_km, km)


@dataclass
class StepReport:
    """What one sighting did to the particles.

    Attributes
    ----------
    predicted_s
        5 %, 50 % and 95 % of the particles' time at the sighting before it was used (seconds
        after the plan's epoch): what the model expected.
    sigma_s
        The uncertainty used; larger than the sighting's own when it was widened.
    ess
        Effective sample size after weighting by this sighting.
    resampled
        Whether the particles were resampled and rejuvenated after it.
    arrival_s
        5 %, 25 %, 50 %, 75 %, 95 % of the arrival at the destination after the sighting.
    """

    sighting: PlacedSighting
    point: int
    predicted_s: np.ndarray
    sigma_s: float
    ess: float
    resampled: bool
    arrival_s: np.ndarray
    model_sigma_s: float = 0.0

    @property
    def widened(self) -> bool:
        expected = math.hypot(self.sighting.uncertainty_s, self.model_sigma_s)
        return self.sigma_s > expected * 1.0001


#: levels of the fan chart and the step reports
FAN_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


class ParticleFilter:
    """A particle filter over one journey plan.

    Parameters
    ----------
    plan
        The journey plan (its route points must include the sightings' places).
    params
        The initial particles' parameters (the prior): typically ``draw_parameters(plan, seed,
        n)``; any table of the plan's columns works (tests give the pace a spread here).
    seed
        Seeds the resampling, the rejuvenation moves and the placing of the states.
    points
        The route points of the sightings to come, in route order: the filter keeps the pilot
        train's times there, to run particles on from a sighting with the pilot where it was.
    model_error
        The model's own error on a leg, as a fraction of the time run since the last sighting
        (:data:`MODEL_ERROR`); 0 trusts the model's legs exactly.
    simulate
        How to run a batch: ``simulate_batch`` by default (one process).
    """

    def __init__(self, plan: JourneyPlan, params: ParameterTable, *, seed: int,
                 points: Sequence[int] = (), model_error: float = MODEL_ERROR,
                 simulate: Callable[..., BatchTimes] = simulate_batch,
                 ess_threshold: float = ESS_THRESHOLD,
                 min_ess_fraction: float = MIN_ESS_FRACTION) -> None:
        self.plan = plan
        self.simulate = simulate
        self.seed = seed
        self.model_error = model_error
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(14,)))
        self.ess_threshold = ess_threshold
        self.min_ess = max(min_ess_fraction * len(params), 10.0)
        self.points = list(points)
        self.particles = Particles.from_times(
            params, simulate(plan, params, pilot=bool(self.points)), self.points)
        self.prior = self.particles.take(np.arange(len(params)))  # a copy: kept as drawn
        self.next_key = int(params.noise.max()) + 1 if len(params) else 0
        # bounds of each parameter column: the kernel moves stay inside what the prior drew
        self.lo = params.values.min(axis=0)
        self.hi = params.values.max(axis=0)
        # the last place each particle's state was fixed at: the origin, when it left
        self.last_point = 0
        self.last_t = self.particles.depart(plan, 0).copy()
        # without night rules the engine does not look at the clock: a run moved in time is the
        # same run, so a particle's future can be shifted instead of run again
        self.translatable = not plan.has_night
        self.steps: list[StepReport] = []

    # -- one sighting --------------------------------------------------------------------------
    def interval(self, point: int, kind: SightingKind) -> tuple[np.ndarray, np.ndarray]:
        """Each particle's time at ``point`` as the sighting sees it: ``(lo, hi)``."""
        p = self.particles
        arrive = p.arrive_s[:, point]
        if kind in (SightingKind.PASSING, SightingKind.ARRIVED):
            return arrive, arrive
        depart = np.maximum(p.depart(self.plan, point), arrive)
        if kind == SightingKind.DEPARTED:
            return depart, depart
        return arrive, depart

    def assimilate(self, sighting: PlacedSighting, point: int) -> StepReport:
        """Condition the particles on one sighting at route ``point``.

        Weights by the likelihood (the sighting's error and the model's error on the leg since
        the last sighting), moves each particle's time there towards the sighting by the share
        of the gap the model's error explains (spreading the move along the leg), and resamples
        and rejuvenates when the ESS is low.
        """
        plan = self.plan
        p = self.particles
        if point < self.last_point:
            msg = "sightings must be assimilated in route order"
            raise ValueError(msg)
        lo, hi = self.interval(point, sighting.kind)
        w_before = p.weights
        predicted = weighted_quantile(0.5 * (lo + hi), w_before, (0.05, 0.5, 0.95))
        window = sighting.window_s(plan.epoch)
        elapsed = float(weighted_quantile(np.maximum(lo - self.last_t, 0.0), w_before, 0.5)[0])
        sigma_model = float(model_sigma_s(elapsed, self.model_error))
        widen = 1.0
        while True:
            sigma_obs = sighting.uncertainty_s * widen
            logw = p.logw + log_likelihood(lo, hi, window, sigma_obs, sigma_model * widen)
            ess = effective_sample_size(_normalised(logw))
            if ess >= self.min_ess or widen >= MAX_WIDENING:
                break
            widen *= 2.0
        p.logw = logw - logw.max()
        # where each particle's train really was: between its own time and the sighting, as
        # the two errors weigh; the model's heavy tail lets a sighting it did not expect win
        shift = _true_time_shift(_gap(lo, hi, window), sigma_obs, sigma_model * widen,
                                 self.rng)
        self._shift(point, lo, shift)
        resampled = ess < self.ess_threshold * len(p)
        if resampled:
            self._resample_move(point)
        elif not self.translatable:
            self._run_on(point, np.arange(len(self.particles)))
        self.last_point = point
        self.last_t = self.particles.depart(plan, point).copy()
        arrival = weighted_quantile(
            self.forecast(self.particles.arrive_s[:, -1], plan.n_points - 1),
            self.particles.weights, FAN_LEVELS)
        step = StepReport(sighting, point, predicted, widen * math.hypot(
            sighting.uncertainty_s, sigma_model), ess, resampled, arrival, sigma_model)
        self.steps.append(step)
        return step

    def _shift(self, point: int, t_here: np.ndarray, shift: np.ndarray) -> None:
        """Move each particle's times by ``shift`` from the sighting on, and by a share of it
        along the leg from the last sighting (in proportion to the time run since then)."""
        plan, p = self.plan, self.particles
        t0 = self.last_t[:, None]
        span = np.maximum(t_here - self.last_t, 1.0)[:, None]
        d = shift[:, None]

        def moved(times: np.ndarray, after: np.ndarray) -> None:
            cols = np.flatnonzero(after)
            if len(cols):
                t = times[:, cols]
                times[:, cols] = t + d * np.clip((t - t0) / span, 0.0, 1.0)

        moved(p.arrive_s, np.arange(plan.n_points) > self.last_point)
        moved(p.dwell_depart_s, plan.dwell_points > self.last_point)
        moved(p.halt_start_s, plan.halt_point > self.last_point)
        moved(p.halt_end_s, plan.halt_point > self.last_point)
        # the pilot, ahead, moves with the leader from the sighting on
        ahead = [j for j, q in enumerate(self.points) if q >= point]
        p.pilot_s[:, ahead] += shift[:, None]

    # -- resampling and rejuvenation -----------------------------------------------------------
    def _resample_move(self, point: int) -> None:
        old = self.particles
        idx = systematic_resample(old.weights, self.rng)
        new = old.take(idx)
        first = np.ones(len(idx), dtype=bool)
        first[1:] = idx[1:] != idx[:-1]
        copies = np.flatnonzero(~first)
        self.last_t = self.last_t[idx]
        # copies: a kernel move on the parameters and fresh noise; they run on from the
        # sighting (and so does everyone when the clock matters)
        values = new.params.values.copy()
        values[copies] = self._kernel(values, copies)
        keys = new.params.noise.copy()
        fresh = np.arange(self.next_key, self.next_key + len(copies))
        keys[copies] = fresh if keys.ndim == 1 else fresh[:, None]  # one key per delay rule
        self.next_key += len(copies)
        new.params = ParameterTable(new.params.specs, values, keys, new.params.seed)
        self.particles = new
        rows = copies if self.translatable else np.arange(len(new))
        if len(rows):
            self._run_on(point, rows)

    def _run_on(self, point: int, rows: np.ndarray) -> None:
        """Run ``rows`` again from their state at ``point`` (its km, their departure)."""
        plan, p = self.plan, self.particles
        here = [j for j, q in enumerate(self.points) if q == point]
        pilot = p.pilot_s[rows, here[0]] if here and plan.has_pilot else None
        start = StartState(km=float(plan.km[point]), t_s=p.depart(plan, point)[rows],
                           halts_pending=False, pilot_t_s=pilot)
        later_points = [q for q in self.points if q > point]
        ahead = self.simulate(plan, p.params.take(rows), start=start, pilot=bool(later_points))
        cols = np.array([j for j, q in enumerate(self.points) if q > point], dtype=int)
        if len(cols) and ahead.pilot_s is not None:
            p.pilot_s[np.ix_(rows, cols)] = ahead.pilot_s[:, later_points]
        later = np.arange(plan.n_points) > point
        p.arrive_s[np.ix_(rows, later)] = ahead.arrive_s[:, later]
        dwell_later = plan.dwell_points > point
        p.dwell_depart_s[np.ix_(rows, dwell_later)] = ahead.dwell_depart_s[:, dwell_later]
        halts_later = plan.halt_point > point
        p.halt_start_s[np.ix_(rows, halts_later)] = ahead.halt_start_s[:, halts_later]
        p.halt_end_s[np.ix_(rows, halts_later)] = ahead.halt_end_s[:, halts_later]

    def _kernel(self, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Liu–West move of ``values[rows]`` in a space where positive columns are logged:
        ``a·θ + (1 − a)·θ̄ + h·ε`` with ε drawn from the cloud's covariance."""
        varying = np.flatnonzero(values.std(axis=0) > 1e-12 * (1 + np.abs(values).max(axis=0)))
        out = values[rows].copy()
        if len(varying) == 0 or len(rows) == 0:
            return out
        positive = np.all(values[:, varying] > 0, axis=0)
        z = values[:, varying].copy()
        z[:, positive] = np.log(z[:, positive])
        a = (3 * LIU_WEST_DELTA - 1) / (2 * LIU_WEST_DELTA)
        h = math.sqrt(1 - a * a)
        mean = z.mean(axis=0)
        cov = np.atleast_2d(np.cov(z, rowvar=False))
        try:
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(len(varying)) * np.trace(cov))
        except np.linalg.LinAlgError:
            chol = np.diag(np.sqrt(np.diag(cov)))
        eps = self.rng.standard_normal((len(rows), len(varying))) @ chol.T
        moved = a * z[rows] + (1 - a) * mean + h * eps
        moved[:, positive] = np.exp(moved[:, positive])
        out[:, varying] = np.clip(moved, self.lo[varying], self.hi[varying])
        return out

    # -- results -------------------------------------------------------------------------------
    def model_error_draws(self, n: int, step: int | None = None) -> np.ndarray:
        """``(n,)`` draws of the model's error on the stretch ahead in units of its standard
        deviation (Student t, :data:`MODEL_ERROR_DOF`; within ±6), one per particle, fixed for
        the current step (or ``step``: 0 before any sighting)."""
        step = len(self.steps) if step is None else step
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(16, step)))
        dof = MODEL_ERROR_DOF
        return np.clip(rng.standard_t(dof, n) * math.sqrt((dof - 2) / dof), -6.0, 6.0)

    def with_model_error(self, times: np.ndarray, t0: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``times`` after ``t0`` (the last sighting) with the model's error added:
        ``z × model_sigma_s(times − t0)``, never less than a fifth of the time run."""
        run = np.maximum(times - t0, 0.0)
        return t0 + np.maximum(run + z * model_sigma_s(run, self.model_error), 0.2 * run)

    def forecast(self, times: np.ndarray, point: int, *, z: np.ndarray | None = None
                 ) -> np.ndarray:
        """A time of every particle at ``point`` (e.g. ``arrive_s[:, point]``) with the model's
        error on the stretch since the last sighting added (unchanged at or before it)."""
        if point <= self.last_point or self.model_error == 0:
            return times
        if z is None:
            z = self.model_error_draws(len(times))
        return self.with_model_error(times, self.last_t, z)

    def equal_weights(self, *, model_error: bool = True) -> Particles:
        """The particles resampled to equal weights (no move), for outputs and quantiles; with
        ``model_error``, every time after the last sighting carries the model's error
        (:meth:`forecast`)."""
        p = self.particles
        if np.allclose(p.logw, p.logw[0]):
            idx = np.arange(len(p))
        else:
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(15,)))
            idx = systematic_resample(p.weights, rng)
        out = p.take(idx)
        if model_error and self.model_error > 0:
            self._stretch(out, self.last_point, self.last_t[idx],
                          self.model_error_draws(len(idx)))
        return out

    def prior_forecast(self, *, model_error: bool = True) -> Particles:
        """The particles as drawn, before any sighting; with ``model_error``, every time after
        the departure carries the model's error (the nowcast's own forecast before
        conditioning, against which a sighting's effect is measured)."""
        out = self.prior.take(np.arange(len(self.prior)))
        if model_error and self.model_error > 0:
            self._stretch(out, 0, out.depart(self.plan, 0).copy(),
                          self.model_error_draws(len(out), step=0))
        return out

    def _stretch(self, p: Particles, point: int, t0: np.ndarray, z: np.ndarray) -> None:
        """Add the model's error (``z`` standard deviations) to every time of ``p`` after route
        point ``point``, measured from ``t0``."""
        plan = self.plan
        t0c, zc = t0[:, None], z[:, None]

        def stretch(times: np.ndarray, after: np.ndarray) -> None:
            cols = np.flatnonzero(after)
            if len(cols):
                times[:, cols] = self.with_model_error(times[:, cols], t0c, zc)

        stretch(p.arrive_s, np.arange(plan.n_points) > point)
        stretch(p.dwell_depart_s, plan.dwell_points > point)
        stretch(p.halt_start_s, plan.halt_point > point)
        stretch(p.halt_end_s, plan.halt_point > point)


# ----------------------------------------------------------------------------------------------
# a scenario's nowcast
# ----------------------------------------------------------------------------------------------
@dataclass
class NowcastResult:
    """A nowcast: the forecast before and after the sightings, and the position now.

    Attributes
    ----------
    prepared
        The scenario as simulated (its route points include the sightings' places).
    sightings
        The sightings in route order, placed on the route.
    points
        The route point of each sighting.
    now
        The moment "now" (UTC).
    prior, posterior
        :class:`~simulator.reports.Analysis` of the particles before any sighting and
        after the last one (resampled to equal weights), both with the model's error on the
        stretch after the last thing known (the departure, the last sighting).
    steps
        One report per sighting.
    position_km
        ``(N,)`` each posterior particle's km at ``now``.
    """

    prepared: Prepared
    sightings: list[PlacedSighting]
    points: list[int]
    now: datetime
    prior: Analysis
    posterior: Analysis
    steps: list[StepReport]
    position_km: np.ndarray
    particles: int
    seed: int
    model_error: float
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        # short, as ScenarioResult's: the fields' arrays would print megabytes in a notebook
        km = np.quantile(self.position_km, [0.05, 0.5, 0.95])
        return (f"<NowcastResult {self.prepared.scenario.name}: {len(self.sightings)} "
                f"sighting(s), {self.particles:,} particles, seed {self.seed}; now "
                f"{self.now.astimezone(UTC):%Y-%m-%d %H:%M} UTC at km {km[1]:,.0f} "
                f"(5–95 % km {km[0]:,.0f}–{km[2]:,.0f})>")

    @property
    def plan(self) -> JourneyPlan:
        return self.prepared.plan

    @property
    def now_s(self) -> float:
        return (self.now - self.plan.epoch).total_seconds()


def prepare_nowcast(scenario: Scenario, sightings: Sequence[Sighting], *,
                    network: RailNetwork | None = None
                    ) -> tuple[Prepared, list[PlacedSighting], list[int]]:
    """Route the scenario, place the sightings on the route and plan the journey with a route
    point at each sighting; check that the sightings can all be true.

    Returns the :class:`~simulator.planning.Prepared` scenario, the sightings in route order and
    the route point of each.

    Raises
    ------
    ScenarioError, SightingError
        A bad scenario, or a bad or impossible sighting (one line each).
    """

    network = scenario_network(scenario, network)
    itinerary = build_itinerary(scenario, network)
    assert itinerary.route is not None
    placed = place_sightings(sightings, itinerary.route, network)
    return plan_with_sightings(scenario, itinerary, placed)


def plan_with_sightings(scenario: Scenario, itinerary: Itinerary,
                        placed: Sequence[PlacedSighting]
                        ) -> tuple[Prepared, list[PlacedSighting], list[int]]:
    """Plan the journey of ``itinerary`` with a route point at each placed sighting, check the
    sightings (:func:`~simulator.sightings.check_sightings`) and return the prepared scenario,
    the sightings in route order and the route point of each."""

    placed = list(placed)
    for i, p in enumerate(placed):
        itinerary.reported_places[_sighting_id(i)] = Place(p.name, p.km)
    prep = plan_journey(scenario, itinerary)
    check_reported_legs(prep)
    plan = prep.plan
    dep = next(s for s in plan.parameters if s.kind == ParameterKind.DEPART).default.support
    # the pace a trip may run at: the calibration's spread reaches below the profile's 1
    ordered = check_sightings(placed, plan, origin=prep.itinerary.stops[0],
                              destination=prep.itinerary.stops[-1],
                              min_pace=fastest_pace(plan), depart_s=dep)
    index = {id(p): i for i, p in enumerate(placed)}
    points = [prep.reported_point[_sighting_id(index[id(p)])] for p in ordered]
    return prep, ordered, points


def sighting_uncertainty_min(scenario: Scenario) -> float:
    """The uncertainty of a sighting that gives none: the scenario's ``nowcast.uncertainty_min``,
    else :data:`~simulator.sightings.DEFAULT_UNCERTAINTY_MIN`."""

    settings = getattr(scenario, "nowcast", None)
    value = getattr(settings, "uncertainty_min", None)
    return float(value.value) if value is not None else DEFAULT_UNCERTAINTY_MIN


def _sighting_id(i: int) -> str:
    return f"sighting:{i + 1}"


def nowcast(scenario: Scenario, sightings: Sequence[Sighting], *, now: datetime | None = None,
            particles: int = DEFAULT_PARTICLES, seed: int | None = None,
            model_error: float = MODEL_ERROR, network: RailNetwork | None = None,
            prepared: tuple[Prepared, list[PlacedSighting], list[int]] | None = None,
            params: ParameterTable | None = None,
            workers: int | None = None) -> NowcastResult:
    """Nowcast a scenario's journey from sightings.

    Parameters
    ----------
    scenario
        A loaded :class:`~simulator.scenario.Scenario`.
    sightings
        What was seen (:func:`~simulator.sightings.parse_sighting`), in any order.
    now
        The moment whose position is wanted (timezone-aware); the last sighting's time by
        default (the departure's earliest time without sightings).
    particles
        Particles of the filter.
    seed
        Master seed (the scenario's by default): the same seed gives the same nowcast.
    model_error
        The model's error on a leg, a fraction of the time run (:data:`MODEL_ERROR`).
    network
        The rail network (the scenario's, or the bundled one, is loaded when not given).
    prepared
        The result of :func:`prepare_nowcast` when it was called already.
    params
        The prior particles' parameters, instead of ``draw_parameters(plan, seed, particles)``.
    workers
        Local processes that run the particles (default: the CPUs available); the result is
        the same with any number.

    Raises
    ------
    SightingError
        A sighting after ``now``, or one that :func:`prepare_nowcast` refuses.
    """

    seed = scenario.seed if seed is None else seed
    prep, placed, points = prepared or prepare_nowcast(scenario, sightings, network=network)
    plan = prep.plan
    if now is None:
        if placed:
            now = max(p.sighting.latest for p in placed)
        else:
            dep = next(s for s in plan.parameters if s.kind == ParameterKind.DEPART)
            now = plan.epoch + timedelta(seconds=dep.default.support[0])
    for p in placed:
        if p.sighting.earliest > now:
            msg = (f"{p.sighting.origin}: seen at {p.sighting.earliest.isoformat(' ')}, after "
                   f"--now {now.isoformat(' ')}; a nowcast uses what was seen until now")
            raise SightingError(msg)
    if params is None:
        params = draw_parameters(plan, seed, particles)
    pf = ParticleFilter(plan, params, seed=seed, points=points, model_error=model_error,
                        simulate=partial(simulate_rows, workers=workers))
    prior = analyse(prep, pf.prior_forecast().as_result(seed, plan))
    for p, point in zip(placed, points, strict=True):
        pf.assimilate(p, point)
    final = pf.equal_weights()
    posterior = analyse(prep, final.as_result(seed, plan))
    now_s = (now - plan.epoch).total_seconds()
    notes = [f"{p.sighting.describe()}: {p.note}" for p in placed if p.snap_km > 0]
    for s in pf.steps:
        if s.widened:
            notes.append(
                f"{s.sighting.name}: the model expected "
                f"{_hm(s.predicted_s[1], plan, s.point)} (5–95 % "
                f"{_hm(s.predicted_s[0], plan, s.point)}–{_hm(s.predicted_s[2], plan, s.point)}); "
                f"the uncertainty was widened from ±{s.sighting.uncertainty_s / 60:.0f} to "
                f"±{s.sigma_s / 60:.0f} min to keep {pf.min_ess:.0f} effective particles")
    return NowcastResult(prep, list(placed), list(points), now, prior, posterior, pf.steps,
                         final.position_km(plan, now_s), len(params), seed, model_error, notes)


def _hm(seconds: float, plan: JourneyPlan, point: int) -> str:
    t = plan.epoch + timedelta(seconds=float(seconds)) + timedelta(
        seconds=float(plan.tz_offset_s[point]))
    return t.strftime("%d %b %H:%M")
