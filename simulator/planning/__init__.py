"""Planning: from a scenario to the journey plan the engine runs, in named stages.

See :mod:`simulator.planning.pipeline` for the order of the stages; each stage is a module with
typed inputs and outputs: :mod:`~simulator.planning.itinerary`,
:mod:`~simulator.planning.traction`, :mod:`~simulator.planning.points`,
:mod:`~simulator.planning.profiles`, :mod:`~simulator.planning.journey_plan`.
"""

from simulator.plan import HaltKind, PlannedHalt
from simulator.planning.itinerary import Itinerary, MarkKind, Place, RouteMark, build_itinerary
from simulator.planning.journey_plan import TimelineKind, TimelinePoint, Which
from simulator.planning.pipeline import Prepared, plan_journey, prepare, scenario_network
from simulator.planning.points import PointKind, RoutePoint
from simulator.planning.profiles import SpeedProfiles
from simulator.planning.traction import Traction, TractionSection

__all__ = [
    "HaltKind", "Itinerary", "MarkKind", "Place", "PlannedHalt", "PointKind", "Prepared",
    "RouteMark", "RoutePoint", "SpeedProfiles", "TimelineKind", "TimelinePoint", "Traction",
    "TractionSection", "Which", "build_itinerary", "plan_journey", "prepare", "scenario_network",
]
