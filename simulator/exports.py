"""Exports for the tools analysts use: GeoPackage for QGIS, KML for Google Earth.

* :func:`write_geopackage` — ``journey.gpkg`` (geopandas/pyogrio): the route (one line per
  segment, with its attributes), the stations and events (one point per place), the timeline
  (one point per event, with UTC date-times for QGIS's temporal controller), the train's
  simulated median track (one point per frame, with its time), and the events of one recorded
  replication.
* :func:`write_route_geopackage` — ``route.gpkg``: a route and its marks (``trainsim route``).
* :func:`write_kml` — ``journey.kml`` (fastkml): the route by country and line, the stops,
  borders, halts and reported points as placemarks, the stations passed (hidden at first), and
  the train as a ``gx:Track`` whose time-stamped positions play in Google Earth's time slider.

All write to a temporary file first and rename (nothing half-written is left behind).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pygeoif.geometry as geo
import shapely
from fastkml import containers, features, kml, styles
from fastkml.gx.track import Track as KmlTrack
from fastkml.times import KmlDateTime

from simulator._io import atomic_path
from simulator._mapdata import (
    COUNTRY_COLOURS,
    COUNTRY_NAMES,
    EVENT_LABELS,
    Place,
    Track,
    coords_along,
    median_track,
    places,
    route_lines,
    short_cause,
    zone_label,
)
from simulator.reports import Analysis
from simulator.routing import Route

__all__ = ["write_geopackage", "write_kml", "write_route_geopackage"]

CRS = "EPSG:4326"
ATTRIBUTION = "Rail data © OpenStreetMap contributors (ODbL); simulated with trainsim"
#: Google Earth's own icons (it has them built in; other viewers fetch them when online)
_ICONS = {
    "train": "http://maps.google.com/mapfiles/kml/shapes/rail.png",
    "stop": "http://maps.google.com/mapfiles/kml/shapes/placemark_circle.png",
    "border": "http://maps.google.com/mapfiles/kml/shapes/flag.png",
    "halt": "http://maps.google.com/mapfiles/kml/shapes/square.png",
    "reported": "http://maps.google.com/mapfiles/kml/shapes/star.png",
    "pass": "http://maps.google.com/mapfiles/kml/shapes/shaded_dot.png",
    "station": "http://maps.google.com/mapfiles/kml/shapes/shaded_dot.png",
}


def _utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%SZ").replace(tzinfo=UTC)


# ----------------------------------------------------------------------------------------------
# GeoPackage
# ----------------------------------------------------------------------------------------------
def _marks_frame(route: Route) -> gpd.GeoDataFrame:
    rows = [{"kind": m.kind, "name": m.name, "km": round(m.km, 3), "country": m.country or "",
             "detail": m.detail, "geometry": shapely.Point(route._coord_of(m.node))}
            for m in route.marks]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def _write_layers(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    with atomic_path(path) as tmp:
        # GDAL creates the file itself and wants the .gpkg extension
        gpkg = tmp.with_name(tmp.name + ".gpkg")
        try:
            for k, (name, frame) in enumerate(layers.items()):
                frame.to_file(gpkg, layer=name, driver="GPKG", engine="pyogrio", append=k > 0)
            gpkg.replace(tmp)
        finally:
            gpkg.unlink(missing_ok=True)


def write_route_geopackage(route: Route, path: Path) -> None:
    """``route.gpkg``: layers ``route`` (one line per segment) and ``marks`` (stations passed,
    stops, border crossings, gauge changes)."""
    _write_layers(path, {"route": route.to_geodataframe(), "marks": _marks_frame(route)})


def _place_frame(spots: list[Place]) -> gpd.GeoDataFrame:
    rows = []
    for p in spots:
        events = p.events()
        first = events[0]
        rows.append({
            "name": p.name, "category": p.category, "km": round(p.km, 3),
            "time_zone": first["time_zone"], "first_event": first["event"],
            "first_median_utc": _utc(first["median_utc"]),
            "last_median_utc": _utc(events[-1]["median_utc"]),
            "events": "; ".join(f"{EVENT_LABELS.get(r['event'], r['event'])} "
                                f"{r['median_local']}" for r in events),
            "reported": "; ".join(p.reported), "other_names": "; ".join(
                n for n in p.names if n != p.name),
            "geometry": shapely.Point(p.lon, p.lat)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def _timeline_frame(spots: list[Place]) -> gpd.GeoDataFrame:
    rows = []
    for p in spots:
        for r in p.rows:
            rows.append({
                "place": r["place"], "event": r["event"], "km": float(r["km"]),
                "time_zone": r["time_zone"], "median_utc": _utc(r["median_utc"]),
                "p05_utc": _utc(r["p05_utc"]), "p95_utc": _utc(r["p95_utc"]),
                "median_local": r["median_local"], "p05_local": r["p05_local"],
                "p95_local": r["p95_local"], "reported": r["reported"], "detail": r["detail"],
                "geometry": shapely.Point(p.lon, p.lat)})
    rows.sort(key=lambda r: (r["median_utc"], r["km"]))
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)


def _track_frame(track: Track) -> gpd.GeoDataFrame:
    times = [track.utc(i) for i in range(len(track))]
    return gpd.GeoDataFrame({
        "time_utc": times,
        "time_local": [(t + timedelta(seconds=float(o))).strftime("%Y-%m-%d %H:%M")
                       for t, o in zip(times, track.offset_s, strict=True)],
        "utc_offset_h": np.round(track.offset_s / 3600, 2),
        "time_zone": track.tz, "km": np.round(track.km, 2), "place": track.place,
        "state": track.state, "halted": track.halted.astype(bool),
    }, geometry=gpd.points_from_xy(track.lon, track.lat), crs=CRS)


def _events_frame(route: Route, rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """The events of one recorded replication (the rows of ``events.csv``), on the route."""
    km = np.array([float(r["km"]) for r in rows])
    lat, lon = coords_along(route)(km)
    frame = gpd.GeoDataFrame(rows, geometry=gpd.points_from_xy(lon, lat), crs=CRS)
    frame["time_utc"] = [_utc(r["time_utc"]) for r in rows]
    return frame


def write_geopackage(result: Analysis, path: Path, *,
                     events: list[dict[str, Any]] | None = None) -> None:
    """``journey.gpkg`` for QGIS.

    Layers ``route``, ``stations_events``, ``timeline`` and ``train_track`` (see the module
    docstring), and ``replication_events`` when the rows of a recorded replication
    (``Timeline.rows()``) are given as ``events``.
    """
    spots = places(result)
    route = result.prepared.route
    layers = {
        "route": route.to_geodataframe(),
        "stations_events": _place_frame(spots),
        "timeline": _timeline_frame(spots),
        "train_track": _track_frame(median_track(result)),
    }
    if events:
        layers["replication_events"] = _events_frame(route, events)
    _write_layers(path, layers)


# ----------------------------------------------------------------------------------------------
# KML
# ----------------------------------------------------------------------------------------------
def _kml_colour(hex_rgb: str, alpha: int = 255) -> str:
    """``#c0392b`` → KML's ``aabbggrr``."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"{alpha:02x}{b}{g}{r}"


