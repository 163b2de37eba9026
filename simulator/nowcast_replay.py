"""Replay evaluation of the nowcast on the reported trips.

For each trip with at least :data:`MIN_REPORTED` reported times on the rail route, the reported
times are taken in route order as sightings. After the first *k* of them (k = 1 … K − 1) the
nowcast predicts every later reported time, which is then compared with what was reported; the
unconditioned forecast (the same particles before any sighting) is scored alongside. One filter
pass per trip gives all its replays: the filter after *k* sightings is exactly the nowcast made
with the first *k*.

Scores per prediction: the error of the median (hours; the reported time's middle as truth), and
whether the reported range meets the 5–95 % band. The *midpoint replay* of a trip is the one
made with the reported times in the first half of the route (by km); its error on the trip's
final reported arrival is the issue's headline figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.journey import draw_parameters
from simulator.network.graph import RailNetwork, load_network
from simulator.nowcast import (
    DEFAULT_PARTICLES,
    MODEL_ERROR,
    ParticleFilter,
    sighting_uncertainty_min,
    weighted_quantile,
)
from simulator.planning import Prepared, prepare
from simulator.reports import defaults_line
from simulator.scenario import Scenario
from simulator.sightings import PlacedSighting, Sighting, SightingKind

__all__ = ["MIN_REPORTED", "ReplayRow", "TripReplay", "replay", "replay_trip", "summary"]

#: a trip needs at least this many reported rail times: one to condition on, one to predict,
#: and one more, so that some prediction rests on a sighting beyond the departure
MIN_REPORTED = 3

_KIND = {"depart": SightingKind.DEPARTED, "arrive": SightingKind.ARRIVED,
         "pass": SightingKind.PASSING}


@dataclass
class ReplayRow:
    """One prediction of one replay."""

    scenario: str
    used: int  # reported times used as sightings
    last_seen: str  # the last of them
    last_km: float
    target: str
    target_km: float
    reported_s: tuple[float, float]  # seconds after the plan's epoch
    prior_s: np.ndarray  # 5 %, 50 %, 95 % before any sighting (with the model's error)
    posterior_s: np.ndarray
    run_s: np.ndarray  # the run's forecast: before any sighting, without the model's error
    final: bool  # the target is the trip's last reported rail time
    midpoint: bool  # the replay made with the reported times in the first half of the route

    @property
    def reported_mid_s(self) -> float:
        return 0.5 * (self.reported_s[0] + self.reported_s[1])

    def _q(self, which: str) -> np.ndarray:
        return {"prior": self.prior_s, "posterior": self.posterior_s, "run": self.run_s}[which]

    def error_h(self, which: str) -> float:
        return float(self._q(which)[1] - self.reported_mid_s) / 3600

    def inside(self, which: str) -> bool:
        q = self._q(which)
        return bool(q[0] <= self.reported_s[1] and self.reported_s[0] <= q[2])

    def row(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "sightings_used": self.used, "last_seen": self.last_seen,
            "last_seen_km": round(self.last_km, 1), "target": self.target,
            "target_km": round(self.target_km, 1),
            "prior_error_h": round(self.error_h("prior"), 2),
            "prior_band_h": _band(self.prior_s, self.reported_mid_s),
            "prior_inside": "yes" if self.inside("prior") else "no",
            "run_error_h": round(self.error_h("run"), 2),
            "run_band_h": _band(self.run_s, self.reported_mid_s),
            "run_inside": "yes" if self.inside("run") else "no",
            "nowcast_error_h": round(self.error_h("posterior"), 2),
            "nowcast_band_h": _band(self.posterior_s, self.reported_mid_s),
            "nowcast_inside": "yes" if self.inside("posterior") else "no",
            "final_arrival": "yes" if self.final else "no",
            "midpoint_replay": "yes" if self.midpoint else "no",
        }


def _band(q: np.ndarray, mid: float) -> str:
    return f"{(q[0] - mid) / 3600:+.2f} to {(q[2] - mid) / 3600:+.2f}"


@dataclass
class TripReplay:
    scenario: str
    title: str
    rows: list[ReplayRow] = field(default_factory=list)
    skipped: str = ""  # why the trip was not replayed
    ess: list[float] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)
    #: which operating parameters the particles drew (the calibration's posterior, or the
    #: hand-set rules), in words
    defaults: str = ""


def replay_trip(prep: Prepared, *, particles: int = DEFAULT_PARTICLES, seed: int | None = None,
                uncertainty_min: float, model_error: float = MODEL_ERROR) -> TripReplay:
    """Replay the nowcast over a prepared scenario's reported times (see the module docstring)."""
    sc = prep.scenario
    plan = prep.plan
    out = TripReplay(sc.name, sc.title, defaults=defaults_line(prep))
    reported = [rt for rt in sc.reported.times if rt.id in prep.reported_point]
    reported.sort(key=lambda rt: (prep.reported_km[rt.id], rt.time[0]))
    if len(reported) < MIN_REPORTED:
        out.skipped = (f"{len(reported)} reported time(s) on the rail route; a replay needs "
                       f"at least {MIN_REPORTED}")
        return out
    seed = sc.seed if seed is None else seed
    placed = []
    for rt in reported:
        s = Sighting(rt.at, rt.time[0], rt.time[1], uncertainty_min * 60.0, _KIND[rt.event],
                     f"{sc.path}: reported time '{rt.id}'")
        placed.append(PlacedSighting(s, prep.reported_km[rt.id], rt.at, 0.0, 0.0, 0.0))
    points = [prep.reported_point[rt.id] for rt in reported]
    half = 0.5 * plan.length_km
    midpoint_used = sum(1 for p in placed if p.km <= half)
    pf = ParticleFilter(plan, draw_parameters(plan, seed, particles), seed=seed, points=points,
                        model_error=model_error)
    prior = pf.prior_forecast()
    prior_w = np.full(len(pf.prior), 1.0 / len(pf.prior))
    levels = (0.05, 0.5, 0.95)

    def times(particles: Any, j: int) -> np.ndarray:
        kind = placed[j].kind
        point = points[j]
        if kind == SightingKind.DEPARTED:
            return particles.depart(plan, point)  # type: ignore[no-any-return]
        return particles.arrive_s[:, point]  # type: ignore[no-any-return]

    # the forecasts before any sighting do not change from step to step: once per place
    prior_q = [weighted_quantile(times(prior, j), prior_w, levels) for j in range(len(placed))]
    drawn_q = [weighted_quantile(times(pf.prior, j), prior_w, levels)
               for j in range(len(placed))]
    for k in range(1, len(placed)):
        step = pf.assimilate(placed[k - 1], points[k - 1])
        out.ess.append(step.ess)
        if step.widened:
            out.widened.append(f"{placed[k - 1].name}: ±{step.sigma_s / 60:.0f} min")
        w = pf.particles.weights
        z = pf.model_error_draws(len(w))
        for j in range(k, len(placed)):
            window = placed[j].window_s(plan.epoch)
            out.rows.append(ReplayRow(
                sc.name, k, placed[k - 1].name, placed[k - 1].km, placed[j].name, placed[j].km,
                window, prior_q[j],
                weighted_quantile(pf.forecast(times(pf.particles, j), points[j],
                                              z=z), w, levels),
                drawn_q[j],
                final=j == len(placed) - 1, midpoint=k == midpoint_used))
    return out


