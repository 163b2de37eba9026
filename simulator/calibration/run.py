"""``trainsim calibrate``: the full fit, leave-one-trip-out cross-validation, the structural
candidates, and everything they write.

:func:`calibrate` runs, side by side (:func:`~simulator.calibration.fit.run_fits`):

- the full fit of the chosen model on every trip with measured legs;
- with ``cv``: for each candidate model (``base``, and each structural candidate), one fit per
  held-out trip on the other trips.

A structural candidate is kept only if it lowers the cross-validated CRPS by more than twice
the standard error of the paired differences over the held-out legs (:func:`improvement`); the
full fit is of the chosen model. Every fit's seed derives from the master seed and
the fit's name, so the whole result is reproducible from the seed alone.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from simulator.calibration.dataset import Trip, load_trips
from simulator.calibration.fit import (
    CANDIDATES,
    NIGHT_FACTORS,
    NOT_FITTED,
    FitJob,
    FitResult,
    FitSettings,
    run_fits,
)
from simulator.calibration.posterior import Calibration, operating_digest
from simulator.calibration.validation import (
    METHODS,
    Forecast,
    overall,
    predict_calibrated,
    predict_hand,
    predict_press,
)
from simulator.scenario import load_defaults

__all__ = ["CalibrationRun", "calibrate", "job_seed"]


def job_seed(seed: int, name: str) -> int:
    """The seed of one fit: from the master seed and the fit's name (stable across runs)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(name.encode())]).generate_state(1)[0])


@dataclass
class CalibrationRun:
    """Everything one ``trainsim calibrate`` computed."""

    trips: list[Trip]
    notes: list[str]
    seed: int
    settings: FitSettings
    candidate: str  # the chosen model
    full: FitResult
    fits: dict[str, FitResult]
    #: in-sample forecasts of the fitted legs (posterior predictive)
    fit: list[Forecast]
    #: held-out forecasts per model (candidate name or "hand", "press") with --cv
    cv: dict[str, list[Forecast]] = field(default_factory=dict)
    seconds: float = 0.0
    command: str = ""

    @property
    def calibration(self) -> Calibration:
        return self.full.calibration


def calibrate(paths: Sequence[Path], *, seed: int, settings: FitSettings, cv: bool,
              candidates: Sequence[str] = CANDIDATES, workers: int = 1,
              scheduler: str | None = None, command: str = "",
              progress: Callable[[str], Any] | None = None) -> CalibrationRun:
    """Fit (and cross-validate) the calibration on the scenarios ``paths``."""

    started = time.perf_counter()
    say = progress or (lambda text: None)
    candidates = list(dict.fromkeys(["base", *candidates])) if cv else ["base"]
    for c in candidates:
        if c not in CANDIDATES:
            msg = f"unknown candidate {c!r}: one of {', '.join(CANDIDATES)}"
            raise ValueError(msg)
    night = NIGHT_FACTORS if "night" in candidates else ()
    trips, notes = load_trips(list(paths), night_factors=night)
    if len(trips) < (2 if cv else 1):
        msg = "cross-validation needs at least two trips with measured legs" if cv else \
            "no scenario has measured legs (reported clock times) to fit"
        raise ValueError(msg)
    everything = tuple(range(len(trips)))
    jobs = [FitJob("full:base", everything, "base", job_seed(seed, "full:base"))]
    if cv:
        for c in candidates:
            for i, t in enumerate(trips):
                name = f"cv:{c}:{t.name}"
                jobs.append(FitJob(name, tuple(j for j in everything if j != i), c,
                                   job_seed(seed, name)))
    say(f"{len(jobs)} fits ({len(trips)} trips, {sum(len(t.legs) for t in trips)} legs) on "
        f"{'a Dask cluster' if scheduler else f'{workers} process(es)'}")
    fits = run_fits(trips, jobs, settings, workers=workers, scheduler=scheduler,
                    progress=lambda job, r: say(
                        f"  {job.name}: {r.generations} generations, {r.simulations:,} "
                        f"simulations, effective sample size {r.ess:.0f}, {r.seconds:.0f} s"))
    cv_results: dict[str, list[Forecast]] = {}
    chosen = "base"
    draws = settings.draws
    if cv:
        for c in candidates:
            cv_results[c] = []
            for t in trips:
                cal = fits[f"cv:{c}:{t.name}"].calibration
                samples = predict_calibrated(t, cal, c, draws, job_seed(seed, f"p:{c}"))
                cv_results[c] += _forecasts(t, samples, c)
        for i, t in enumerate(trips):
            training = [x for j, x in enumerate(trips) if j != i]
            cv_results.setdefault("hand", []).extend(_forecasts(
                t, predict_hand(t, draws, job_seed(seed, "p:hand")), "hand"))
            cv_results.setdefault("press", []).extend(_forecasts(
                t, predict_press(training, t, draws, job_seed(seed, "p:press")),
                "press"))
        better = [(gain, c) for c in candidates if c != "base"
                  and (gain := improvement(cv_results["base"], cv_results[c])) > 0]
        if better:
            chosen = max(better)[1]
    if chosen != "base":
        name = f"full:{chosen}"
        say(f"the {chosen} candidate improves the cross-validated CRPS: fitting it on all trips. "
            "Warning: runs do not simulate its rule yet (its parameters apply to no column of "
            "a plan); add the rule to operating.yaml and the engine before relying on it")
        fits.update(run_fits(trips, [FitJob(name, everything, chosen, job_seed(seed, name))],
                             settings, workers=1, scheduler=scheduler))
    full = fits[f"full:{chosen}"]
    in_sample = []
    for t in trips:
        s = job_seed(seed, f"in-sample:{t.name}")
        in_sample += _forecasts(t, predict_calibrated(t, full.calibration, chosen,
                                                      draws, s), chosen, held_out=False)
    run = CalibrationRun(trips, notes, seed, settings, chosen, full, fits, in_sample, cv_results,
                         time.perf_counter() - started, command)
    full.calibration.provenance = _provenance(run, paths)
    return run


