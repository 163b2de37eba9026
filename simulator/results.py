"""What :func:`~simulator.run.run_scenario` and :func:`~simulator.run.compare_scenarios` return.

:class:`ScenarioResult` holds the replications of one scenario and shows them as pandas
DataFrames (the timeline, the legs of the journey, the comparison with reported figures, the
events of one replication), the route as a GeoDataFrame, and charts; :meth:`ScenarioResult.write`
writes every output file. :class:`ScenarioComparison` does the same across scenarios.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator import maps, plots, settings
from simulator._outdir import OutputFolder, claim_outputs
from simulator.logistics import LogisticsReport, logistics_report
from simulator.outputs import (
    comparison_markdown,
    manifest,
    measured_summary,
    summary_text,
    write_comparison,
    write_run,
)
from simulator.planning import Prepared
from simulator.reports import (
    COMPARISON_COLUMNS,
    Analysis,
    journey_legs,
    replication_events,
    time_breakdown,
    timeline_rows,
)
from simulator.scenario import Scenario
from simulator.sensitivity import SensitivityResult

__all__ = ["ScenarioComparison", "ScenarioResult", "comparison_folders", "write_claimed"]

_UTC_COLUMNS = ("median_utc", "p05_utc", "p95_utc", "time_utc")


def _frame(rows: list[dict[str, object]], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Rows as a DataFrame, with UTC times as timestamps and no-value cells as missing."""
    frame = pd.DataFrame(rows, columns=list(columns) if columns is not None else None)
    for col in _UTC_COLUMNS:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], utc=True, format="%Y-%m-%d %H:%M:%SZ")
    if "km" in frame:
        frame["km"] = pd.to_numeric(frame["km"].replace("", np.nan))
    return frame


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """The caller's axes, or new ones from pyplot (so that a notebook shows them)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt  # only for charts drawn interactively

    with matplotlib.rc_context({"text.parse_math": False}):  # titles from files are text
        _, new = plt.subplots(figsize=size, dpi=plots.DPI, layout="tight")
    return new


class ScenarioResult:
    """The simulated journeys of one scenario.

    Made by :func:`~simulator.run.run_scenario` (or :func:`~simulator.run.simulate`). The
    tables are computed on first use and kept.

    Attributes
    ----------
    analysis : Analysis
        The replications' times and their comparison with reported figures
        (:class:`simulator.reports.Analysis`), from which everything here is derived.

    Examples
    --------
    >>> from simulator import run_scenario
    >>> result = run_scenario("vladivostok-2019", replications=100)  # doctest: +SKIP
    >>> result.legs[["from", "to", "median_h"]]                       # doctest: +SKIP
    >>> result.write("outputs/vladivostok")                           # doctest: +SKIP
    """

    def __init__(self, analysis: Analysis, *,
                 sensitivity: SensitivityResult | None = None) -> None:
        self.analysis = analysis
        #: Sobol indices of the arrival and leg times, when the run asked for them
        self.sensitivity = sensitivity

    def __repr__(self) -> str:
        hours = np.quantile(self.journey_hours, [0.05, 0.5, 0.95])
        return (f"<ScenarioResult {self.name}: {self.replications} replications, seed "
                f"{self.seed}; rail journey median {hours[1]:.1f} h (5–95 % {hours[0]:.1f}–"
                f"{hours[2]:.1f} h)>")

    def _repr_markdown_(self) -> str:
        return self.summary()

    # -- what was run -----------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The scenario that was simulated."""
        return self.analysis.prepared.scenario

    @property
    def prepared(self) -> Prepared:
        """The planned scenario: route, halts, speed profiles, journey plan."""
        return self.analysis.prepared

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.analysis.name

    @property
    def replications(self) -> int:
        """How many replications were run."""
        return self.analysis.mc.n

    @property
    def seed(self) -> int:
        """The master seed of the replications."""
        return self.analysis.mc.seed

    @property
    def warnings(self) -> list[str]:
        """What the planning noticed (missing rules, an electric locomotive on diesel track)."""
        return list(self.analysis.prepared.warnings)

    # -- tables -----------------------------------------------------------------------------
    @cached_property
    def route(self) -> gpd.GeoDataFrame:
        """The route, one row per segment with its line, country, gauge, speed limit, source
        (EPSG:4326; ``result.route.explore(column="country")`` maps it in a notebook)."""
        return self.analysis.prepared.route.to_geodataframe()

    @cached_property
    def timeline(self) -> pd.DataFrame:
        """One row per place and event (``timeline.csv``): median and 5–95 % times, local (as
        text with the zone) and UTC (as timestamps), and the reported time where there is one."""
        return _frame(timeline_rows(self.analysis))

    @cached_property
    def legs(self) -> pd.DataFrame:
        """One row per leg of the journey, stop to stop (and the road leg): the median
        departure and arrival, and the hours it takes (median, 5–95 %)."""
        return _frame(journey_legs(self.analysis))

    @cached_property
    def comparison(self) -> pd.DataFrame:
        """Each reported leg (measured, or a claim) against the simulated distribution
        (``comparison.csv``): hours reported and simulated, errors, whether the band overlaps."""
        return _frame([leg.row() for leg in self.analysis.comparisons], COMPARISON_COLUMNS)

    @cached_property
    def events(self) -> pd.DataFrame:
        """The events of the first replication, both trains (``events.csv``)."""
        return _frame(replication_events(self.analysis))

    @property
    def journey_hours(self) -> np.ndarray:
        """The rail journey time of each replication, hours (origin to the end of the rails)."""
        return np.asarray(self.analysis.mc.journey_s / 3600)

    @cached_property
    def breakdown(self) -> pd.Series:
        """What the median rail journey time is made of, hours: running at the speed profile,
        each kind of halt, and the rest (unplanned stops, waits for the pilot, night rules)."""
        return pd.Series(time_breakdown(self.analysis), name="hours")

    @cached_property
    def logistics(self) -> LogisticsReport:
        """The line occupation and the traction plan (``logistics.csv``, ``traction.csv``)."""
        return logistics_report(self.analysis)

    @cached_property
    def occupation(self) -> pd.DataFrame:
        """How long each section, line and country is closed to other trains
        (``logistics.csv``); empty when the run kept no pilot-train times."""
        occupation = self.logistics.occupation
        return _frame(occupation.rows() if occupation is not None else [])

    @cached_property
    def traction(self) -> pd.DataFrame:
        """The traction plan: each stretch's locomotives, running time, energy and fuel
        (``traction.csv``)."""
        return _frame([s.row() for s in self.logistics.stretches])

    def summary(self) -> str:
        """The run in Markdown (``summary.md``)."""
        return summary_text(self.analysis, logistics=self.logistics,
                            sensitivity=self.sensitivity)

    # -- charts -----------------------------------------------------------------------------
    def plot_timedistance(self, ax: Axes | None = None) -> Axes:
        """The string-line chart: km against time, simulated median and 5–95 % band, reported
        times with their sources. Draws on ``ax`` (new axes when not given)."""
        return plots.time_distance(self.analysis, _axes(ax, plots.TIME_DISTANCE_SIZE))

    def plot_comparison(self, ax: Axes | None = None) -> Axes:
        """Each reported leg against its simulated distribution. Draws on ``ax``."""
        size = plots.comparison_size(self.analysis.comparisons)
        return plots.comparison([self.analysis], _axes(ax, size))

    def plot_map(self, *, color_by: str = "country") -> Figure:
        """The static route map (``map.png``) as a figure of its own (``"country"`` or
        ``"speed"`` colours)."""
        prep = self.analysis.prepared
        return maps.route_figure(prep.route, color_by=color_by, title=prep.scenario.title)

    # -- files ------------------------------------------------------------------------------
    def write(self, out_dir: Path | str | None = None, *, replace: bool = False) -> Path:
        """Write every output file (``timeline.csv``, ``map.html``, ``summary.md``, ...) and
        ``manifest.json`` into ``out_dir`` (default: ``outputs/<name>`` in the current folder).

        The folder is replaced as a whole, and only if trainsim wrote it (or ``replace``);
        see :mod:`simulator._outdir`.

        Returns
        -------
        Path
            The folder written.

        Raises
        ------
        OutputError
            The folder holds a user's files (and not ``replace``), or cannot be written.
        """
        target = Path(out_dir) if out_dir is not None else settings.outputs_dir / self.name
        scenario = self.scenario
        with OutputFolder(target, replace=replace, option="out_dir",
                          inputs=[scenario.path, scenario.network]).claim() as folder:
            write_claimed(self, [folder])
        return folder.target


