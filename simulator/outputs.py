"""The files trainsim writes: those of a route, of a simulated scenario, of a comparison.

Each function writes into a folder that exists and returns the paths it wrote. The caller (the
command line, or :meth:`simulator.results.ScenarioResult.write`) claims the output folder first
and commits it afterwards with :func:`manifest` (see :mod:`simulator._outdir`), so that a failed
or interrupted run leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from simulator import exports, maps, plots
from simulator._io import atomic_path, write_csv
from simulator.logistics import LogisticsReport, logistics_report
from simulator.reports import (
    Analysis,
    legs_markdown,
    replication_events,
    summary_markdown,
    timeline_rows,
)
from simulator.routing import Route
from simulator.sensitivity import SensitivityResult

__all__ = [
    "COMPARISON_FILES", "ROUTE_FILES", "RUN_FILES", "comparison_markdown", "manifest",
    "measured_summary", "summary_text", "write_comparison", "write_route", "write_run",
]

#: the files of a simulated scenario (``trainsim run``), besides ``manifest.json``
RUN_FILES = ("timeline.csv", "events.csv", "route.geojson", "map.png", "map.html",
             "journey.gpkg", "journey.kml", "timedistance.png", "comparison.png",
             "logistics.csv", "traction.csv", "summary.md")
#: the files of a comparison of scenarios (``trainsim compare``)
COMPARISON_FILES = ("comparison.png", "comparison.csv", "comparison.md")
#: the files of a route (``trainsim route``)
ROUTE_FILES = ("route.geojson", "route.csv", "route.png", "route.gpkg")


def write_run(result: Analysis, folder: Path, *,
              sensitivity: SensitivityResult | None = None) -> list[Path]:
    """Write every file of a simulated scenario (:data:`RUN_FILES`; with Sobol indices, also
    ``sensitivity.csv`` and ``sensitivity.png``) into ``folder``."""
    prep = result.prepared
    write_csv(folder / "timeline.csv", timeline_rows(result))
    events = replication_events(result)
    write_csv(folder / "events.csv", events)
    prep.route.write_geojson(folder / "route.geojson")
    maps.plot_route(prep.route, folder / "map.png", title=prep.scenario.title)
    maps.write_html_map(result, folder / "map.html")
    exports.write_geopackage(result, folder / "journey.gpkg", events=events)
    exports.write_kml(result, folder / "journey.kml")
    logistics = logistics_report(result)
    written = logistics.write(folder)
    if sensitivity is not None:
        written += sensitivity.write(folder)
    occupied = logistics.occupation.windows() if logistics.occupation is not None else None
    plots.save(plots.time_distance(result, plots.new_axes(plots.TIME_DISTANCE_SIZE),
                                   occupied=occupied), folder / "timedistance.png")
    plots.save(plots.comparison([result], plots.new_axes(plots.comparison_size(
        result.comparisons))), folder / "comparison.png")
    with atomic_path(folder / "summary.md") as tmp:
        tmp.write_text(summary_text(result, logistics=logistics, sensitivity=sensitivity),
                       encoding="utf-8")
    return [*(folder / name for name in RUN_FILES if (folder / name).exists()), *written]


def summary_text(result: Analysis, *, logistics: LogisticsReport | None = None,
                 sensitivity: SensitivityResult | None = None) -> str:
    """``summary.md``: the run (:func:`~simulator.reports.summary_markdown`) with its logistics
    and, when computed, its Sobol indices, before the credits."""
    logistics = logistics or logistics_report(result)
    extra = logistics.markdown()
    if sensitivity is not None:
        extra += [*sensitivity.markdown(), ""]
    text = summary_markdown(result)
    foot = text.rfind("Map data ©")
    foot = len(text) if foot < 0 else foot
    return text[:foot] + "\n".join(extra) + "\n" + text[foot:]


def comparison_markdown(results: Sequence[Analysis]) -> str:
    """``comparison.md``: every reported leg of every scenario against the simulation."""
    legs = [leg for r in results for leg in r.comparisons]
    return ("# Reported against simulated journey times\n\n"
            + legs_markdown(legs, with_scenario=True) + "\n")


def write_comparison(results: Sequence[Analysis], folder: Path) -> list[Path]:
    """Write the comparison across scenarios (:data:`COMPARISON_FILES`) into ``folder``."""
    legs = [leg for r in results for leg in r.comparisons]
    plots.save(plots.comparison(results, plots.new_axes(plots.comparison_size(legs))),
               folder / "comparison.png")
    write_csv(folder / "comparison.csv", [leg.row() for leg in legs])
    with atomic_path(folder / "comparison.md") as tmp:
        tmp.write_text(comparison_markdown(results), encoding="utf-8")
    return [folder / name for name in COMPARISON_FILES]


def write_route(route: Route, folder: Path, *, color_by: str = "country") -> list[Path]:
    """Write a route's files (:data:`ROUTE_FILES`): GeoJSON, a table, a map, a GeoPackage."""
    route.write_geojson(folder / "route.geojson")
    with atomic_path(folder / "route.csv") as tmp:
        route.table().to_csv(tmp, index=False)
    maps.plot_route(route, folder / "route.png", color_by=color_by)
    exports.write_route_geopackage(route, folder / "route.gpkg")
    return [folder / name for name in ROUTE_FILES]


def manifest(command: str, results: Sequence[Analysis]) -> dict[str, Any]:
    """What the manifest of an output folder records besides its files: how to redo the run."""
    try:
        tool_version = version("trainsim")
    except PackageNotFoundError:
        tool_version = "unknown"
    return {"version": tool_version, "command": command, "runs": [
        {"scenario": str(r.prepared.scenario.path), "name": r.name, "seed": r.mc.seed,
         "replications": r.mc.n,
         "defaults": "calibrated" if r.prepared.plan.calibration is not None else "hand"}
        for r in results]}


def measured_summary(results: Sequence[Analysis]) -> str:
    """One line on the measured legs: how many reported ranges the simulated band overlaps,
    and the median absolute error ('' when there are none)."""
    measured = [leg for r in results for leg in r.comparisons if leg.kind == "measured"]
    if not measured:
        return ""
    inside = sum(leg.overlaps for leg in measured)
    med = float(np.median([abs(leg.error_pct) for leg in measured]))
    return (f"measured legs: {inside}/{len(measured)} reported ranges overlap the simulated "
            f"5–95 % band; median absolute error {med:.1f} %")
