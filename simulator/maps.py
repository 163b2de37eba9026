"""Route maps: a static PNG for reports (matplotlib/geopandas) and an interactive HTML (folium)."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from simulator import settings
from simulator._io import atomic_path
from simulator.routing import Route

__all__ = ["plot_route", "write_html_map"]

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


# ----------------------------------------------------------------------------------------------
# interactive map
# ----------------------------------------------------------------------------------------------
_WEB = Path(__file__).parent / "web"
_JS = ["leaflet.js", "jquery.min.js", "jquery-ui.min.js", "iso8601.js", "moment.min.js",
       "leaflet.timedimension.min.js"]
_CSS = ["leaflet.css", "leaflet.timedimension.control.min.css"]


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _css(name: str) -> str:
    text = (_WEB / name).read_text(encoding="utf-8")
    # images and the icon font the stylesheets point to, as data URIs (no network, no files)
    text = re.sub(r"url\(images/([\w.-]+)\)",
                  lambda m: f"url({_data_uri(_WEB / 'images' / m[1], 'image/png')})", text)
    font = _data_uri(_WEB / "glyphicons-halflings-regular.woff", "font/woff")
    return re.sub(r"src:url\(//netdna[^;}]*", f"src:url({font}) format('woff')", text)


def _inline_assets() -> str:
    """The map's JavaScript and CSS, inlined so that the page works offline (see web/README.md)."""
    parts = [f"<style>{_css(name)}</style>" for name in _CSS]
    parts += [f"<script>{(_WEB / name).read_text(encoding='utf-8')}</script>" for name in _JS]
    return "\n".join(parts)


def write_html_map(result: Any, path: Path) -> None:
    """Interactive map: the route, stations with simulated and reported times, and the train's
    median position over time on a time slider. Self-contained (no network needed to view it).
    """
    import folium
    from folium.plugins import TimestampedGeoJson

    from simulator.reports import timeline_rows

    prep = result.prepared
    route = prep.route
    lats = [c[1] for s in route.segments for c in s.coords]
    lons = [c[0] for s in route.segments for c in s.coords]
    fmap = folium.Map(location=[sum(lats) / len(lats), sum(lons) / len(lons)], zoom_start=5,
                      tiles=None, control_scale=True)
    # offline page: no tile layer and no CDN links; the assets are inlined below
    fmap.default_js = []
    fmap.default_css = []
    root: Any = fmap.get_root()
    root.header.add_child(folium.Element(_inline_assets()), name="trainsim_assets",
                                     index=0)
    basemap = folium.FeatureGroup(name="countries (Natural Earth)")
    pad = 4.0
    outlines = _countries().clip((min(lons) - pad, min(lats) - pad, max(lons) + pad,
                                  max(lats) + pad)).simplify(0.02)
    folium.GeoJson(json.loads(outlines.to_json()),
                   style_function=lambda _: {"color": "#999", "weight": 1,
                                             "fillColor": "#f2efe9", "fillOpacity": 1},
                   ).add_to(basemap)
    basemap.add_to(fmap)
    route_layer = folium.FeatureGroup(name="route")
    for s in route.segments:
        folium.PolyLine([(c[1], c[0]) for c in s.coords],
                        color=COUNTRY_COLOURS.get(s.country, "#777"), weight=4,
                        dash_array="6 6" if s.approximate else None,
                        tooltip=f"{s.line} ({s.country}), km {s.km_start:,.0f}").add_to(route_layer)
    route_layer.add_to(fmap)
    stations = folium.FeatureGroup(name="stations and events")
    coords_at = _coords_along(route)
    for row in timeline_rows(result):
        if row["km"] == "":
            continue
        lat, lon = coords_at(float(row["km"]))
        major = row["event"] != "station"
        html = (f"<b>{row['place']}</b> ({row['event']}, km {row['km']})<br>"
                f"simulated median: {row['median_local']}<br>"
                f"5–95 %: {row['p05_local']} – {row['p95_local']}"
                + (f"<br>reported: {row['reported']}" if row["reported"] else ""))
        folium.CircleMarker((lat, lon), radius=5 if major else 2,
                            color="#000" if major else "#555", fill=True, fill_opacity=0.9,
                            popup=folium.Popup(html, max_width=320),
                            tooltip=row["place"]).add_to(stations)
    stations.add_to(fmap)
    # the train's median position, one feature per chunk boundary
    median_arrive = np.median(result.mc.arrive_s, axis=0)
    median_depart = np.median(result.mc.depart_s, axis=0)
    features = []
    for b, k in enumerate(prep.plan.km):
        lat, lon = coords_at(float(k))
        for t in sorted({median_arrive[b], median_depart[b]}):
            features.append({
                "type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "time": result.to_datetime(t).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "popup": f"km {k:,.0f} {prep.plan.place[b]}",
                    "icon": "circle",
                    "iconstyle": {"color": "#c0392b", "fillColor": "#e74c3c",
                                  "fillOpacity": 1, "radius": 7},
                }})
    slider = TimestampedGeoJson({"type": "FeatureCollection", "features": features},
                                period="PT1H", duration="PT1H", add_last_point=False,
                                auto_play=False, loop=False, date_options="YYYY-MM-DD HH:mm UTC",
                                time_slider_drag_update=True)
    slider.default_js = []
    slider.default_css = []
    slider.add_to(fmap)
    folium.LayerControl().add_to(fmap)
    fmap.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]])
    root.html.add_child(folium.Element(
        f"<div style='position:fixed;bottom:4px;left:8px;z-index:999;font:11px sans-serif;"
        f"background:#fff8;padding:2px'>{prep.scenario.title} — {OSM_CREDIT}; "
        "outlines: Natural Earth</div>"))
    with atomic_path(path) as tmp:
        fmap.save(str(tmp))


def _coords_along(route: Route) -> Any:
    """A function km → (lat, lon) along the route geometry."""
    pts: list[tuple[float, float, float]] = []
    for s in route.segments:
        xy = np.asarray(s.coords)
        seg = np.hypot(np.diff(xy[:, 0]) * math.cos(math.radians(float(xy[:, 1].mean()))),
                       np.diff(xy[:, 1]))
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        frac = cum / cum[-1] if cum[-1] > 0 else np.linspace(0, 1, len(cum))
        for f, (lon, lat) in zip(frac, xy, strict=True):
            pts.append((s.km_start + f * s.length_m / 1000, lat, lon))
    kms = np.array([p[0] for p in pts])
    lat_a = np.array([p[1] for p in pts])
    lon_a = np.array([p[2] for p in pts])

    def at(km: float) -> tuple[float, float]:
        return float(np.interp(km, kms, lat_a)), float(np.interp(km, kms, lon_a))

    return at
