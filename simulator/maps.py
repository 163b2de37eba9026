"""Route maps: a static PNG for reports (matplotlib/geopandas) and an interactive HTML (folium).

The PNG is drawn in a Lambert azimuthal equal-area projection centred on the route, with city
labels, a locator inset, a legend, a scale bar and a north arrow. The HTML page is one file that
works offline: Leaflet and the page's own script are inlined, online tiles (a light basemap,
OpenStreetMap, the OpenRailwayMap overlay) are used when they load, and the bundled Natural Earth
outlines with city labels when they do not.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import geopandas as gpd
import matplotlib
import matplotlib.patheffects as pe
import numpy as np
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib_scalebar.scalebar import ScaleBar
from pyproj import Transformer

from simulator import settings
from simulator._io import atomic_path
from simulator._mapdata import (
    COUNTRY_COLOURS,
    COUNTRY_NAMES,
    EVENT_LABELS,
    Place,
    cities,
    median_track,
    places,
    route_lines,
    short_cause,
    zone_label,
)
from simulator.plots import figure, literal_text
from simulator.reports import Analysis
from simulator.routing import MarkKind, Route

__all__ = ["COUNTRY_COLOURS", "encode_polyline", "plot_route", "route_figure", "write_html_map"]

BASEMAP_DIR = settings.data_dir / "basemap"
BASEMAP = BASEMAP_DIR / "countries-50m.json"
#: finer outlines for East Asia (scripts/build_basemap.py), with the region they cover
BASEMAP_ASIA = BASEMAP_DIR / "countries-10m-asia.geojson"
ASIA_REGION = (95.0, 15.0, 145.0, 58.0)
CREDIT = ("Rail data © OpenStreetMap contributors (ODbL) · outlines: Natural Earth · "
          "cities: GeoNames (CC BY 4.0)")
_CORNER_NAMES: dict[str, Any] = {"ll": "lower left", "lr": "lower right", "ul": "upper left",
                 "ur": "upper right"}
_INSET_AT = {"ll": (0.015, 0.015), "lr": (0.745, 0.015), "ul": (0.015, 0.745),
             "ur": (0.745, 0.745)}
#: city labels on the static map at most
MAX_CITIES = 18
_MARKS = {MarkKind.STOP: ("o", "#111111", 7.5), MarkKind.BORDER: ("D", "#7d3c98", 6.5),
          MarkKind.GAUGE_CHANGE: ("s", "#e67e22", 7.0)}


@cache
def _outline_file(path: Path) -> gpd.GeoDataFrame:
    g = gpd.read_file(path, layer="countries") if path.suffix == ".json" else gpd.read_file(path)
    g = g.set_crs("EPSG:4326", allow_override=True)
    # Russia and Fiji have rings that cross the antimeridian (their longitudes jump from 180 to
    # -180 and back): continue them past 180 instead, then repair what is left invalid
    g["geometry"] = shapely.make_valid(np.array([_unwrap(geom) for geom in g.geometry.values]))
    return g


def _unwrap(geom: shapely.Geometry) -> shapely.Geometry:
    def east(xy: np.ndarray) -> np.ndarray:
        return np.where(xy[:, :1] < 0, xy + np.array([360.0, 0.0]), xy)

    parts = list(shapely.get_parts(geom))
    fixed = []
    for part in parts:
        w, s, e, _n = part.bounds
        if e - w > 180 and s > -60:  # Antarctica really spans every longitude
            part = shapely.transform(part, east)
        fixed.append(part)
    return shapely.MultiPolygon(fixed) if len(fixed) > 1 else fixed[0]


def _countries(bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
    """Country outlines (GeoDataFrame, EPSG:4326), the 1:10m East Asia file where it covers
    ``bbox`` (west, south, east, north), else the 1:50m world."""
    w, s, e, n = ASIA_REGION
    if bbox is not None and BASEMAP_ASIA.exists() and (
            w <= bbox[0] and s <= bbox[1] and bbox[2] <= e and bbox[3] <= n):
        g = _outline_file(BASEMAP_ASIA)
    else:
        g = _outline_file(BASEMAP)
    return g.copy() if bbox is None else g.clip(bbox)


def _route_bbox(route: Route) -> tuple[float, float, float, float]:
    xy = np.concatenate([np.asarray(s.coords) for s in route.segments])
    return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()),
            float(xy[:, 1].max()))


def _padded(bbox: tuple[float, float, float, float], frac: float,
            minimum: float) -> tuple[float, float, float, float]:
    w, s, e, n = bbox
    pad = max(max(e - w, n - s) * frac, minimum)
    return (max(w - pad, -180.0), max(s - pad, -89.0), min(e + pad, 180.0), min(n + pad, 89.0))


# ----------------------------------------------------------------------------------------------
# static map
# ----------------------------------------------------------------------------------------------
@literal_text
def plot_route(route: Route, path: Path, *, color_by: str = "country", title: str = "") -> None:
    """Draw the route on a map and save it as PNG (atomically).

    Parameters
    ----------
    route
        The route to draw.
    path
        Where the PNG goes.
    color_by
        ``"country"`` (one colour per country) or ``"speed"`` (the speed limit of the track).
    title
        The map's title; by default the stops.

    Stretches of approximate geometry (station-table chords) are dashed.
    """
    fig = route_figure(route, color_by=color_by, title=title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


@literal_text
def route_figure(route: Route, *, color_by: str = "country", title: str = "") -> Figure:
    """The static route map as a matplotlib Figure (what :func:`plot_route` saves).

    The figure is not managed by pyplot (nothing to close; in a notebook, display it as the
    value of a cell). See :func:`plot_route` for the parameters.
    """
    bbox = _route_bbox(route)
    lon0, lat0 = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    crs = f"+proj=laea +lat_0={lat0:.3f} +lon_0={lon0:.3f} +datum=WGS84 +units=m +no_defs"
    halo = [pe.withStroke(linewidth=3, foreground="white")]

    lines = route_lines(route, tolerance_deg=0.001)
    geo = gpd.GeoDataFrame(
        [{"country": ln.country, "approximate": ln.approximate, "colour": ln.colour,
          "geometry": shapely.MultiLineString([p for p in ln.parts if len(p) > 1])}
         for ln in lines], crs="EPSG:4326").to_crs(crs)
    xmin, ymin, xmax, ymax = geo.total_bounds
    fig = figure((7.5, 8.2), dpi=160)  # the label placement measures text on its canvas
    # room below the map for the credits, the scale bar (and the speed colour bar)
    bottom = 0.15 if color_by == "speed" else 0.085
    ax = fig.add_axes((0.02, bottom, 0.96, 0.91 - bottom))
    # the view: the route with a margin, widened to the axes' shape
    box_w, box_h = ax.get_position().width * 7.5, ax.get_position().height * 8.2
    span = max(xmax - xmin, (ymax - ymin) * box_w / box_h, 60_000.0)
    span_y = span * box_h / box_w
    if span_y < (ymax - ymin):
        span_y = ymax - ymin
        span = span_y * box_w / box_h
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    view = (cx - span * 0.56, cy - span_y * 0.56, cx + span * 0.56, cy + span_y * 0.56)
    ax.set_xlim(view[0], view[2])
    ax.set_ylim(view[1], view[3])
    ax.set_aspect("equal")
    ax.set_facecolor("#d9e7f0")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#777")
    view_ll = _bounds_ll(view, crs)
    land = _countries(_padded(tuple(view_ll), 0.1, 1.0)).to_crs(crs)
    land.plot(ax=ax, color="#f6f4ef", edgecolor="#a0a0a0", linewidth=0.6, zorder=1)
    _graticule(ax, crs, view_ll)

    # the route
    cmap = matplotlib.colormaps["viridis"]
    if color_by == "speed":
        segs = gpd.GeoDataFrame(
            [{"speed": s.speed_limit or np.nan, "approximate": s.approximate,
              "geometry": shapely.LineString(np.asarray(s.coords, dtype=float))}
             for s in route.segments
             if len(s.coords) > 1], crs="EPSG:4326").to_crs(crs)
        segs.plot(ax=ax, color="white", linewidth=5, zorder=3)
        known = segs[segs["speed"].notna()]
        if len(known):
            known.plot(ax=ax, column="speed", cmap=cmap, vmin=0, vmax=160, linewidth=3,
                       zorder=4)
        segs[segs["speed"].isna()].plot(ax=ax, color="#999", linewidth=3, zorder=4)
        sm = matplotlib.cm.ScalarMappable(cmap=cmap, norm=Normalize(0, 160))
        cb = fig.colorbar(sm, cax=fig.add_axes((0.02, 0.118, 0.42, 0.012)),
                          orientation="horizontal")
        cb.set_label("speed limit of the track, km/h (grey: not tagged)", fontsize=8,
                     labelpad=2)
        cb.ax.tick_params(labelsize=7)
    else:
        geo.plot(ax=ax, color="white", linewidth=5.5, zorder=3)
        for approximate, part in geo.groupby("approximate"):
            if approximate:  # dashes over a thin line: approximate, but still one track
                part.plot(ax=ax, color=part["colour"].tolist(), linewidth=1.2, zorder=4)
            part.plot(ax=ax, color=part["colour"].tolist(), linewidth=3.2, zorder=4,
                      linestyle=(0, (4, 2.5)) if approximate else "-")

    # furniture first (legend, inset, scale bar, north arrow in the emptiest corners), then the
    # labels of stops, borders and gauge changes, country names, and cities where there is room
    corners = _free_corners(geo, view)
    handles: list[Any] = []
    if color_by != "speed":
        handles += [Line2D([], [], color=COUNTRY_COLOURS.get(c, "#777"), lw=3,
                           label=COUNTRY_NAMES.get(c, c))
                    for c in dict.fromkeys(s.country for s in route.segments)]
    if any(s.approximate for s in route.segments):
        handles.append(Line2D([], [], color="#555", lw=2.5, ls=(0, (4, 2.5)),
                              label="approximate track"))
    for kind, label in ((MarkKind.STOP, "stop"), (MarkKind.BORDER, "border crossing"),
                        (MarkKind.GAUGE_CHANGE, "gauge change")):
        if route.marks_of(kind):
            shape, colour, size = _MARKS[kind]
            handles.append(Line2D([], [], ls="", marker=shape, color=colour, ms=size - 1,
                                  mec="white", label=label))
    city = Line2D([], [], ls="", marker="o", color="#777", ms=3, label="city")
    handles.append(city)
    legend = ax.legend(handles=handles, loc=_CORNER_NAMES[corners[1]], fontsize=8,
                       framealpha=0.92, edgecolor="#999", borderpad=0.6)
    inset = _locator(ax, corners[0], view, crs)
    # scale bar and north arrow below the map, right of the credits: they never hide the route
    ax.add_artist(ScaleBar(1, "m", location="upper right", length_fraction=0.2,
                           frameon=False, font_properties={"size": 8}, border_pad=0.2,
                           bbox_to_anchor=(0.93, -0.005), bbox_transform=ax.transAxes))
    ax.annotate("", xy=(0.975, -0.04), xytext=(0.975, -0.075), xycoords="axes fraction",
                annotation_clip=False,
                arrowprops={"arrowstyle": "-|>", "color": "#222", "lw": 1.4, "shrinkA": 0,
                            "shrinkB": 0})
    ax.text(0.975, -0.035, "N", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=9, weight="bold")
    assert isinstance(fig.canvas, FigureCanvasAgg)
    renderer = fig.canvas.get_renderer()
    inset.apply_aspect()  # its final place: an equal-aspect inset shrinks inside its box
    inset_box = inset.get_tightbbox(renderer)
    assert inset_box is not None
    labels: list[Any] = [legend.get_window_extent(renderer), inset_box.expanded(1.03, 1.03)]
    ax.apply_aspect()
    # what a label should not cover: the route, the markers and the city dots (a label over
    # another city's dot reads as that city's name)
    free = _Clearance(ax, fig.dpi, geo.geometry)
    to_xy = _projector(crs)
    stops_xy: list[tuple[float, float]] = []
    marks = sorted((m for m in route.marks if m.kind in _MARKS),
                   key=lambda m: list(_MARKS).index(m.kind))
    for m in marks:
        mx, my = to_xy(*route._coord_of(m.node))
        free.add_marker(mx, my, _MARKS[m.kind][2])
    for m in marks:
        lon, lat = route._coord_of(m.node)
        x, y = to_xy(lon, lat)
        shape, colour, size = _MARKS[m.kind]
        ax.plot(x, y, marker=shape, color=colour, ms=size, mec="white", mew=1.3,
                zorder=6 if m.kind == MarkKind.STOP else 6.5)
        if m.kind == MarkKind.STOP:
            stops_xy.append((x, y))
            text = f"{m.name}\n{m.km:,.0f} km"
            weight, size_pt = "bold", 9.0
        elif m.kind == MarkKind.BORDER:
            text, weight, size_pt = m.name, "normal", 7.5
        else:
            text, weight, size_pt = "gauge change", "normal", 7.5
        # clear of the route and the markers if possible, else of the markers, else of the
        # other labels only
        for clear, over_route in ((free, False), (free, True), (None, False)):
            if _place_label(ax, renderer, labels, x, y, text, fontsize=size_pt, weight=weight,
                            effects=halo, clear=clear, over_route=over_route,
                            force=clear is None and m.kind == MarkKind.STOP):
                break
    _country_names(ax, renderer, labels, land, view)
    route_xy = np.concatenate([np.asarray(p.coords) for g in geo.geometry for p in g.geoms])
    shown = 0
    for name, _cc, lat, lon, _pop, capital in _city_order(cities(tuple(view_ll)), to_xy,
                                                          route_xy, span):
        x, y = to_xy(lon, lat)
        if not (view[0] < x < view[2] and view[1] < y < view[3]):
            continue
        if any(math.hypot(x - sx, y - sy) < span * 0.02 for sx, sy in stops_xy):
            continue  # a stop there is labelled already
        if shown >= MAX_CITIES:
            break
        dot = 4.5 if capital else 3.0
        if not free.dot_is_free(x, y, dot, labels):
            continue  # its dot would lie under a label or on the route's markers
        placed = any(_place_label(ax, renderer, labels, x, y, name,
                                  fontsize=8 if capital else 7.5,
                                  weight="bold" if capital else "normal", effects=halo,
                                  colour="#444", zorder=5, clear=free, over_route=over_route)
                     for over_route in (False, True))
        if placed:
            shown += 1
            free.add_marker(x, y, dot)
            ax.plot(x, y, marker="s" if capital else "o", color="#555" if capital else "#777",
                    mfc="white" if capital else "#777", ms=4.5 if capital else 3, mew=1.2,
                    zorder=5)
    if not shown:  # no city labelled: none in the legend either (it only shrinks)
        handles.remove(city)
        legend.remove()
        ax.legend(handles=handles, loc=_CORNER_NAMES[corners[1]], fontsize=8,
                  framealpha=0.92, edgecolor="#999", borderpad=0.6)

    fig.text(0.02, 0.965, title or " → ".join(route.stops), fontsize=13, weight="bold",
             va="top")
    fig.text(0.02, 0.928, f"{' → '.join(route.stops)} · {route.length_km:,.0f} km by rail",
             fontsize=9, color="#333", va="top")
    fig.text(0.02, 0.067, "Rail data © OpenStreetMap contributors (ODbL). Outlines: Natural "
             "Earth. Cities: GeoNames (CC BY 4.0).\nLambert azimuthal equal-area projection "
             "centred on the route. Map: trainsim.", fontsize=7, color="#444", va="top",
             linespacing=1.5)
    ax.set_xlabel("")
    ax.set_ylabel("")
    return fig


def _bounds_ll(box: tuple[float, float, float, float], crs: str) -> np.ndarray:
    """Longitude/latitude bounds of a projected box (its edges are curves in degrees)."""
    edge = shapely.segmentize(shapely.box(*box), max(box[2] - box[0], box[3] - box[1]) / 40)
    return gpd.GeoSeries([edge], crs=crs).to_crs("EPSG:4326").total_bounds


def _projector(crs: str) -> Callable[[float, float], tuple[float, float]]:
    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)

    def to_xy(lon: float, lat: float) -> tuple[float, float]:
        x, y = t.transform(lon, lat)
        return float(x), float(y)

    return to_xy


class _Clearance:
    """The route and the markers on a map, in display units, for labels to keep clear of."""

    def __init__(self, ax: Axes, dpi: float, route_lines: gpd.GeoSeries) -> None:
        self.ax = ax
        self.dpi = dpi
        to_display = ax.transData.transform
        parts = [shapely.LineString(to_display(np.asarray(part.coords)))
                 for geom in route_lines for part in shapely.get_parts(geom)
                 if len(part.coords) > 1]
        # the route is drawn 5.5 pt wide with its white casing
        self.route = shapely.MultiLineString(parts).buffer(5.5 / 2 * dpi / 72)
        shapely.prepare(self.route)
        self.markers: list[tuple[float, float, float]] = []  # x, y, radius (display units)

    def add_marker(self, x: float, y: float, size_pt: float) -> None:
        px, py = self.ax.transData.transform((x, y))
        self.markers.append((float(px), float(py), size_pt / 2 * self.dpi / 72))

    def box_is_free(self, box: Any, *, own: tuple[float, float], route: bool = True) -> bool:
        """Whether a label's box keeps clear of the markers but its own (and of the route)."""
        if route and self.route.intersects(shapely.box(box.x0, box.y0, box.x1, box.y1)):
            return False
        ox, oy = self.ax.transData.transform(own)
        return not any(box.x0 - r < mx < box.x1 + r and box.y0 - r < my < box.y1 + r
                       for mx, my, r in self.markers if math.hypot(mx - ox, my - oy) > 0.5)

    def dot_is_free(self, x: float, y: float, size_pt: float, labels: list[Any]) -> bool:
        px, py = self.ax.transData.transform((x, y))
        r = size_pt / 2 * self.dpi / 72
        if any(b.x0 - r < px < b.x1 + r and b.y0 - r < py < b.y1 + r for b in labels):
            return False
        return not any(math.hypot(px - mx, py - my) < r + mr for mx, my, mr in self.markers)


