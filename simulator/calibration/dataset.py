"""The reported legs as a dataset: what the calibration fits and the cross-validation scores.

A *fitted leg* is the elapsed time between two consecutive reported clock times of a scenario
(``reported.times``), both on the rail route and some km apart: the measured legs the accuracy
table shows, without the road leg (no shared rule governs a motorcade), without halts measured
at one place (no shared rule governs a welcome ceremony) and without whole-journey legs (the sum
of the others: fitting them too would count the same minutes twice). Claims are never fitted.

A reported figure is modelled as the true time plus a *reporting error*: uniform over the
reported range (the sources disagree within it) plus a normal error of :data:`REPORT_SD_H` for
the rounding of "~" clock times. The fit and every score compare the same quantity: simulated
times with that error added.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator.journey import BatchTimes
from simulator.network.graph import load_network
from simulator.plan import JourneyPlan
from simulator.planning import plan_journey, prepare
from simulator.reports import check_reported_legs
from simulator.scenario import NightRule, load_scenario

__all__ = ["REPORT_SD_H", "Leg", "Trip", "leg_end_time", "load_trips"]

#: sd of the reporting error of a leg (hours): "~" clock times rounded to the quarter hour at
#: both ends, i.e. two independent uniform errors of ±7.5 min (sd 4.3 min each, 6.1 min together)
REPORT_SD_H = 0.1


@dataclass(frozen=True)
class Leg:
    """One fitted leg of a trip.

    ``a``, ``b``: the route points of its ends; ``a_depart``/``b_depart``: whether the time at
    that end is a departure (else an arrival or a passage).
    """

    trip: str
    label: str
    a_id: str
    b_id: str
    a: int
    b: int
    a_depart: bool
    b_depart: bool
    lo_h: float
    hi_h: float
    km: float
    km_a: float
    km_b: float

    @property
    def key(self) -> str:
        return f"{self.trip}: {self.label}"

    @property
    def mid_h(self) -> float:
        return 0.5 * (self.lo_h + self.hi_h)

    @property
    def half_h(self) -> float:
        return 0.5 * (self.hi_h - self.lo_h)


@dataclass
class Trip:
    """A scenario with fitted legs: its plan (hand-set rules) and legs; picklable, small.

    ``stretches``: (country, km start, km end) of each country's stretch of the route.
    ``variants``: plans of structural candidates (e.g. a night rule), by name.
    """

    name: str
    path: str
    plan: JourneyPlan
    legs: list[Leg]
    stretches: list[tuple[str, float, float]]
    seed: int
    variants: dict[str, JourneyPlan] = field(default_factory=dict)

    def leg_hours(self, times: BatchTimes, plan: JourneyPlan | None = None) -> np.ndarray:
        """``(n, L)`` simulated hours of each leg (without the reporting error)."""
        plan = plan or self.plan
        out = np.empty((len(times.arrive_s), len(self.legs)))
        for i, leg in enumerate(self.legs):
            out[:, i] = (leg_end_time(plan, times, leg.b, leg.b_depart)
                         - leg_end_time(plan, times, leg.a, leg.a_depart)) / 3600
        return out

    def reporting_error(self, rng: np.random.Generator | Any, n: int) -> np.ndarray:
        """``(n, L)`` draws of the reporting error of each leg (hours)."""
        half = np.array([leg.half_h for leg in self.legs])
        u = rng.random((n, len(self.legs)))
        return (2 * u - 1) * half + REPORT_SD_H * rng.standard_normal((n, len(self.legs)))


def leg_end_time(plan: JourneyPlan, times: BatchTimes, point: int, depart: bool) -> np.ndarray:
    """The time at one end of a leg.

    Parameters
    ----------
    plan
        The plan the times were simulated on.
    times
        The simulated times.
    point
        The route point of the leg's end.
    depart
        Whether that end's time is a departure (else an arrival or a passage).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` seconds after the plan's epoch.
    """
    if depart:
        col = int(plan.depart_column[point])
        if col >= 0:
            return times.dwell_depart_s[:, col]
    return times.arrive_s[:, point]


#: the night rule of the structural candidate "slower at night in North Korea": its window
NIGHT_WINDOW = ("20:00", "06:00")


def night_plan(scenario: Any, prep: Any, factor: float) -> JourneyPlan:
    """The plan of ``scenario`` with a night rule in North Korea: between
    :data:`NIGHT_WINDOW` (local time) the train runs at ``factor`` × its speed."""

    rule = NightRule(
        country="KP", start=NIGHT_WINDOW[0], end=NIGHT_WINDOW[1], mode="slow",
        speed_factor=factor, reason="structural candidate of the calibration",
        assumption="Seoul officials said the 2023 train travelled very slowly and at night "
                   "(journeys.md c); the window is an assumption, the factor is fitted")
    operating = scenario.operating.model_copy(update={"night": [rule, *scenario.operating.night]})
    variant = scenario.model_copy(update={"operating": operating})
    return plan_journey(variant, prep.itinerary, defaults="hand").plan


def load_trips(paths: list[Path], *, network: Any = None,
               night_factors: tuple[float, ...] = ()) -> tuple[list[Trip], list[str]]:
    """The trips with fitted legs among the scenarios ``paths`` (prepared with the hand-set
    rules), and notes on the scenarios left out (claims only) and legs not fitted.

    ``night_factors``: also prepare, for trips through North Korea, plans with the candidate
    night rule at each factor (``variants["night:0.5"]`` …)."""

    scenarios = [load_scenario(p) for p in paths]
    if network is None:
        networks = {s.network for s in scenarios}
        network = load_network(next(iter(networks))) if len(networks) == 1 else None
    trips, notes = [], []
    for path, sc in zip(paths, scenarios, strict=True):
        prep = prepare(sc, network=network, defaults="hand")
        check_reported_legs(prep)
        legs = []
        epoch = prep.plan.epoch
        road = prep.road_to
        times = sc.reported.times
        for a, b in itertools.pairwise(times):
            label = f"{a.at} → {b.at}"
            if road and b.at == road:
                notes.append(f"{sc.name}: {label} not fitted (road leg)")
                continue
            pa, pb = prep.reported_point[a.id], prep.reported_point[b.id]
            km_a, km_b = float(prep.plan.km[pa]), float(prep.plan.km[pb])
            if km_b - km_a < 1.0:
                notes.append(f"{sc.name}: {label} not fitted (a halt at one place: no shared "
                             "rule governs it)")
                continue
            lo = ((b.time[0] - epoch) - (a.time[1] - epoch)).total_seconds() / 3600
            hi = ((b.time[1] - epoch) - (a.time[0] - epoch)).total_seconds() / 3600
            legs.append(Leg(sc.name, label, a.id, b.id, pa, pb, a.event == "depart",
                            b.event == "depart", max(lo, 0.0), max(hi, 0.0), km_b - km_a,
                            km_a, km_b))
        for leg in sc.reported.legs:
            if leg.kind == "measured":
                notes.append(f"{sc.name}: {leg.id} not fitted (the sum of the legs between "
                             "consecutive reported times)")
        if not legs:
            notes.append(f"{sc.name}: no measured legs (claims only): not in the dataset")
            continue
        stretches: list[tuple[str, float, float]] = []
        for s in prep.itinerary.segments:
            if stretches and stretches[-1][0] == s.country:
                stretches[-1] = (s.country, stretches[-1][1], s.km_end)
            else:
                stretches.append((s.country, s.km_start, s.km_end))
        variants = {}
        if any(c == "KP" for c, _, _ in stretches):
            for f in night_factors:
                variants[f"night:{f:.2f}"] = night_plan(sc, prep, f)
        trips.append(Trip(sc.name, str(path), prep.plan, legs, stretches, sc.seed, variants))
    return trips, notes
