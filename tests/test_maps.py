"""Maps: the data they show (route lines, places, the train's track), the static PNG and the
interactive page (without a browser; tests/test_browser.py drives a real one)."""

from __future__ import annotations

import itertools
import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator import maps
from simulator._mapdata import (
    SAME_PLACE_KM,
    cities,
    coords_along,
    median_track,
    places,
    route_lines,
    short_cause,
)
from simulator.reports import timeline_rows


def _decode(text: str, digits: int) -> list[tuple[float, float]]:
    """Reference decoder of Google's encoded polylines (as trainsim-map.js does it)."""
    out, index, lat, lon = [], 0, 0, 0
    while index < len(text):
        pair = []
        for _ in range(2):
            shift = result = 0
            while True:
                b = ord(text[index]) - 63
                index += 1
                result |= (b & 0x1F) << shift
                shift += 5
                if b < 0x20:
                    break
            pair.append(~(result >> 1) if result & 1 else result >> 1)
        lat += pair[0]
        lon += pair[1]
        out.append((lat / 10 ** digits, lon / 10 ** digits))
    return out


def test_encoded_polyline_matches_the_published_example() -> None:
    # the worked example of Google's polyline algorithm
    points = [(38.5, -120.2), (40.7, -120.95), (43.252, -126.453)]
    assert maps.encode_polyline(points, digits=5) == "_p~iF~ps|U_ulLnnqC_mqNvxq`@"
    coords = np.array([[42.43, 130.64], [43.801, 131.98], [43.11, 131.88]])
    assert _decode(maps.encode_polyline(coords, digits=3), 3) == [tuple(c) for c in coords]


def test_route_merged_into_a_few_lines_by_country_and_line(vladivostok_result: Any) -> None:
    route = vladivostok_result.prepared.route
    lines = route_lines(route)
    keys = [(ln.country, ln.line, ln.approximate) for ln in lines]
    assert len(keys) == len(set(keys)), "one feature per country, line and kind of geometry"
    assert len(lines) < len(route.segments) / 3
    assert sum(ln.length_km for ln in lines) == pytest.approx(route.length_km, rel=1e-6)
    lon = np.concatenate([part[:, 0] for ln in lines for part in ln.parts])
    lat = np.concatenate([part[:, 1] for ln in lines for part in ln.parts])
    all_xy = np.concatenate([np.asarray(s.coords) for s in route.segments])
    assert lon.min() >= all_xy[:, 0].min() - 1e-9 and lat.max() <= all_xy[:, 1].max() + 1e-9
    assert len(lon) < len(all_xy), "the geometry is simplified"


def test_places_merge_events_at_one_spot(vladivostok_result: Any) -> None:
    spots = places(vladivostok_result)
    rows = [r for r in timeline_rows(vladivostok_result) if r["km"] != ""]
    assert sum(len(p.rows) for p in spots) == len(rows), "every event lands on one place"
    for a, b in itertools.combinations(spots, 2):  # no two places on one spot
        d = math.hypot((a.lon - b.lon) * math.cos(math.radians(a.lat)), a.lat - b.lat) * 111.2
        assert d > SAME_PLACE_KM * 0.99, (a.name, b.name)
    by_name = {p.name: p for p in spots}
    ussuriysk = by_name["Ussuriysk"]
    assert ussuriysk.category == "stop"
    assert {"locomotive_change", "depart"} <= {r["event"] for r in ussuriysk.rows}
    assert by_name["Vladivostok"].reported and by_name["Khasan"].reported
    assert all(p.minor == (p.category == "station") for p in spots)
    assert len(by_name["Vladivostok"].events()) == 1, "repeated rows are shown once"


def test_short_cause_drops_provenance() -> None:
    assert short_cause("bogie exchange 1435 → 1520 mm (assumption: journeys.md b: 'may take "
                       "hours')") == "bogie exchange 1435 → 1520 mm"
    assert short_cause("locomotive change to EP1 (Russian Railways); journeys.md b: the "
                       "diesel was swapped") == "locomotive change to EP1 (Russian Railways)"
    # a scenario's note on the halt is not its cause: it made the time control four lines tall
    # ("… (Russian Railways); a Russian Railways locomotive was on the border bridge in 2023
    # (Interfax via Reuters, journeys.md b), so it took over before the bridge; …")
    assert short_cause("locomotive change to TEP70 passenger diesel (Russian Railways); a Russian "
                       "Railways locomotive was on the border bridge in 2023 (Interfax via "
                       "Reuters, journeys.md b), so it took over before the bridge") == \
        "locomotive change to TEP70 passenger diesel (Russian Railways)"
    assert short_cause("locomotive change to DF11Z twin-unit diesel (China Railway); DF11Z "
                       "diesels coupled at Dandong (Reuters 2018; KBS 2010), journeys.md b") == \
        "locomotive change to DF11Z twin-unit diesel (China Railway)"


def test_train_track_runs_from_departure_to_arrival(vladivostok_result: Any) -> None:
    track = median_track(vladivostok_result)
    rows = timeline_rows(vladivostok_result)
    depart = next(r for r in rows if r["event"] == "depart")
    arrive = [r for r in rows if r["event"] == "arrive"][-1]
    assert track.utc(0).strftime("%Y-%m-%d %H:%M") == depart["median_utc"][:16]
    assert track.utc(len(track) - 1).strftime("%Y-%m-%d %H:%M") == arrive["median_utc"][:16]
    assert np.all(np.diff(track.t_s) > 0) and np.all(np.diff(track.km) >= -1e-9)
    assert track.km[0] == 0 and track.km[-1] == pytest.approx(track.length_km)
    # every frame lies on the route
    lat, lon = coords_along(vladivostok_result.prepared.route)(track.km)
    assert np.allclose(lat, track.lat) and np.allclose(lon, track.lon)
    assert set(track.tz) == {"Asia/Vladivostok"} and np.all(track.offset_s == 36000)
    halts = [s for s, h in zip(track.state, track.halted, strict=True) if h]
    assert any("locomotive change at Ussuriysk" in s for s in halts), set(halts)
    assert all(s.startswith("halted: ") for s in halts)
    assert track.state[-1] == "arrived at Vladivostok"
    assert any(p.startswith("at Ussuriysk") for p in track.place)