def _place_label(ax: Axes, renderer: Any, placed: list[Any], x: float, y: float, text: str, *,
                 fontsize: float, weight: str, effects: list[Any], colour: str = "#111",
                 zorder: int = 7, force: bool = False, clear: _Clearance | None = None,
                 over_route: bool = False) -> bool:
    """Put a label beside (x, y) where it overlaps no label already placed: right, left, above,
    below. With ``clear`` it must also keep clear of every marker but its own, and of the route
    unless ``over_route``. With ``force`` it goes right even when nothing is free (stops are
    always labelled)."""
    tries = [((6, 0), "left", "center"), ((-6, 0), "right", "center"),
             ((0, 6), "center", "bottom"), ((0, -6), "center", "top"),
             ((5, 5), "left", "bottom"), ((5, -5), "left", "top")]
    axes_box = ax.get_window_extent(renderer)
    for k, (offset, ha, va) in enumerate(tries):
        t = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", ha=ha, va=va,
                        fontsize=fontsize, weight=weight, color=colour, zorder=zorder,
                        path_effects=effects, linespacing=1.05)
        box = t.get_window_extent(renderer).expanded(1.04, 1.08)
        inside = (axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and axes_box.y0 <= box.y0
                  and box.y1 <= axes_box.y1)
        if inside and not any(box.overlaps(b) for b in placed) and (
                clear is None or clear.box_is_free(box, own=(x, y), route=not over_route)):
            placed.append(box)
            return True
        if force and k == len(tries) - 1:
            t.remove()
            t = ax.annotate(text, (x, y), xytext=(6, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=fontsize, weight=weight,
                            color=colour, zorder=zorder, path_effects=effects,
                            linespacing=1.05)
            placed.append(t.get_window_extent(renderer))
            return True
        t.remove()
    return False


def _country_names(ax: Axes, renderer: Any, placed: list[Any], land: gpd.GeoDataFrame,
                   view: tuple[float, float, float, float]) -> None:
    """Names of the countries that fill a good part of the map, where they fit."""
    frame = shapely.box(*view)
    area = frame.area
    for _, row in land.iterrows():
        shape = row.geometry.intersection(frame)
        if shape.is_empty or shape.area < 0.04 * area:
            continue
        if isinstance(shape, shapely.MultiPolygon | shapely.GeometryCollection):
            shape = max((g for g in shape.geoms if g.area > 0), key=lambda g: g.area)
        p = shape.representative_point()
        t = ax.text(p.x, p.y, str(row["name"]).upper(), fontsize=10, color="#b3aca0",
                    ha="center", va="center", zorder=2, weight="bold")
        box = t.get_window_extent(renderer)
        frame_box = ax.get_window_extent(renderer)
        inside = frame_box.x0 < box.x0 and box.x1 < frame_box.x1
        if not inside or any(box.overlaps(b) for b in placed):
            t.remove()
        else:
            placed.append(box)


def _city_order(candidates: list[Any], to_xy: Callable[[float, float], tuple[float, float]],
                route_xy: np.ndarray,
                span: float) -> list[Any]:
    """Cities worth a label first: capitals and big cities near the route, then big ones."""
    def key(c: Any) -> tuple[int, float]:
        x, y = to_xy(c[3], c[2])
        d = float(np.min(np.hypot(route_xy[:, 0] - x, route_xy[:, 1] - y)))
        near = d < span * 0.08
        tier = 0 if c[5] else 1 if near and c[4] >= 300_000 else 2 if c[4] >= 2_000_000 \
            else 3 if near else 4
        return tier, -c[4]

    return sorted(candidates, key=key)


def _graticule(ax: Axes, crs: str, view_ll: np.ndarray) -> None:
    t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    w, s, e, n = view_ll
    step = 5 if max(e - w, n - s) > 8 else 1
    for lon in np.arange(math.floor(w / step) * step, e + step, step):
        lat = np.linspace(s - 1, n + 1, 60)
        x, y = t.transform(np.full_like(lat, lon), lat)
        ax.plot(x, y, color="#c9d6de", lw=0.5, zorder=0.5)
    for lat in np.arange(math.floor(s / step) * step, n + step, step):
        lon = np.linspace(w - 1, e + 1, 60)
        x, y = t.transform(lon, np.full_like(lon, lat))
        ax.plot(x, y, color="#c9d6de", lw=0.5, zorder=0.5)
    ax.set_xlim(*ax.get_xlim())


def _free_corners(geo: gpd.GeoDataFrame, view: tuple[float, float, float, float]) -> list[str]:
    """Corners of the map ordered from the emptiest (least route inside) to the fullest."""
    xs: list[float] = []
    ys: list[float] = []
    for geom in geo.geometry:
        for part in geom.geoms:
            c = np.asarray(part.coords)
            xs.extend(c[:, 0])
            ys.extend(c[:, 1])
    x = (np.asarray(xs) - view[0]) / (view[2] - view[0])
    y = (np.asarray(ys) - view[1]) / (view[3] - view[1])
    boxes = {"ll": (x < 0.38) & (y < 0.3), "lr": (x > 0.62) & (y < 0.3),
             "ul": (x < 0.38) & (y > 0.7), "ur": (x > 0.62) & (y > 0.7)}
    return sorted(boxes, key=lambda k: (int(boxes[k].sum()), "ulurllr".find(k)))


def _locator(ax: Axes, corner: str, view: tuple[float, float, float, float], crs: str) -> Axes:
    """A small map of the wider region with the main map's extent outlined."""
    w, s, e, n = view
    cx, cy = (w + e) / 2, (s + n) / 2
    half = max(e - w, n - s) * 1.6 + 1_500_000
    region = (cx - half, cy - half, cx + half, cy + half)
    region_ll = _bounds_ll(region, crs)
    pos = _INSET_AT[corner]
    inset = ax.inset_axes((pos[0], pos[1], 0.24, 0.24))
    world = _countries(None)
    bounds = _padded(tuple(region_ll), 0.05, 2.0)
    inset.set_facecolor("#d9e7f0")
    world.clip(bounds).to_crs(crs).plot(ax=inset, color="#ece8df", edgecolor="none")
    # outlines cut from the whole countries' boundaries: no clip edges, no antimeridian seams
    # (either would show as lines running to the pole)
    edges = shapely.intersection(shapely.boundary(world.geometry.values), shapely.box(
        max(bounds[0], -179.9), max(bounds[1], -88.0), min(bounds[2], 179.9),
        min(bounds[3], 88.0)))
    gpd.GeoSeries(edges, crs="EPSG:4326").to_crs(crs).plot(ax=inset, color="#9a9a9a",
                                                          linewidth=0.3)
    inset.add_patch(Rectangle((w, s), e - w, n - s, fill=False, edgecolor="#c0392b",
                              linewidth=1.4, zorder=5))
    inset.set_xlim(region[0], region[2])
    inset.set_ylim(region[1], region[3])
    inset.set_aspect("equal")
    inset.set_xticks([])
    inset.set_yticks([])
    inset.set_xlabel("")
    inset.set_ylabel("")
    for spine in inset.spines.values():
        spine.set_color("#555")
        spine.set_linewidth(0.8)
    return inset


# ----------------------------------------------------------------------------------------------
# interactive map
# ----------------------------------------------------------------------------------------------
_WEB = Path(__file__).parent / "web"
_JS = ["leaflet.js", "trainsim-map.js"]
_CSS = ["leaflet.css", "trainsim-map.css"]
_RANK = {"stop": 5, "border": 4, "halt": 3, "reported": 2, "pass": 1}
_SIZE = {"stop": 16, "border": 13, "halt": 13, "reported": 13, "pass": 11}
OFFLINE_NAME = "Offline outlines (Natural Earth)"
#: city labels a page carries at most (largest first)
MAX_PAGE_CITIES = 400


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _css(name: str) -> str:
    text = (_WEB / name).read_text(encoding="utf-8")
    # the images the stylesheets point to, as data URIs (no network, no files)
    return re.sub(r"url\(images/([\w.-]+)\)",
                  lambda m: f"url({_data_uri(_WEB / 'images' / m[1], 'image/png')})", text)


def _inline_assets() -> str:
    """The map's JavaScript and CSS, inlined so that the page works offline (see web/README.md)."""
    parts = [f"<style>{_css(name)}</style>" for name in _CSS]
    parts += [f"<script>{(_WEB / name).read_text(encoding='utf-8')}</script>" for name in _JS]
    return "\n".join(parts)


def _tiles() -> list[dict[str, Any]]:
    """Online tile layers: the light basemap first (the default), then OpenStreetMap, then the
    OpenRailwayMap overlay. URLs and credits come from xyzservices."""
    import xyzservices.providers as xyz  # its catalogue takes a tenth of a second to load
    def layer(p: Any, *, max_native: int | None = None, url: str | None = None) -> dict[str, Any]:
        options: dict[str, Any] = {"attribution": p.html_attribution, "maxZoom": 19}
        if max_native or p.get("max_zoom"):
            options["maxNativeZoom"] = max_native or p.get("max_zoom")
        if "{s}" in p.url:
            options["subdomains"] = p.get("subdomains", "abc")
        return {"url": url or p.build_url(fill_subdomain=False, scale_factor=""),
                "options": options}

    grey = xyz.Esri.WorldGrayCanvas
    labels = grey.build_url(fill_subdomain=False, scale_factor="").replace(
        "World_Light_Gray_Base", "World_Light_Gray_Reference")
    return [
        {"name": "Light grey (Esri)",
         "layers": [layer(grey), layer(grey, url=labels)]},
        {"name": "OpenStreetMap", "layers": [layer(xyz.OpenStreetMap.Mapnik)]},
        {"name": "OpenRailwayMap (railway lines)", "overlay": True,
         "layers": [layer(xyz.OpenRailwayMap)]},
    ]


def _when(row: dict[str, Any], key: str) -> str:
    """``Tue 12 Sep 2023, 04:45`` from a timeline row's ``…_local`` text."""
    dt = datetime.strptime(row[key][:16], "%Y-%m-%d %H:%M")
    return f"{dt:%a} {dt.day} {dt:%b} {dt.year}, {dt:%H:%M}"


def _short(row: dict[str, Any], key: str) -> str:
    dt = datetime.strptime(row[key][:16], "%Y-%m-%d %H:%M")
    return f"{dt.day} {dt:%b} {dt:%H:%M}"


def _popup(place: Place) -> str:
    others = [n for n in place.names if n != place.name]
    head = f"<b>{escape(place.name)}</b><div class='ts-sub'>" + (
        f"also: {escape(', '.join(others))} · " if others else "") + f"km {place.km:,.1f}</div>"
    rows = []
    events = place.events()
    stops_here = place.km > 0 and any(
        r["event"] in ("depart", "gauge_change", "locomotive_change", "ceremony", "stop", "border")
        for r in events)
    for r in events:
        label = EVENT_LABELS.get(r["event"], r["event"].replace("_", " "))
        if r["event"] == "pass" and stops_here:
            label = "arrives"
        if r["event"] in ("border", "gauge_change", "locomotive_change", "ceremony", "stop"):
            label += " (starts)" if r["detail"] and r["event"] != "border" else ""
        what = escape(label) + (f"<div class='ts-sub'>{escape(r['place'])}</div>"
                                if others and r["place"] != place.name else "")
        zone = r["median_local"][17:]
        cell = (f"{_when(r, 'median_local')} <span class='ts-zone'>{escape(zone)} · "
                f"{r['median_utc'][11:16]} UTC</span><div class='ts-band'>5–95 %: "
                f"{_short(r, 'p05_local')} – {_short(r, 'p95_local')}</div>")
        cause = short_cause(r["detail"]) if r["detail"] else ""
        if cause and r["event"] not in ("pass", "arrive", "depart") and cause != r["event"]:
            cell += f"<div class='ts-cause'>{escape(cause)}</div>"
        rows.append(f"<tr><td>{what}</td><td>{cell}</td></tr>")
    for rep in place.reported:
        rows.append(f"<tr><td>reported</td><td class='ts-rep'>{escape(rep)}</td></tr>")
    return (f"<div class='ts-popup'>{head}<table>{''.join(rows)}</table>"
            "<div class='ts-band'>simulated median and 5–95 % band; local time</div></div>")


def _utc_seconds(text: str) -> int:
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(
        tzinfo=ZoneInfo("UTC")).timestamp())


