"""Charts: the railway string-line (time–distance) chart and reported-vs-simulated comparisons.

Each chart draws on a matplotlib ``Axes`` that the caller gives: a notebook's (pyplot's), or one
of :func:`new_axes`, a figure of its own outside pyplot (no global state, nothing to close, any
backend) that :func:`save` writes as PNG.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from simulator._io import atomic_path
from simulator.reports import Analysis, LegComparison
from simulator.routing import MarkKind

__all__ = ["TIME_DISTANCE_SIZE", "comparison", "comparison_size", "figure", "literal_text",
           "new_axes", "save", "save_figure", "subplots", "time_distance"]

#: figure size of the time–distance chart, inches
TIME_DISTANCE_SIZE = (11.0, 6.5)
DPI = 110

F = TypeVar("F", bound=Callable[..., Any])


def literal_text(fn: F) -> F:
    """Draw (and save) figures with text taken as given.

    Titles, sources and leg names come from scenario files: a "$" there is a dollar sign, not
    the start of TeX (matplotlib's mathtext would drop it from "$5 to $10", and fail on
    "$\\x$" after the whole simulation).
    """
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context({"text.parse_math": False}):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


class _CanvasDrawnOnSave(FigureCanvasAgg):
    """An Agg canvas that draws when the figure is saved or drawn, not when a layer is added.

    geopandas' ``plot`` asks for a redraw after every layer (``canvas.draw_idle()``, meant for
    an interactive window); an Agg canvas does it at once, so a map of seven layers was drawn
    seven times before being saved.
    """

    def draw_idle(self, *args: Any, **kwargs: Any) -> None:
        pass


def figure(figsize: tuple[float, float], *, dpi: float = DPI) -> Figure:
    """A figure that pyplot does not manage, on an Agg canvas (text can be measured on it)."""
    fig = Figure(figsize=figsize, dpi=dpi)
    _CanvasDrawnOnSave(fig)
    return fig


@literal_text
def new_axes(size: tuple[float, float]) -> Axes:
    """Axes on a new figure of ``size`` inches that pyplot does not manage."""
    return figure(size).subplots()


@literal_text
def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float],
             dpi: float = DPI, **kwargs: Any) -> tuple[Figure, Any]:
    """A figure that pyplot does not manage and its axes (``pyplot.subplots``' arguments)."""
    fig = figure(figsize, dpi=dpi)
    return fig, fig.subplots(nrows, ncols, **kwargs)


@literal_text
def save_figure(fig: Figure, path: Path) -> None:
    """Write a figure as a PNG (atomically), laid out tight."""
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def save(ax: Axes, path: Path) -> None:
    """Write the figure of ``ax`` as a PNG (atomically)."""
    fig = ax.get_figure()
    assert isinstance(fig, Figure)
    save_figure(fig, path)


def comparison_size(legs: Sequence[LegComparison]) -> tuple[float, float]:
    """Figure size for a comparison chart of ``legs``: a row per leg."""
    return 11.0, 1.2 + 0.55 * max(len(legs), 1)


@literal_text
def time_distance(result: Analysis, ax: Axes, *,
                  occupied: Sequence[tuple[float, float, float, float]] | None = None) -> Axes:
    """km against time: simulated median with its 5–95 % band; reported points with sources.

    ``occupied``: (km from, km to, closed, released) of each section (seconds after the plan's
    epoch), shaded as the windows the line is closed to other trains
    (:meth:`simulator.logistics.Occupation.windows`).
    """
    prep = result.prepared
    plan = prep.plan
    km = plan.km
    # each point twice (arrival, departure) so that halts show as flat steps
    kk = np.repeat(km, 2)
    levels = (0.05, 0.5, 0.95)
    q = np.empty((len(levels), 2 * len(km)))
    q[:, 0::2] = result.mc.quantiles(levels)
    q[:, 1::2] = result.mc.quantiles(levels, depart=True)
    epoch = plan.epoch.replace(tzinfo=None)  # matplotlib dates, in UTC

    def when(seconds: float | np.ndarray) -> np.ndarray:
        return np.datetime64(epoch) + (np.asarray(seconds) * 1000).astype("timedelta64[ms]")

    q05, q50, q95 = (when(row) for row in q)
    ax.fill_betweenx(kk, q05, q95, color="#5dade2", alpha=0.35, lw=0, label="simulated 5–95 %")
    if occupied:
        _shade_occupation(ax, occupied, when)
    ax.plot(q50, kk, color="#1b4f72", lw=1.8, label="simulated median", zorder=3)
    markers = ["o", "s", "D", "^", "v", "P", "X", "*"]
    for j, rt in enumerate(prep.scenario.reported.times):
        if prep.road_to and rt.at == prep.road_to:
            continue
        kmr = prep.reported_km.get(rt.id)
        if kmr is None:
            continue
        lo = (rt.time[0] - plan.epoch).total_seconds()
        hi = (rt.time[1] - plan.epoch).total_seconds()
        half = np.timedelta64(int((hi - lo) / 2 * 1000), "ms")
        label = f"{rt.at} ({rt.event}): " + "; ".join(rt.sources)
        if len(label) > 90:
            label = label[:88] + "…"
        ax.errorbar([when((lo + hi) / 2)], [kmr], xerr=[[half], [half]],
                    fmt=markers[j % len(markers)], color="#c0392b", ms=7, capsize=4,
                    label=label)
    for m in prep.itinerary.marks:
        if m.kind in (MarkKind.BORDER, MarkKind.GAUGE_CHANGE):
            ax.axhline(m.km, color="#8e44ad" if m.kind == MarkKind.BORDER else "#e67e22", lw=0.8,
                       ls=":")
            ax.text(ax.get_xlim()[0], m.km, f" {m.name} ({m.detail})", fontsize=7,
                    va="bottom", color="#555")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%H:%M"))
    ax.set_xlabel("time (UTC)")
    ax.set_ylabel("km from " + prep.itinerary.stops[0])
    ax.set_title(f"{prep.scenario.title}: time–distance ({result.mc.n} replications)",
                 fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", framealpha=0.9)
    return ax


def _shade_occupation(ax: Axes, occupied: Sequence[tuple[float, float, float, float]],
                      when: Callable[[float], np.ndarray]) -> None:
    """One rectangle per section: km range × the median window it is closed."""
    boxes = []
    for a, b, t0, t1 in occupied:
        x0, x1 = (float(mdates.date2num(when(t))) for t in (t0, t1))
        boxes.append([(x0, a), (x1, a), (x1, b), (x0, b)])
    ax.add_collection(PolyCollection(boxes, facecolors="#e67e22", edgecolors="none", alpha=0.4,
                                     zorder=2, label="line closed to other trains (median "
                                                     "window per section)"))
    ax.autoscale_view()


@literal_text
def comparison(results: Sequence[Analysis], ax: Axes) -> Axes:
    """Per reported leg: the reported range (or claim) against the simulated distribution."""
    legs = [leg for r in results for leg in r.comparisons]
    if not legs:
        ax.text(0.5, 0.5, "no reported figures to compare", ha="center", va="center")
        ax.set_axis_off()
        return ax
    for y, leg in enumerate(legs):
        lo, hi = leg.band_h
        parts = ax.violinplot([leg.sim_h], positions=[y], orientation="horizontal", widths=0.8,
                              showextrema=False)
        bodies: list[PolyCollection] = list(parts["bodies"])  # type: ignore[call-overload]
        for body in bodies:
            body.set_facecolor("#5dade2")
            body.set_alpha(0.45)
        ax.plot([lo, hi], [y, y], color="#1b4f72", lw=2)
        ax.plot([leg.median_h], [y], "|", color="#1b4f72", ms=14, mew=2)
        colour = "#c0392b" if leg.kind == "measured" else "#7f8c8d"
        r0, r1 = leg.reported_h
        if r1 - r0 > 1e-6:
            ax.plot([r0, r1], [y, y], color=colour, lw=7, alpha=0.6, solid_capstyle="butt")
        else:
            ax.plot([r0], [y], "D" if leg.kind == "measured" else "x", color=colour, ms=8,
                    mew=2)
    labels = [(f"{leg.scenario}: " if len(results) > 1 else "") + leg.leg +
              (" [claim]" if leg.kind == "claim" else "") for leg in legs]
    ax.set_yticks(range(len(legs)), labels, fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlabel("hours")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[
        Line2D([], [], color="#1b4f72", lw=2, label="simulated 5–95 % and median"),
        Line2D([], [], color="#c0392b", lw=7, alpha=0.6, label="reported (measured)"),
        Line2D([], [], color="#7f8c8d", marker="x", lw=0, mew=2, label="claim"),
    ], fontsize=8, loc="lower right")
    ax.set_title("Reported against simulated journey times", fontsize=11)
    return ax
