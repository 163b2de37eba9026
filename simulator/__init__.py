"""trainsim: simulate long-distance rail journeys on OpenStreetMap rail data.

A scenario (a YAML file: stops, departure time, halts, reported times) goes through one module
per stage, in this order::

    scenario.py    load_scenario       the trip, validated, with the shared operating rules
    network/       load_network        the rail network (OSM XML read with osmnx, cached)
    routing.py     find_route          a rail-aware route: switch angles, reversals, gauge
    planning/      prepare             itinerary → traction → route points → speed profiles
                                       → journey plan (physics.py: running times)
    journey.py     simulate_batch      SimPy: the train and its pilot train, event by event
    montecarlo.py  run_monte_carlo     many replications, on local processes or a Dask cluster
    reports.py     analyse             times with bands; reported figures against them
    results.py     ScenarioResult      DataFrames, charts (plots.py, maps.py), output files
    run.py         run_scenario        all of it for a scenario, as ``trainsim run`` does

and the analyses of a scenario: ``sweep.py`` (:func:`sweep_scenario`, what-ifs),
``sensitivity.py`` (:func:`sensitivity_analysis`, Sobol indices), ``logistics.py`` (line
occupation and traction plan, in every result), ``nowcast.py`` (:func:`nowcast_scenario`,
conditioned on sightings), ``calibration/`` (:func:`calibrate`: the shared operating parameters
fitted to the reported legs; every draw uses the committed fit unless told ``defaults="hand"``).

Examples
--------
>>> from simulator import run_scenario
>>> result = run_scenario("hanoi-2019", replications=200, seed=1)  # doctest: +SKIP
>>> result.comparison[["leg", "reported_h", "sim_median_h"]]       # doctest: +SKIP
>>> result.write("outputs/hanoi")                                  # doctest: +SKIP

The command line (``trainsim``, :mod:`simulator.cli`) is a thin layer over these functions.
"""

from simulator.errors import TrainsimError
from simulator.network.graph import RailNetwork, load_network
from simulator.results import ScenarioComparison, ScenarioResult
from simulator.routing import Route, find_route
from simulator.run import (
    calibrate,
    compare_scenarios,
    nowcast_scenario,
    plan_scenario,
    run_scenario,
    sensitivity_analysis,
    simulate,
    sweep_scenario,
)
from simulator.scenario import Scenario, load_scenario, scenario_schema
from simulator.settings import bundled_scenarios

__version__ = "0.1.0"

__all__ = [
    "RailNetwork",
    "Route",
    "Scenario",
    "ScenarioComparison",
    "ScenarioResult",
    "TrainsimError",
    "__version__",
    "bundled_scenarios",
    "calibrate",
    "compare_scenarios",
    "find_route",
    "load_network",
    "load_scenario",
    "nowcast_scenario",
    "plan_scenario",
    "run_scenario",
    "scenario_schema",
    "sensitivity_analysis",
    "simulate",
    "sweep_scenario",
]
