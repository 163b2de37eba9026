"""From a scenario to a runnable journey plan, stage by stage.

:func:`prepare` runs the stages in order, each a function of the ones before::

    scenario + network ─ build_itinerary ─▶ Itinerary        (route, places resolved to km)
                       ─ plan_traction ───▶ Traction         (halts, locomotives, train length)
                       ─ route_points ────▶ [RoutePoint]     (where times are kept)
                       ─ compute_profiles ▶ SpeedProfiles    (running time for any speed caps)
                       ─ build_plan ──────▶ JourneyPlan      (what the engine runs)

:func:`plan_journey` runs all but the first, so a saved :class:`Itinerary` can be planned again
without the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from simulator.calibration.posterior import Calibration
from simulator.calibration.posterior import resolve as resolve_calibration
from simulator.errors import DataFileError
from simulator.network.graph import RailNetwork, load_network
from simulator.physics import SpeedProfile
from simulator.plan import JourneyPlan
from simulator.planning.itinerary import Itinerary, build_itinerary
from simulator.planning.journey_plan import (
    TimelinePoint,
    build_plan,
    check_order,
    reported_points,
    timeline_points,
)
from simulator.planning.points import RoutePoint, route_points
from simulator.planning.profiles import (
    CAP_GRID_KMH,
    SpeedProfiles,
    compute_profiles,
    profiles_at,
)
from simulator.planning.traction import Traction, TractionSection, plan_traction
from simulator.routing import Route
from simulator.scenario import Scenario

__all__ = ["Prepared", "plan_journey", "prepare", "scenario_network"]


@dataclass
class Prepared:
    """A scenario ready to simulate: every stage's result.

    Attributes
    ----------
    points
        The rows of the timeline (one per place and event).
    reported_km, reported_point
        The km and the route point of every reported time (by id) and of every place a
        reported leg names.
    """

    scenario: Scenario
    itinerary: Itinerary
    traction: Traction
    route_points: list[RoutePoint]
    profiles: SpeedProfiles
    plan: JourneyPlan
    points: list[TimelinePoint]
    warnings: list[str] = field(default_factory=list)
    road_to: str | None = None
    reported_km: dict[str, float] = field(default_factory=dict)
    reported_point: dict[str, int] = field(default_factory=dict)

    @property
    def route(self) -> Route:
        """The routed route (geometry for maps); only when prepared from a network."""
        if self.itinerary.route is None:
            msg = "this plan was made from a saved itinerary, without the route's geometry"
            raise ValueError(msg)
        return self.itinerary.route

    @property
    def day(self) -> SpeedProfile:
        """The nominal speed profile (every cap at its ``kmh``, by day)."""
        return self.profiles.day

    @cached_property
    def typical_day(self) -> SpeedProfile:
        """The day profile of a typical trip: every cap at the median of its draw
        (:meth:`JourneyPlan.median_caps`: the calibration's posterior median, or the rule's
        ``kmh``, where it is :attr:`day` itself)."""
        caps = self.plan.median_caps()
        nominal = np.array([r.kmh for r in self.profiles.cap_rules])
        if len(caps) == len(nominal) and np.allclose(caps, nominal, rtol=0, atol=1e-9):
            return self.profiles.day
        return profiles_at(self.itinerary, self.traction, self.scenario.rules(), caps,
                           max_speed_kmh=self.traction.max_speed_kmh)[0]

    @property
    def sections(self) -> list[TractionSection]:
        """The traction sections (what hauls the train from where)."""
        return self.traction.sections


def scenario_network(scenario: Scenario, network: RailNetwork | None = None) -> RailNetwork:
    """``network``, or the network the scenario names (the bundled one by default); a network
    file that cannot be read is an error of the scenario's ``network`` field."""
    if network is not None:
        return network
    try:
        return load_network(scenario.network)
    except DataFileError as exc:
        if scenario.network is None:
            raise
        raise scenario.error(("network",), str(exc)) from None


def prepare(scenario: Scenario, *, network: RailNetwork | None = None,
            cap_span_kmh: tuple[float, float] = CAP_GRID_KMH, defaults: str = "calibrated",
            calibration: Calibration | Path | str | None = None) -> Prepared:
    """Route the scenario, compute its running times and build the journey plan.

    Parameters
    ----------
    scenario
        A loaded scenario (:func:`~simulator.scenario.load_scenario`).
    network
        The rail network; the scenario's (or the bundled one) is loaded when not given.
    cap_span_kmh
        Speed caps the plan can simulate at least (for calibration priors wider than the
        rules' ranges).
    defaults
        ``"calibrated"`` (the default): every draw of the plan takes the shared operating
        parameters from the calibration's posterior and a trip-level pace from its fitted
        spread (:mod:`simulator.calibration.posterior`); ``"hand"``: the hand-set rules of
        the operating defaults. The scenario's overrides apply either way.
    calibration
        The calibration to use (an object or a file); default
        ``scenarios/defaults/calibrated.yaml`` (when it is missing: the hand-set rules, with a
        warning).

    Raises
    ------
    ScenarioError
        A place, station, route or order problem, naming the file, line and field.
    """
    itinerary = build_itinerary(scenario, scenario_network(scenario, network))
    return plan_journey(scenario, itinerary, cap_span_kmh=cap_span_kmh, defaults=defaults,
                        calibration=calibration)


def plan_journey(scenario: Scenario, itinerary: Itinerary, *,
                 cap_span_kmh: tuple[float, float] = CAP_GRID_KMH, defaults: str = "calibrated",
                 calibration: Calibration | Path | str | None = None) -> Prepared:
    """Every stage after the itinerary (see the module docstring and :func:`prepare`)."""
    cal, cal_warnings = resolve_calibration(defaults, calibration, scenario.defaults)
    span = cal.cap_span() if cal is not None else None
    if span is not None:  # the grid of caps must hold every cap of the posterior
        cap_span_kmh = (min(cap_span_kmh[0], span[0]), max(cap_span_kmh[1], span[1]))
    rules = scenario.rules()
    traction = plan_traction(scenario, itinerary, rules)
    points = route_points(itinerary, traction)
    profiles = compute_profiles(
        itinerary, traction, rules, max_speed_kmh=traction.max_speed_kmh,
        points_km=np.array([p.km for p in points]), cap_span_kmh=cap_span_kmh)
    plan = build_plan(scenario, itinerary, traction, profiles, points, rules)
    plan.calibration = cal
    check_order(scenario, itinerary)
    warnings = list(traction.warnings) + cal_warnings
    missing = sorted({s.country for s in itinerary.segments
                      if not any(r.matches(s.country, s.line) for r in rules.caps)})
    if missing:
        warnings.append("no operating speed cap for " + ", ".join(missing) +
                        ": only the train's maximum limits it there")
    where = reported_points(itinerary, points)
    return Prepared(
        scenario=scenario, itinerary=itinerary, traction=traction, route_points=points,
        profiles=profiles, plan=plan, points=timeline_points(plan, points), warnings=warnings,
        road_to=scenario.road.to if scenario.road else None,
        reported_km={k: float(plan.km[p]) for k, p in where.items()}, reported_point=where)