class ScenarioComparison:
    """Several scenarios simulated together (what :func:`~simulator.run.compare_scenarios`
    returns): the results of each and one comparison with the reported figures across them."""

    def __init__(self, results: Sequence[ScenarioResult]) -> None:
        self.results = list(results)

    def __repr__(self) -> str:
        return f"<ScenarioComparison of {', '.join(r.name for r in self.results)}>"

    def _repr_markdown_(self) -> str:
        return self.summary()

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Iterator[ScenarioResult]:
        return iter(self.results)

    def __getitem__(self, name: str) -> ScenarioResult:
        """The result of the scenario called ``name``."""
        for r in self.results:
            if r.name == name:
                return r
        msg = f"no scenario {name!r} here (have: {', '.join(r.name for r in self.results)})"
        raise KeyError(msg)

    @cached_property
    def comparison(self) -> pd.DataFrame:
        """Every reported leg of every scenario against the simulation (``comparison.csv``)."""
        return _frame([leg.row() for r in self.results for leg in r.analysis.comparisons],
                      COMPARISON_COLUMNS)

    def summary(self) -> str:
        """The comparison in Markdown, with the agreement of the measured legs."""
        analyses = [r.analysis for r in self.results]
        line = measured_summary(analyses)
        return comparison_markdown(analyses) + (f"\n{line}\n" if line else "")

    def plot(self, ax: Axes | None = None) -> Axes:
        """Each reported leg of each scenario against its simulated distribution."""
        analyses = [r.analysis for r in self.results]
        size = plots.comparison_size([leg for a in analyses for leg in a.comparisons])
        return plots.comparison(analyses, _axes(ax, size))

    def write(self, out_dir: Path | str | None = None, *, replace: bool = False) -> Path:
        """Write each scenario's outputs and the comparison (``comparison.png``,
        ``comparison.csv``, ``comparison.md``): into ``outputs/<name>`` and ``outputs/compare``
        by default, or into ``out_dir`` with a subfolder per scenario.

        Returns the comparison's folder; raises :class:`~simulator.errors.OutputError` as
        :meth:`ScenarioResult.write` does (before writing anything).
        """
        targets = comparison_folders([r.name for r in self.results],
                                     Path(out_dir) if out_dir is not None else None)
        with ExitStack() as stack:
            folders = claim_outputs(targets, replace=replace, option="out_dir", inputs=[
                p for r in self.results for p in (r.scenario.path, r.scenario.network)])
            for f in folders:
                stack.enter_context(f)
            write_claimed(self, folders)
        return folders[-1].target