def _description(p: Place) -> str:
    rows = []
    for r in p.events():
        label = EVENT_LABELS.get(r["event"], r["event"].replace("_", " "))
        cause = short_cause(r["detail"]) if r["detail"] and r["event"] not in (
            "pass", "arrive", "depart", "station") else ""
        rows.append(f"<tr><td>{escape(label)}</td><td>{escape(r['median_local'])} "
                    f"({escape(r['median_utc'])})<br/>5–95 %: {escape(r['p05_local'])} – "
                    f"{escape(r['p95_local'])}" + (f"<br/>{escape(cause)}" if cause else "")
                    + "</td></tr>")
    for rep in p.reported:
        rows.append(f"<tr><td><b>reported</b></td><td><b>{escape(rep)}</b></td></tr>")
    others = [n for n in p.names if n != p.name]
    head = f"km {p.km:,.1f}" + (f"; also: {escape(', '.join(others))}" if others else "")
    return (f"<p>{head}</p><table>{''.join(rows)}</table>"
            "<p>Simulated median and 5–95 % band, local time (UTC).</p>")


def write_kml(result: Analysis, path: Path) -> None:
    """``journey.kml`` for Google Earth: the journey plays in its time slider.

    fastkml builds the document (its classes follow the OGC KML 2.2 schema and the ``gx``
    extension, and the tests validate the file against that schema).
    """
    prep = result.prepared
    route: Route = prep.route
    track = median_track(result)
    spots = places(result)
    lines = route_lines(route, tolerance_deg=0.0005)

    style_list: list[Any] = []
    for country in dict.fromkeys(ln.country for ln in lines):
        colour = COUNTRY_COLOURS.get(country, COUNTRY_COLOURS["?"])
        for approximate in (False, True):
            style_list.append(styles.Style(
                id=f"route-{country}{'-approximate' if approximate else ''}",
                styles=[styles.LineStyle(color=_kml_colour(colour, 150 if approximate else 255),
                                         width=3 if approximate else 5)]))
    for kind, href in _ICONS.items():
        tint = {"reported": "#ff2fa0", "border": "#9b59b6", "halt": "#e67e22"}.get(kind)
        scale = {"train": 1.4, "stop": 1.1, "station": 0.5, "pass": 0.7}.get(kind, 0.9)
        style_list.append(styles.Style(id=kind, styles=[
            styles.IconStyle(scale=scale, icon=styles.Icon(href=href),
                             color=_kml_colour(tint) if tint else None),
            styles.LabelStyle(scale=0.9 if kind in ("stop", "train") else 0.0
                              if kind == "station" else 0.7)]))

    route_folder = containers.Folder(name="Route", features=[
        features.Placemark(
            name=f"{ln.line or 'unnamed line'} ({COUNTRY_NAMES.get(ln.country, ln.country)})",
            description=ln.describe(),
            style_url=styles.StyleUrl(url=f"#route-{ln.country}"
                                          f"{'-approximate' if ln.approximate else ''}"),
            geometry=geo.MultiLineString([[(round(float(x), 6), round(float(y), 6))
                                           for x, y in part] for part in ln.parts]))
        for ln in lines])
    major = [p for p in spots if not p.minor]
    minor = [p for p in spots if p.minor]

    def placemark(p: Place) -> Any:
        kind = "reported" if p.reported and p.category not in ("stop",) else p.category
        return features.Placemark(
            name=p.name, description=_description(p), style_url=styles.StyleUrl(url=f"#{kind}"),
            geometry=geo.Point(round(p.lon, 6), round(p.lat, 6)))

    places_folder = containers.Folder(
        name="Stops, borders, halts and reported times", features=[placemark(p) for p in major])
    stations_folder = containers.Folder(
        name="Stations passed", visibility=False, features=[placemark(p) for p in minor])
    whens = [KmlDateTime(track.utc(i)) for i in range(len(track))]
    coords = [(round(float(lo), 6), round(float(la), 6), 0.0)
              for lo, la in zip(track.lon, track.lat, strict=True)]
    train = features.Placemark(
        name="Train (simulated median position)",
        description=(
            f"Median of {result.mc.n:,} simulated runs, every {track.step_s / 60:.0f} min from "
            f"the median departure to the median arrival. Use the time slider to play it."),
        style_url=styles.StyleUrl(url="#train"),
        kml_geometry=KmlTrack(whens=whens, coords=coords))
    zones = ", ".join(dict.fromkeys(zone_label(z) for z in track.tz))
    document = containers.Document(
        name=prep.scenario.title or " → ".join(route.stops),
        description=(
            f"Simulated journey {' → '.join(route.stops)}, {route.length_km:,.0f} km by rail; "
            f"times in the train's local zones ({zones}) and UTC. {ATTRIBUTION}."),
        styles=style_list,
        features=[train, places_folder, stations_folder, route_folder])
    text = kml.KML(features=[document]).to_string(prettyprint=True)
    with atomic_path(path) as tmp:
        tmp.write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + text, encoding="utf-8")