def _legend(result: Analysis, countries: list[str], approximate: bool,
            categories: set[str]) -> str:
    items = [f"<li><span class='ts-key'><span class='ts-line' style='border-top-color:"
             f"{COUNTRY_COLOURS.get(c, '#777')}'></span></span>"
             f"{escape(COUNTRY_NAMES.get(c, c))}</li>" for c in countries]
    if approximate:
        items.append("<li><span class='ts-key'><span class='ts-line ts-dashed'></span></span>"
                     "approximate track (straight between listed stations)</li>")
    items.append("<li><span class='ts-key'><span class='ts-train ts-train-key' "
                 "style='width:24px;height:24px'></span></span>the train: median of "
                 f"{result.mc.n:,} simulated runs (white while halted)</li>")
    keys = [("stop", "stop"), ("border", "border crossing"),
            ("halt", "halt: gauge or locomotive change, ceremony")]
    for cat, text in keys:
        if cat in categories:
            items.append(f"<li><span class='ts-key'><span class='ts-place ts-{cat}'></span>"
                         f"</span>{text}</li>")
    items.append("<li><span class='ts-key'><span class='ts-place ts-reported'></span></span>"
                 "pink ring: reported time</li>")
    items.append("<li><span class='ts-key'><span class='ts-dot'></span></span>station "
                 "(zoom in)</li>")
    return "<summary>Legend</summary><ul>" + "".join(items) + "</ul>"