def test_static_map_has_furniture_and_clean_caption(vladivostok_result: Any,
                                                    tmp_path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib_scalebar.scalebar import ScaleBar

    route = vladivostok_result.prepared.route
    fig = maps.route_figure(route, title="Khasan to Vladivostok")
    try:
        ax = fig.axes[0]
        texts = [t.get_text() for t in fig.texts] + [t.get_text() for t in ax.texts]
        assert "Khasan to Vladivostok" in texts
        assert any("OpenStreetMap" in t for t in texts)
        assert not any(re.search(r"data/|README|\.md\b|/work", t) for t in texts), texts
        assert any(isinstance(a, ScaleBar) for a in ax.artists), "scale bar"
        assert any(t == "N" for t in texts), "north arrow"
        assert ax.get_legend() is not None
        assert ax.child_axes, "locator inset"
        assert any(t.startswith("Ussuriysk") for t in texts) and "RUSSIA" in texts
        known = {c[0] for c in cities((125.0, 38.0, 140.0, 48.0))}
        assert len(known & set(texts) - set(route.stops)) >= 2, "city labels besides stops"
    finally:
        plt.close(fig)
    out = tmp_path / "map.png"
    maps.plot_route(route, out, color_by="speed")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]



def test_static_map_labels_cover_no_other_dot(network) -> None:
    """A label over another city's dot reads as that city's name: on the Hanoi map "Zhengzhou"
    covered Kaifeng's dot, whose own label then sat over Zhengzhou on the route."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation

    from simulator.routing import find_route

    route = find_route(network, ["Pyongyang", "Shenyang", "Tianjin", "Wuchang", "Changsha",
                                 "Nanning", "Dong Dang"])
    fig = maps.route_figure(route)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        dots = [ax.transData.transform((line.get_xdata()[0], line.get_ydata()[0]))
                for line in ax.lines if line.get_marker() not in (None, "None", "")
                and len(line.get_xdata()) == 1]
        labels = [t for t in ax.texts if isinstance(t, Annotation) and t.get_text()]
        assert len(dots) > 15 and len(labels) > 15
        for t in labels:
            box = t.get_window_extent(renderer)
            own = ax.transData.transform(t.xy)
            covered = [tuple(d.round()) for d in dots if box.contains(*d)
                       and math.dist(d, own) > 1]
            assert not covered, f"label {t.get_text()!r} covers a dot at {covered}"
    finally:
        plt.close(fig)

def _payload(html: str) -> dict[str, Any]:
    match = re.search(r"trainsimMap\(map_\w+, (\{.*\})\);", html)
    assert match, "the page calls trainsimMap with its data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_html_map_is_one_small_offline_page(vladivostok_result: Any, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    maps.write_html_map(vladivostok_result, out)
    html = out.read_text(encoding="utf-8")
    assert len(html.encode()) < 1_500_000
    assert "<script src=" not in html and "<link " not in html, "no CDN: works offline"
    page_script = (Path(maps.__file__).parent / "web" / "trainsim-map.js").read_text("utf-8")
    assert page_script in html and "console" not in page_script, "the page does not log"
    assert "<title>Khasan → Ussuriysk → Vladivostok" in html
    data = _payload(html)
    # the route: a few merged features, not one polyline per segment
    route = vladivostok_result.prepared.route
    assert len(data["route"]) == len(route_lines(route)) < len(route.segments) / 3
    # online tiles with a light default, OpenStreetMap and the OpenRailwayMap overlay
    names = [t["name"] for t in data["tiles"]]
    assert names[0].startswith("Light") and "OpenStreetMap" in names
    assert any("openrailwaymap" in t["layers"][0]["url"] and t.get("overlay")
               for t in data["tiles"])
    assert data["outlines"]["fill"] and data["outlines"]["line"], "offline outlines"
    assert any(c[2] == "Vladivostok" for c in data["cities"])
    # the train: one position per frame, local offsets, states
    track = data["track"]
    assert len(track["t"]) == len(track["lat"]) == len(track["offset"]) > 10
    assert set(track["offset"]) == {600} and "Vladivostok time" in track["zones"]
    assert any("locomotive change" in s for s in track["states"])
    start = datetime.fromtimestamp(track["t"][0], UTC)
    depart = next(r for r in timeline_rows(vladivostok_result) if r["event"] == "depart")
    assert start.strftime("%Y-%m-%d %H:%M") == depart["median_utc"][:16]
    # places: stops labelled, events merged into one popup, minor stations apart
    by_name = {p["name"]: p for p in data["places"]}
    assert by_name["Ussuriysk"]["label"] and by_name["Ussuriysk"]["category"] == "stop"
    popup = by_name["Ussuriysk"]["popup"]
    assert "locomotive change" in popup and "departs" in popup and "arrives" in popup
    assert by_name["Vladivostok"]["reported"] and "17:50–18:01" in by_name["Vladivostok"][
        "popup"]
    assert len(data["minor"]["name"]) > 0
    assert "Legend" in data["legend"] and "Russia" in data["legend"]
