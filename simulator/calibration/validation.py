"""Predictions and their scores: the calibrated model, the hand-set rules and the press's method.

Every method predicts the *reported figure* of a leg (the simulated time plus the reporting
error of :mod:`~simulator.calibration.dataset`), as samples. Scores per leg, against the middle
of the reported range: whether it lies inside the central 50 % and 90 % bands, the absolute
error of the median (% of the reported), and the CRPS (hours; the continuous ranked probability
score, which rewards a sharp band only if it contains the truth).

- **calibrated**: posterior samples of the shared parameters, a new trip-level pace per
  replication (``exp(σ z)``, z drawn afresh: the held-out trip's own pace is unknown).
- **hand**: the hand-set rules of ``operating.yaml`` (nothing fitted).
- **press**: distance ÷ one average speed, the total km over the total hours of the training
  trips' legs; its band is that prediction times the ratios reported/predicted of the
  training legs (their spread), so that it too can be scored as a distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator.calibration.dataset import Leg, Trip
from simulator.calibration.fit import Simulator
from simulator.calibration.posterior import Calibration
from simulator.journey import draw_parameters, simulate_batch

__all__ = [
    "LEVELS", "METHODS", "Forecast", "crps", "overall", "predict_calibrated", "predict_hand",
    "predict_press",
]

METHODS = ("calibrated", "hand", "press")
#: nominal coverages of the reliability diagram (central bands)
LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def crps(samples: np.ndarray, y: float) -> float:
    """CRPS of the sample distribution at ``y``: E|X − y| − ½ E|X − X'|."""
    x = np.sort(np.asarray(samples, dtype=float))
    n = len(x)
    spread = 2.0 * np.sum((2 * np.arange(1, n + 1) - n - 1) * x) / n**2
    return float(np.mean(np.abs(x - y)) - 0.5 * spread)


@dataclass
class Forecast:
    """One method's prediction of one leg's reported figure (samples, hours)."""

    leg: Leg
    method: str
    samples: np.ndarray
    held_out: bool = True

    @property
    def median(self) -> float:
        return float(np.median(self.samples))

    def band(self, level: float) -> tuple[float, float]:
        lo, hi = np.quantile(self.samples, [0.5 - level / 2, 0.5 + level / 2])
        return float(lo), float(hi)

    def inside(self, level: float) -> bool:
        lo, hi = self.band(level)
        return lo <= self.leg.mid_h <= hi

    @property
    def abs_error_pct(self) -> float:
        return 100 * abs(self.median - self.leg.mid_h) / self.leg.mid_h

    @property
    def error_h(self) -> float:
        return self.median - self.leg.mid_h

    @property
    def crps(self) -> float:
        return crps(self.samples, self.leg.mid_h)


def predict_calibrated(trip: Trip, calibration: Calibration, candidate: str, n: int,
                       seed: int) -> np.ndarray:
    """``(n, L)`` predictive samples of the trip's reported legs under a calibration (a
    posterior sample and a new trip pace per replication, as every run draws them)."""
    rng = np.random.default_rng([seed, 2])
    sim = Simulator([trip], calibration.parameters, candidate)
    rows = rng.integers(0, len(calibration.samples), n)
    theta = calibration.samples[rows]
    return sim.legs(trip, theta, rng.standard_normal(n), seed, rng)


def predict_hand(trip: Trip, n: int, seed: int) -> np.ndarray:
    """``(n, L)`` predictive samples under the hand-set rules."""
    rng = np.random.default_rng([seed, 3])
    table = draw_parameters(trip.plan, seed, n, defaults="hand")
    return trip.leg_hours(simulate_batch(trip.plan, table)) + trip.reporting_error(rng, n)


def press_speed(training: Sequence[Trip]) -> float:
    """The press's one average speed (km/h): total km over total reported hours."""
    km = sum(leg.km for t in training for leg in t.legs)
    hours = sum(leg.mid_h for t in training for leg in t.legs)
    return km / hours


def predict_press(training: Sequence[Trip], trip: Trip, n: int, seed: int) -> np.ndarray:
    """``(n, L)`` samples of the press's method (see the module docstring)."""
    rng = np.random.default_rng([seed, 4])
    v = press_speed(training)
    ratios = np.array([leg.mid_h / (leg.km / v) for t in training for leg in t.legs])
    km = np.array([leg.km for leg in trip.legs])
    return (km / v)[None, :] * rng.choice(ratios, size=(n, len(trip.legs)))


def overall(forecasts: Sequence[Forecast]) -> dict[str, float]:
    """Coverage of the 50 % and 90 % bands, median absolute error (%), mean CRPS (h) and mean
    CRPS relative to the reported figure (%), and the number of legs."""
    if not forecasts:
        return {"legs": 0}
    return {
        "legs": len(forecasts),
        "in50": float(np.mean([f.inside(0.5) for f in forecasts])),
        "in90": float(np.mean([f.inside(0.9) for f in forecasts])),
        "mae_pct": float(np.median([f.abs_error_pct for f in forecasts])),
        "crps_h": float(np.mean([f.crps for f in forecasts])),
        "crps_pct": float(np.mean([100 * f.crps / f.leg.mid_h for f in forecasts])),
    }


def reliability(forecasts: Sequence[Forecast]) -> list[float]:
    """Observed coverage at each nominal level of :data:`LEVELS`."""
    return [float(np.mean([f.inside(level) for f in forecasts])) for level in LEVELS]