def improvement(base: Sequence[Forecast], candidate: Sequence[Forecast]) -> float:
    """How much a candidate lowers the cross-validated CRPS (h per leg), when it does so by
    more than twice the standard error of the paired differences over the held-out legs;
    0 otherwise (noise: with a dozen legs, and ABC fits that are themselves random, a small
    difference says nothing)."""
    d = np.array([b.crps - c.crps for b, c in zip(base, candidate, strict=True)])
    if len(d) < 2:
        return 0.0
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
    return mean if mean > 2 * se else 0.0


def _forecasts(trip: Trip, samples: np.ndarray, method: str, *,
               held_out: bool = True) -> list[Forecast]:
    return [Forecast(leg, method, samples[:, i], held_out) for i, leg in enumerate(trip.legs)]


def _provenance(run: CalibrationRun, paths: Sequence[Path]) -> dict[str, Any]:


    full = run.full
    out: dict[str, Any] = {
        "command": run.command,
        "seed": run.seed,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "method": (f"ABC-SMC (pyabc {version('pyabc')}), single-core sampler, adaptive "
                   "Euclidean distance on the fitted legs, population "
                   f"{run.settings.population}, at most {run.settings.generations} "
                   f"generations and {run.settings.max_simulations:,} simulations; "
                   f"{run.settings.draws:,} predictive draws per leg for the scores"),
        "model": run.candidate,
        "scenarios": [str(p) for p in paths],
        "trips": [t.name for t in run.trips],
        "legs": [f"{leg.key} ({_range(leg.lo_h, leg.hi_h)} h)" for t in run.trips
                 for leg in t.legs],
        "legs_not_fitted": run.notes,
        "rules_not_fitted": list(NOT_FITTED),
        "generations": full.generations,
        "simulations": full.simulations,
        "final_epsilon": round(full.epsilon[-1], 4) if full.epsilon else None,
        "effective_sample_size": round(full.ess, 1),
        "operating_digest": operating_digest(load_defaults()),
    }
    if run.cv:
        out["cross_validation"] = {
            m: {k: round(v, 4) for k, v in overall(f).items()} for m, f in run.cv.items()}
    return out


def _range(lo: float, hi: float) -> str:
    return f"{lo:.2f}" if abs(hi - lo) < 1e-9 else f"{lo:.2f}–{hi:.2f}"


def methods(run: CalibrationRun) -> list[str]:
    """The rows of the comparison: the chosen model first, then the other candidates and the
    reference methods."""
    rest = [m for m in run.cv if m not in (run.candidate, *METHODS)]
    return [run.candidate, *rest, "hand", "press"] if run.cv else []