def comparison_folders(names: Sequence[str], out_dir: Path | None) -> list[Path]:
    """Where a comparison goes: ``outputs/<name>`` per scenario and ``outputs/compare``; or,
    given ``out_dir``, that one folder (with a subfolder per scenario)."""
    if out_dir is not None:
        return [out_dir]
    return [*(settings.outputs_dir / name for name in names), settings.outputs_dir / "compare"]


def write_claimed(what: ScenarioResult | ScenarioComparison,
                  folders: Sequence[OutputFolder]) -> None:
    """Write a result (into one claimed folder) or a comparison (into the folders of
    :func:`comparison_folders`, claimed) and commit them with their manifests."""
    if isinstance(what, ScenarioResult):
        (folder,) = folders
        assert folder.path is not None
        write_run(what.analysis, folder.path, sensitivity=what.sensitivity)
        folder.commit(**manifest("run", [what.analysis]))
        return
    analyses = [r.analysis for r in what.results]
    comparison = folders[-1].path
    assert comparison is not None
    separate = len(folders) > 1
    for i, r in enumerate(what.results):
        path = folders[i].path if separate else comparison / r.name
        assert path is not None
        path.mkdir(exist_ok=True)
        write_run(r.analysis, path, sensitivity=r.sensitivity)
    write_comparison(analyses, comparison)
    if separate:
        for folder, a in zip(folders, analyses, strict=False):
            folder.commit(**manifest("run", [a]))
    folders[-1].commit(**manifest("compare", analyses))
