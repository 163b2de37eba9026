"""The interactive map in a real browser: headless Chromium, offline, in a non-UTC time zone.

The page is loaded from disk with the network switched off (tiles fail, the bundled outlines take
over), the time control is pressed, and what a user sees is checked: one train marker that moves
along the route, a clock in the train's local time and in UTC, popups, no console output. A
screenshot goes to the test's temporary folder.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
BROWSER_ZONE = "America/Los_Angeles"  # UTC-7 in April: far from the train's UTC+10
FRAME_S = 300  # the page steps the train every 5 minutes on journeys of up to 100 hours

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER),
                       reason="no headless Chromium installed (Debian: apt-get install chromium "
                              "chromium-driver; .ci/run installs them)"),
]


def _wait(driver: Any, script: str, *, timeout: float = 10.0) -> Any:
    deadline = time.time() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.time() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def page(vladivostok_run: Path) -> Path:
    """The outputs of a `trainsim run` (see conftest)."""
    return vladivostok_run


@pytest.fixture
def driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,860", "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(DRIVER), options=options)
    # no network: every host name fails to resolve (while navigator.onLine stays true, as on a
    # machine cut off from the internet, so the page finds out from the tiles' errors); and a
    # browser clock far from UTC and from the train's zone
    browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": BROWSER_ZONE})
    try:
        yield browser
    finally:
        browser.quit()


def _clock(driver: Any) -> tuple[datetime, datetime]:
    """The time control's local and UTC times, as shown."""
    text = driver.find_element("css selector", ".ts-clock").text
    m = re.match(r"\w{3} (\d+) (\w{3}) (\d{4}), (\d\d):(\d\d) .*\(UTC\+10:00\) · "
                 r"(\d\d):(\d\d) UTC$", text)
    assert m, text
    local = datetime.strptime(f"{m[1]} {m[2]} {m[3]} {m[4]}:{m[5]}", "%d %b %Y %H:%M")
    utc = local.replace(hour=int(m[6]), minute=int(m[7]))
    if utc > local:
        utc -= timedelta(days=1)
    return local, utc