@dataclass
class Summary:
    """The headline figures over several trips' replays."""

    midpoint_rows: list[ReplayRow]
    final_rows: list[ReplayRow]
    all_rows: list[ReplayRow]

    @staticmethod
    def _mae(rows: Sequence[ReplayRow], which: str) -> float:
        return float(np.median([abs(r.error_h(which)) for r in rows])) if rows else float("nan")

    @staticmethod
    def _cover(rows: Sequence[ReplayRow], which: str) -> float:
        return float(np.mean([r.inside(which) for r in rows])) if rows else float("nan")

    def figures(self, rows: Sequence[ReplayRow]) -> dict[str, float]:
        return {"n": len(rows), "prior_mae_h": self._mae(rows, "prior"),
                "nowcast_mae_h": self._mae(rows, "posterior"),
                "prior_cover": self._cover(rows, "prior"),
                "nowcast_cover": self._cover(rows, "posterior"),
                "run_mae_h": self._mae(rows, "run"), "run_cover": self._cover(rows, "run")}


def summary(trips: Sequence[TripReplay]) -> Summary:
    rows = [r for t in trips for r in t.rows]
    return Summary([r for r in rows if r.midpoint and r.final], [r for r in rows if r.final],
                   rows)


def replay(scenarios: Sequence[Scenario], *, particles: int = DEFAULT_PARTICLES,
           seed: int | None = None, model_error: float = MODEL_ERROR,
           network: RailNetwork | None = None,
           prepared: Sequence[Prepared] | None = None) -> list[TripReplay]:
    """Replay the nowcast over each scenario's reported times (see the module docstring).

    Parameters
    ----------
    scenarios
        Loaded scenarios; those with fewer than :data:`MIN_REPORTED` reported times on the rail
        route are returned with ``skipped`` set.
    particles, seed, model_error
        As for :func:`~simulator.nowcast.nowcast` (each scenario's own seed by default).
    network
        The rail network (loaded once for all when not given).
    prepared
        The scenarios already prepared (:func:`~simulator.planning.prepare`), same order.
    """

    if prepared is None:
        if network is None:

            nets = {sc.network for sc in scenarios}
            network = load_network(next(iter(nets))) if len(nets) == 1 else None
        prepared = [prepare(sc, network=network) for sc in scenarios]
    return [replay_trip(prep, particles=particles, seed=seed, model_error=model_error,
                        uncertainty_min=sighting_uncertainty_min(prep.scenario))
            for prep in prepared]
