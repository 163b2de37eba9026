"""The nowcast's map in headless Chromium, offline: it opens on the likely position now (the
band along the line, the sightings), with the time control set to now and no console output."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no headless Chromium installed"),
]


@pytest.mark.slow
@pytest.mark.no_cover
def test_nowcast_map_opens_on_the_position_now(network, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = tmp_path / "nowcast"
    assert main(["nowcast", str(ROOT / "scenarios" / "vladivostok-2019.yaml"),
                 "--seen", "passing Ussuriysk 2019-04-24 15:30 +10:00",
                 "--now", "2019-04-24 16:40 +10:00", "--particles", "300",
                 "--out", str(out)]) == 0
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,860", "--host-resolver-rules=MAP * ~NOTFOUND"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver: Any = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get((out / "map.html").as_uri())
        deadline = time.time() + 10
        while not driver.execute_script(
                "return window.trainsim && document.querySelectorAll("
                "'.leaflet-ts-now-pane path').length >= 3") and time.time() < deadline:
            time.sleep(0.1)
        # two band lines and one ring per sighting, in the nowcast's pane
        assert driver.execute_script(
            "return document.querySelectorAll('.leaflet-ts-now-pane path').length") == 3
        title = driver.find_element("css selector", ".ts-title").text
        assert title.startswith("Nowcast:")
        clock = driver.find_element("css selector", ".ts-clock").text
        assert re.search(r"24 Apr 2019, 16:(3\d|4\d)", clock), clock
        legend = driver.execute_script(
            "return document.querySelector('.ts-legend').textContent")
        assert "likely position now" in legend and "sighting" in legend
        # the view is the neighbourhood of the train, not the whole route
        assert driver.execute_script("return window.trainsim.map.getZoom()") >= 7
        driver.save_screenshot(str(tmp_path / "nowcast-map.png"))
        logs = [e for e in driver.get_log("browser") if e["source"] != "network"]  # tiles fail
        assert logs == []
    finally:
        driver.quit()