def _rounded(values: Any, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def encode_polyline(lat_lon: Any, *, digits: int) -> str:
    """A line as an encoded polyline (Google's algorithm: delta-coded, base-64 text).

    Four to six times smaller than the same coordinates in JSON; ``trainsim-map.js`` decodes
    it. Written here because the algorithm is a dozen lines and the page needs the decoder
    anyway.
    """
    ints = np.round(np.asarray(lat_lon, dtype=float) * 10 ** digits).astype(np.int64)
    deltas = np.diff(ints, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()
    out: list[str] = []
    for d in deltas.tolist():
        v = ~(d << 1) if d < 0 else d << 1
        while v >= 0x20:
            out.append(chr((0x20 | (v & 0x1F)) + 63))
            v >>= 5
        out.append(chr(v + 63))
    return "".join(out)


def _rings(geom: Any) -> list[list[str]]:
    """Polygons as lists of encoded rings (outer ring first)."""
    # exterior rings counter-clockwise, holes clockwise: the page fills with the non-zero rule,
    # so that the fine and coarse fills may overlap without cancelling out
    polys = [shapely.orient_polygons(g) for g in shapely.get_parts(geom)
             if g.geom_type == "Polygon" and not g.is_empty]
    return [[encode_polyline(np.asarray(r.coords)[:, ::-1], digits=3)
             for r in (p.exterior, *p.interiors)] for p in polys]


def _lines(geom: Any) -> list[str]:
    parts = [g for g in shapely.get_parts(shapely.line_merge(geom) if geom.geom_type in (
        "MultiLineString", "LineString") else geom) if g.geom_type in ("LineString", "LinearRing")]
    return [encode_polyline(np.asarray(g.coords)[:, ::-1], digits=3) for g in parts
            if len(g.coords) > 1]


def _outlines(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """Country outlines for the offline base layer: fine inside ``bbox``, coarse around it.

    Fills and boundary lines are kept apart so that the seam between the fine and the coarse
    part is never stroked (no box around the route); polygons as encoded rings.
    """
    extent = max(bbox[2] - bbox[0], bbox[3] - bbox[1])
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    wide = (cx - max(extent * 2.5, 40.0), max(cy - max(extent * 1.5, 25.0), -85.0),
            cx + max(extent * 2.5, 40.0), min(cy + max(extent * 1.5, 25.0), 85.0))
    # fine and coarse fills overlap a little at the seam; lines stop short of the clip edges
    inner = shapely.box(*bbox).buffer(-0.05, join_style="mitre")
    wide_inner = shapely.box(*wide).buffer(-0.05, join_style="mitre")
    fine = _countries(bbox)
    fine_geom = shapely.make_valid(shapely.simplify(fine.geometry.values,
                                                    max(0.006, extent / 2000)))
    coarse = _countries(None).clip(wide)
    coarse_geom = shapely.make_valid(shapely.simplify(coarse.geometry.values, 0.05))
    fills: list[list[str]] = []
    lines: list[str] = []
    for geom in coarse_geom:
        if geom is None or geom.is_empty:
            continue
        fills += _rings(shapely.difference(geom, inner))
        lines += _lines(shapely.intersection(shapely.difference(shapely.boundary(geom), inner),
                                             wide_inner))
    for geom in fine_geom:
        if geom is None or geom.is_empty:
            continue
        fills += _rings(geom)
        lines += _lines(shapely.intersection(shapely.boundary(geom), inner))
    return {"fill": fills, "line": lines}


def _min_city(view: tuple[float, float, float, float]) -> int:
    """Smallest city worth a label on a page of this extent (the page shows more when zoomed)."""
    extent = max(view[2] - view[0], view[3] - view[1])
    return 100_000 if extent > 6 else 0


def write_html_map(result: Analysis, path: Path, *, extra_script: str = "") -> None:
    """Interactive map of a simulated journey, as one self-contained HTML file.

    The route (one line per country and line), the stops with permanent labels, border
    crossings, halts and reported points (events at one spot share one popup), the stations
    passed (when zoomed in), and the train's simulated median position with a time control that
    shows the train's local time and UTC. Works with no network; uses online tiles when it can.
    ``extra_script`` (JavaScript) runs after the page is built, with ``window.trainsim`` set
    (the nowcast draws its layers with it).
    """
    import folium  # only here: its import alone takes a third of a second

    prep = result.prepared
    route: Route = prep.route
    bbox = _route_bbox(route)
    lines = route_lines(route)
    spots = places(result)
    track = median_track(result)
    view = _padded(bbox, 0.35, 2.0)

    major = [p for p in spots if not p.minor]
    minor = [p for p in spots if p.minor]
    minor_rows = [p.rows[0] for p in minor]
    offsets = []
    for r in minor_rows:
        when = datetime.strptime(r["median_utc"], "%Y-%m-%d %H:%M:%SZ").replace(
            tzinfo=ZoneInfo("UTC"))
        off = when.astimezone(ZoneInfo(r["time_zone"] or "UTC")).utcoffset()
        offsets.append(round(off.total_seconds() / 60) if off is not None else 0)

    def index(values: list[str]) -> tuple[list[str], list[int]]:
        table = list(dict.fromkeys(values))
        pos = {v: i for i, v in enumerate(table)}
        return table, [pos[v] for v in values]

    zones, zone_i = index([zone_label(z) for z in track.tz])
    where, where_i = index(track.place)
    states, state_i = index(track.state)
    epoch = track.epoch.timestamp()
    sc = prep.scenario
    title = sc.title or " → ".join(route.stops)
    data = {
        "titleHtml": f"<h1>{_esc(title)}</h1><p>Simulated journey: {_esc(' → '.join(route.stops))}"
                     f", {route.length_km:,.0f} km by rail. Press ▶ to follow the train.</p>",
        "credit": _esc(CREDIT),
        "runs": f"{result.mc.n:,} runs",
        "lengthKm": f"{route.length_km:,.0f}",
        "bounds": [[bbox[1], bbox[0]], [bbox[3], bbox[2]]],
        "offlineName": OFFLINE_NAME,
        "tiles": _tiles(),
        "outlines": _outlines(view),
        "minZoomBelowFit": 2,
        "cities": [[round(c[2], 4), round(c[3], 4), c[0], c[4], 1 if c[5] else 0]
                   for c in cities(view) if c[5] or c[4] >= _min_city(view)][:MAX_PAGE_CITIES],
        "route": [{"colour": ln.colour, "approximate": ln.approximate, "tip": ln.describe(),
                   "parts": [encode_polyline(part[:, ::-1], digits=5) for part in ln.parts]}
                  for ln in lines],
        "places": [{"name": p.name, "lat": round(p.lat, 5), "lon": round(p.lon, 5),
                    "category": p.category, "reported": bool(p.reported),
                    "rank": _RANK.get(p.category, 0), "size": _SIZE.get(p.category, 12),
                    # stops, and the halts a reader looks for (the gauge change at Tumangang,
                    # the locomotive change at Ussuriysk), are named on the map
                    "label": p.category in ("stop", "halt"), "labelSide": "right",
                    # the ends of the journey win over intermediate stops, and stops over
                    # halts, when labels collide
                    "labelPriority": (0 if p is major[0] or p is major[-1]
                                      else 1 if p.category == "stop" else 2),
                    "labelOffset": [10, 0], "popup": _popup(p)} for p in major],
        "minor": {"name": [p.name for p in minor], "lat": _rounded((p.lat for p in minor), 5),
                  "lon": _rounded((p.lon for p in minor), 5),
                  "km": _rounded((p.km for p in minor), 1),
                  "median": [_utc_seconds(r["median_utc"]) for r in minor_rows],
                  "p05": [_utc_seconds(r["p05_utc"]) for r in minor_rows],
                  "p95": [_utc_seconds(r["p95_utc"]) for r in minor_rows],
                  "offset": offsets},
        "track": {"t": [round(epoch + float(t)) for t in track.t_s],
                  "lat": _rounded(track.lat, 5), "lon": _rounded(track.lon, 5),
                  "km": _rounded(track.km, 1),
                  "offset": [round(o / 60) for o in track.offset_s],
                  "zones": zones, "zone": zone_i, "places": where, "place": where_i,
                  "states": states, "state": state_i,
                  "halted": [int(h) for h in track.halted]},
        "legend": _legend(result, list(dict.fromkeys(ln.country for ln in lines)),
                          any(ln.approximate for ln in lines), {p.category for p in major}),
    }
    fmap = folium.Map(location=[(bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2],
                      zoom_start=5, tiles=None, control_scale=True, zoom_control=False,
                      font_size="13px")
    # one offline page: no CDN links; Leaflet and the page's script are inlined
    fmap.default_js = []
    fmap.default_css = []
    root: Any = fmap.get_root()
    root.header.add_child(Element(f"<title>{_esc(title)} — simulated journey map</title>"),
                          name="trainsim_title", index=0)
    root.header.add_child(Element(_inline_assets()), name="trainsim_assets", index=1)
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    # branca renders the script through Jinja again: no "{{", "{%" or "{#" may be left. In JSON
    # those only occur inside strings (an object's "{" is followed by a key or "}"), where
    # "\u007b" is the same character.
    payload = re.sub(r"\{(?=[{%#])", r"\\u007b", payload)
    journey = MacroElement()
    journey._name = "TrainsimJourney"
    journey._template = Template(
        "{% macro script(this, kwargs) %}\n"
        "trainsimMap({{ this._parent.get_name() }}, {{ this.payload }});\n"
        "{{ this.extra }}\n{% endmacro %}")
    journey.payload = payload  # type: ignore[attr-defined]
    journey.extra = re.sub(r"\{(?=[{%#])", "{ ", extra_script)  # type: ignore[attr-defined]
    fmap.add_child(journey)
    with atomic_path(path) as tmp:
        fmap.save(str(tmp))


def _esc(text: str) -> str:
    return escape(text, quote=False)
