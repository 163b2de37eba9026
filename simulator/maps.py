"""Route maps: a static PNG for reports (matplotlib/geopandas) and an interactive HTML (folium)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from simulator import settings
from simulator._io import atomic_path
from simulator.routing import Route

__all__ = ["plot_route"]

OSM_CREDIT = "Rail data © OpenStreetMap contributors (ODbL); station tables: data/rail/README.md"
BASEMAP = settings.data_dir / "basemap" / "countries-50m.json"
COUNTRY_COLOURS = {"KP": "#c0392b", "CN": "#d4a017", "RU": "#2471a3", "VN": "#239b56", "?": "#777"}


def _countries() -> Any:
    import geopandas as gpd

    g = gpd.read_file(BASEMAP, layer="countries")
    return g.set_crs("EPSG:4326", allow_override=True)


def _scale_bar(ax: Any, lat: float, *, km: float) -> None:
    import math

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    deg = km / (111.32 * math.cos(math.radians(lat)))
    sx, sy = x0 + 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0)
    ax.plot([sx, sx + deg], [sy, sy], color="black", lw=3, solid_capstyle="butt")
    ax.text(sx + deg / 2, sy + 0.015 * (y1 - y0), f"{km:g} km", ha="center", fontsize=8)


def plot_route(route: Route, path: Path, *, color_by: str = "country", title: str = "") -> None:
    """Draw the route on country outlines and save it as PNG (atomically).

    Stretches of approximate geometry (station-table chords) are dashed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    xs = [c[0] for s in route.segments for c in s.coords]
    ys = [c[1] for s in route.segments for c in s.coords]
    pad = max(max(xs) - min(xs), max(ys) - min(ys)) * 0.08 + 0.3
    fig, ax = plt.subplots(figsize=(10, 9), dpi=110)
    _countries().plot(ax=ax, color="#f2efe9", edgecolor="#9a9a9a", linewidth=0.6)
    cmap = plt.get_cmap("viridis")
    for s in route.segments:
        lon = [c[0] for c in s.coords]
        lat = [c[1] for c in s.coords]
        colour: Any = COUNTRY_COLOURS.get(s.country, "#777")
        if color_by == "speed" and s.speed_limit:
            colour = cmap(min(s.speed_limit, 160) / 160)
        ax.plot(lon, lat, color=colour, lw=2.4, ls="--" if s.approximate else "-",
                solid_capstyle="round")
    for m in route.marks:
        if m.kind == "station":
            continue
        mx, my = route._coord_of(m.node)
        style = {"stop": ("o", "black", 6), "border": ("D", "#8e44ad", 6),
                 "gauge_change": ("s", "#e67e22", 7)}[m.kind]
        ax.plot(mx, my, marker=style[0], color=style[1], ms=style[2], zorder=5)
        label = m.name if m.kind != "gauge_change" else f"gauge change {m.detail}"
        ax.annotate(f"{label}\n{m.km:,.0f} km", (mx, my), xytext=(5, 4),
                    textcoords="offset points", fontsize=7.5, zorder=6,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "alpha": 0.75, "lw": 0})
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)
    ax.set_aspect(1 / max(0.2, math.cos(math.radians(sum(ys) / len(ys)))))
    span = (max(xs) - min(xs)) * 111 * 0.2
    _scale_bar(ax, sum(ys) / len(ys), km=float(f"{max(span, 10):.0g}"))
    handles = [Line2D([], [], color=c, lw=2.4, label=k) for k, c in COUNTRY_COLOURS.items()
               if any(s.country == k for s in route.segments)]
    handles.append(Line2D([], [], color="#555", lw=2, ls="--", label="approximate geometry"))
    ax.legend(handles=handles, loc="upper left", fontsize=8, framealpha=0.9)
    ax.set_title(title or f"{' → '.join(route.stops)} ({route.length_km:,.0f} km)", fontsize=11)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.text(0.01, 0.005, OSM_CREDIT + "; country outlines: Natural Earth", fontsize=7,
             color="#444")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