@pytest.mark.slow
@pytest.mark.no_cover
def test_map_offline_in_another_time_zone(page: Path, driver: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get((page / "map.html").as_uri())
    assert _wait(driver, "return window.trainsim && document.querySelectorAll("
                         "'.leaflet-ts-major-pane .ts-place').length > 2"), "page not drawn"
    assert driver.execute_script(
        "return Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_ZONE
    assert driver.execute_script("return new Date(Date.UTC(2019, 3, 24)).getTimezoneOffset()") \
        == 7 * 60
    # offline: the tiles fail and the bundled outlines take over
    assert _wait(driver, "return document.querySelector('.leaflet-container')"
                         ".classList.contains('ts-offline')"), "no offline fallback"
    assert driver.execute_script("return document.querySelectorAll("
                                 "'.leaflet-ts-land-pane path').length") >= 2
    # going offline takes away the tiles only: the route, the places and the train stay
    assert driver.execute_script("return document.querySelectorAll("
                                 "'.leaflet-ts-route-pane path').length") >= 3
    assert driver.execute_script("return document.querySelectorAll("
                                 "'.leaflet-ts-major-pane .ts-place').length") > 2
    assert driver.execute_script("return document.querySelectorAll("
                                 "'.leaflet-ts-train-pane .ts-train').length") == 1
    assert driver.title.startswith("Khasan → Ussuriysk → Vladivostok")
    # the named places (stops, then halts) are all shown at the first view, none on another
    labels = driver.execute_script("""
        return Array.from(document.querySelectorAll('.ts-label')).map(function (n) {
          var r = n.getBoundingClientRect();
          return [n.textContent, n.style.visibility !== 'hidden', r.left, r.top, r.right,
                  r.bottom];
        });""")
    shown = [x for x in labels if x[1]]
    assert len(shown) == len(labels) >= 2, labels
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            assert a[4] <= b[2] or b[4] <= a[2] or a[5] <= b[3] or b[5] <= a[3], (a, b)
    assert driver.find_element(By.CSS_SELECTOR, ".ts-legend").text.startswith("Legend")
    # zoomed out as far as the page allows, the bundled outlines still fill the view (the
    # least zoom was taken while the first fit was still animating: 3 instead of 6.5)
    fitted = driver.execute_script("return window.trainsim.map.getZoom()")
    assert driver.execute_script("return window.trainsim.map.getMinZoom()") >= fitted - 2
    driver.execute_script("var m = window.trainsim.map; m.setZoom(m.getMinZoom(), "
                          "{animate: false})")
    assert driver.execute_script("""
        var m = window.trainsim.map, land = L.latLngBounds([]);
        m.eachLayer(function (l) {
          if (l.options && l.options.pane === 'ts-land' && l.getBounds) {
            land.extend(l.getBounds());
          }
        });
        return land.contains(m.getBounds());"""), "the outlines end inside the view"
    driver.execute_script("window.trainsim.fit()")
    # minor stations wait for the user to zoom in (to zoom 8; this short route fits at 8.5)
    # (set again until it holds: on a busy machine the page's first fit may still be running)
    assert _wait(driver, "window.trainsim.map.setZoom(7, {animate: false}); return "
                         "window.trainsim.map.getPane('ts-minor').style.display === 'none'"), \
        "stations shown when zoomed out"
    driver.execute_script("window.trainsim.fit()")

    rows = list(csv.DictReader((page / "timeline.csv").open(encoding="utf-8")))
    # the map starts at the departure (after the welcome at Khasan, the first row)
    first = next(r for r in rows if r["event"] == "depart")
    depart = datetime.strptime(first["median_utc"], "%Y-%m-%d %H:%M:%SZ")
    route = json.loads((page / "route.geojson").read_text(encoding="utf-8"))
    lines = [f["geometry"]["coordinates"] for f in route["features"]
             if f["geometry"]["type"] == "LineString"]

    def on_route(lat: float, lon: float) -> bool:
        import shapely

        return bool(shapely.MultiLineString(lines).distance(shapely.Point(lon, lat)) < 0.005)

    def train() -> dict[str, float]:
        trains = driver.execute_script(
            "return document.querySelectorAll('.leaflet-map-pane .ts-train').length")
        assert trains == 1, "exactly one train marker"
        return driver.execute_script(
            "var p = window.trainsim.train.getLatLng(); return {lat: p.lat, lng: p.lng};")

    start = train()
    local, utc = _clock(driver)
    assert local - utc == timedelta(hours=10), "the train's local time, not the browser's"
    assert abs((utc - depart).total_seconds()) < 60

    # the time control keeps its height over the journey: the view was fitted above it, and a
    # state that wrapped to more lines grew it over the start of the route (Khasan)
    heights = driver.execute_script("""
        var t = window.trainsim, box = document.querySelector('.ts-time'), out = [];
        for (var i = 0; i < t.frames; i++) { t.show(i); out.push(box.offsetHeight); }
        t.show(0); return out;""")
    assert min(heights) == max(heights), sorted(set(heights))

    steps = 12
    for _ in range(steps):
        driver.find_element(By.CSS_SELECTOR, ".ts-next").click()
    moved = train()
    assert moved != start and on_route(moved["lat"], moved["lng"])
    local, utc = _clock(driver)
    assert local - utc == timedelta(hours=10)
    expected = depart + timedelta(seconds=steps * FRAME_S)
    assert abs((utc - expected).total_seconds()) <= 60, (utc, expected)
    km = float(re.search(r"km ([\d,]+)$", driver.find_element(
        By.CSS_SELECTOR, ".ts-state").text)[1].replace(",", ""))
    assert km > 0

    # play runs the clock on; pause stops it
    driver.find_element(By.CSS_SELECTOR, ".ts-play").click()
    assert _wait(driver, f"return window.trainsim.frame() > {steps + 3}", timeout=5)
    driver.find_element(By.CSS_SELECTOR, ".ts-play").click()
    frame = driver.execute_script("return window.trainsim.frame()")
    time.sleep(0.6)  # two ticks of the page's clock (250 ms), with a margin for a busy machine
    assert driver.execute_script("return window.trainsim.frame()") == frame
    played = train()
    assert played != moved and on_route(played["lat"], played["lng"])

    # the train's own popup: place, km, local time with zone, UTC, state
    driver.find_element(By.CSS_SELECTOR, ".leaflet-map-pane .ts-train").click()
    popup = _wait(driver, "var p = document.querySelector('.leaflet-popup-content');"
                          "return p && p.innerText;")
    assert "Vladivostok time, UTC+10:00" in popup and "UTC" in popup and "km" in popup
    assert re.search(r"state\s+(running|halted)", popup), popup
    driver.execute_script("window.trainsim.train.closePopup()")

    # opened where the train is highest on the page, the popup comes into view, clear of the
    # title (it opened above the page's edge, under the title: it does not follow the train)
    driver.execute_script("""
        var t = window.trainsim, best = 0, top = 1e9;
        for (var i = 0; i < t.frames; i++) {
          t.show(i);
          var y = t.map.latLngToContainerPoint(t.train.getLatLng()).y;
          if (y < top) { top = y; best = i; }
        }
        t.show(best);""")
    driver.find_element(By.CSS_SELECTOR, ".leaflet-map-pane .ts-train").click()
    # the pan is animated: wait until it has ended (the popup no longer moves)
    box = _wait(driver, """
        function box(s) { var r = document.querySelector(s).getBoundingClientRect();
                          return [r.left, r.top, r.right, r.bottom]; }
        var now = [box('.leaflet-popup'), box('.leaflet-container'), box('.ts-title')];
        var last = window.__lastBox, pan = window.trainsim.map._panAnim;
        window.__lastBox = JSON.stringify(now);
        return last === window.__lastBox && !(pan && pan._inProgress) && now;""")
    assert box, "the popup never came to rest"
    (left, top, right, bottom), page, title = box
    assert page[0] <= left and page[1] <= top and right <= page[2] and bottom <= page[3], box
    assert top >= title[3] or left >= title[2] or right <= title[0], box
    driver.execute_script("window.trainsim.train.closePopup(); window.trainsim.fit()")

    # a reported place: one popup with its events and the reported time
    driver.execute_script("window.trainsim.train.closePopup()")
    driver.find_element(By.CSS_SELECTOR, '.ts-reported[data-place="Vladivostok"]').click()
    # (the train's popup may still be fading out: wait for the place's)
    popup = _wait(driver, "var p = document.querySelectorAll('.leaflet-popup-content');"
                          "p = p[p.length - 1]; return p && p.innerText.startsWith("
                          "'Vladivostok') && p.innerText;")
    assert popup and "arrives" in popup, popup
    assert re.search(r"reported\s+2019-04-24 17:50–18:01", popup), popup
    assert "UTC+10:00" in popup
    driver.save_screenshot(str(tmp_path / "map.png"))
    assert (tmp_path / "map.png").stat().st_size > 30_000

    driver.execute_script("window.trainsim.map.setZoom(9)")
    assert _wait(driver, "return window.trainsim.map.getPane('ts-minor').style.display === ''")

    logs = driver.get_log("browser")
    assert not [e for e in logs if e.get("source") == "console-api"], "the page logs"
    errors = [e for e in logs if e["level"] == "SEVERE" and "ERR_" not in e["message"]]
    assert not errors, errors  # only the tiles' failed requests (offline) are allowed
