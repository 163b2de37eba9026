"""Exports: the GeoPackage opens with pyogrio/geopandas, the KML validates against the OGC KML 2.2
schema (with Google's gx extension) and parses with fastkml."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from simulator import exports
from simulator._mapdata import median_track
from simulator.reports import timeline_rows

pytest.importorskip("lxml", reason="schema validation needs lxml (a test dependency)")


@pytest.fixture(scope="session")  # not per module: slow tests run first, apart from theirs
def gpkg(vladivostok_result: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator.journey import draw_parameters, simulate_batch

    prep = vladivostok_result.prepared
    one = simulate_batch(prep.plan, draw_parameters(prep.plan, 1, 1), record=True)
    assert one.timelines is not None
    path = tmp_path_factory.mktemp("gpkg") / "journey.gpkg"
    exports.write_geopackage(vladivostok_result, path, events=one.timelines[0].rows())
    return path


def test_geopackage_layers_open_in_pyogrio(gpkg: Path, vladivostok_result: Any) -> None:
    import geopandas as gpd
    import pyogrio

    layers = dict(pyogrio.list_layers(gpkg))
    assert layers == {"route": "LineString", "stations_events": "Point", "timeline": "Point",
                      "train_track": "Point", "replication_events": "Point"}
    route = gpd.read_file(gpkg, layer="route")
    assert route.crs.to_epsg() == 4326
    assert route["length_km"].sum() == pytest.approx(
        vladivostok_result.prepared.route.length_km, abs=0.01 * len(route))
    assert {"line", "country", "gauge", "speed_limit_kmh", "approximate_geometry"} <= set(
        route.columns)
    assert not [p.name for p in gpkg.parent.iterdir() if p.name.startswith(".")]


def test_geopackage_timeline_has_times(gpkg: Path, vladivostok_result: Any) -> None:
    import geopandas as gpd

    timeline = gpd.read_file(gpkg, layer="timeline")
    rows = [r for r in timeline_rows(vladivostok_result) if r["km"] != ""]
    assert len(timeline) == len(rows)
    assert str(timeline["median_utc"].dt.tz) == "UTC"
    assert (timeline["p05_utc"] <= timeline["median_utc"]).all()
    assert (timeline["median_utc"] <= timeline["p95_utc"]).all()
    arrival = timeline[(timeline["place"] == "Vladivostok") & (timeline["event"] == "arrive")]
    assert arrival["reported"].iloc[0].startswith("2019-04-24 17:50")
    places = gpd.read_file(gpkg, layer="stations_events")
    ussuriysk = places[places["name"] == "Ussuriysk"].iloc[0]
    assert ussuriysk["category"] == "stop" and "locomotive change" in ussuriysk["events"]
    track = gpd.read_file(gpkg, layer="train_track")
    assert track["time_utc"].is_monotonic_increasing and track["km"].is_monotonic_increasing
    assert len(track) == len(median_track(vladivostok_result))
    assert track["halted"].any() and track["time_local"].iloc[0].startswith("2019-04-24")
    events = gpd.read_file(gpkg, layer="replication_events")
    assert {"leader", "pilot"} == set(events["train"])


def test_route_geopackage(vladivostok_result: Any, tmp_path: Path) -> None:
    import geopandas as gpd

    route = vladivostok_result.prepared.route
    exports.write_route_geopackage(route, tmp_path / "route.gpkg")
    marks = gpd.read_file(tmp_path / "route.gpkg", layer="marks")
    assert {"stop", "station"} <= set(marks["kind"])
    assert len(gpd.read_file(tmp_path / "route.gpkg", layer="route")) == len(route.segments)


def test_kml_validates_and_plays_in_the_time_slider(vladivostok_result: Any,
                                                    tmp_path: Path) -> None:
    from fastkml import kml, validator
    from fastkml.gx.track import Track

    path = tmp_path / "journey.kml"
    exports.write_kml(vladivostok_result, path)
    # the OGC KML 2.2 schema (with the gx extension), shipped with fastkml, offline
    assert validator.validate(file_to_validate=path) is True
    doc = kml.KML.parse(path).features[0]
    assert doc.name == vladivostok_result.prepared.scenario.title

    def walk(feature: Any) -> Any:
        yield feature
        for child in getattr(feature, "features", []) or []:
            yield from walk(child)

    placemarks = [f for f in walk(doc) if f.__class__.__name__ == "Placemark"]
    tracks = [p for p in placemarks if isinstance(p.kml_geometry, Track)]
    assert len(tracks) == 1, "one time-stamped train"
    items = tracks[0].kml_geometry.track_items
    times = [datetime.fromisoformat(str(i.when)) for i in items]
    assert len(times) == len(median_track(vladivostok_result)) > 10
    assert all(a < b for a, b in itertools.pairwise(times))
    assert times[0].utcoffset() is not None, "times carry their zone"
    names = {p.name for p in placemarks}
    assert {"Khasan", "Ussuriysk", "Vladivostok"} <= names
    vladivostok = next(p for p in placemarks if p.name == "Vladivostok")
    assert "reported" in vladivostok.description and "17:50" in vladivostok.description
    stations = next(f for f in walk(doc) if f.name == "Stations passed")
    assert stations.visibility is False and len(stations.features) > 0
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>')
