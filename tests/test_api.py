"""The Python API, as a notebook uses it: public names only (``simulator.__all__``)."""

from __future__ import annotations

import fnmatch
import runpy
import tomllib
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from simulator import (
    RailNetwork,
    ScenarioResult,
    bundled_scenarios,
    compare_scenarios,
    find_route,
    load_scenario,
    plan_scenario,
    simulate,
)
from simulator.errors import ArgumentError, DataFileError, OutputError, ScenarioError
from simulator.outputs import RUN_FILES
from simulator.planning import Prepared

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          network: RailNetwork, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    plt.close("all")
    out = capsys.readouterr().out
    assert "P'yŏngyang → Tumangang → Khasan: 855 km" in out
    assert "measured legs:" in out
    written = tmp_path / "outputs" / "example-hanoi-2019"
    assert sorted(p.name for p in written.iterdir()) == sorted([*RUN_FILES, "manifest.json"])
    assert (tmp_path / "timedistance.png").stat().st_size > 10_000


def test_tables_are_dataframes(vladivostok: ScenarioResult) -> None:
    timeline = vladivostok.timeline
    assert str(timeline["median_utc"].dt.tz) == "UTC"
    assert (timeline["p05_utc"] <= timeline["median_utc"]).all()
    assert (timeline["median_utc"] <= timeline["p95_utc"]).all()
    assert timeline["km"].is_monotonic_increasing
    legs = vladivostok.legs
    assert list(zip(legs["from"], legs["to"], strict=True)) == [
        ("Khasan", "Ussuriysk"), ("Ussuriysk", "Vladivostok")]
    route = vladivostok.prepared.route
    assert legs["km"].sum() == pytest.approx(route.length_km, abs=0.2)
    # stop to stop: the journey without the locomotive change at Ussuriysk
    assert 0.8 < legs["median_h"].sum() / np.median(vladivostok.journey_hours) < 1.0
    comparison = vladivostok.comparison
    assert set(comparison["kind"]) == {"measured", "claim"}
    measured = comparison.loc[comparison["kind"] == "measured", "leg"].tolist()
    assert "Khasan → Vladivostok" in measured
    assert isinstance(vladivostok.route, gpd.GeoDataFrame)
    assert vladivostok.route.crs.to_epsg() == 4326
    assert vladivostok.route["length_km"].sum() == pytest.approx(route.length_km, abs=0.05)
    assert set(vladivostok.events["train"]) == {"leader", "pilot"}
    assert vladivostok.breakdown.sum() == pytest.approx(np.median(vladivostok.journey_hours))
    assert "vladivostok-2019: 30 replications" in repr(vladivostok)


def test_charts(vladivostok: ScenarioResult) -> None:
    ax = vladivostok.plot_timedistance()
    assert isinstance(ax, Axes) and ax.get_ylabel() == "km from Khasan"
    _, own = plt.subplots()
    assert vladivostok.plot_comparison(ax=own) is own
    assert len(own.get_yticklabels()) == len(vladivostok.comparison)
    plt.close("all")
    assert isinstance(vladivostok.plot_map(), Figure)


def test_write_refuses_a_users_folder(vladivostok: ScenarioResult, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # (the example writes a result; this checks the folder before anything is written)
    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "outputs" / "vladivostok-2019"  # the default: outputs/<name> here
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputError, match=r"outputs/vladivostok-2019: .*notes.txt"):
        vladivostok.write()
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]


def test_bad_arguments_are_one_clear_error(flagship: Callable[[str], Prepared]) -> None:
    prep = flagship("vladivostok-2019")
    for kwargs in ({"replications": 0}, {"replications": 10**9}, {"seed": -1},
                   {"replications": True}, {"workers": 0}):
        with pytest.raises(ArgumentError, match=next(iter(kwargs))):
            simulate(prep, **kwargs)  # type: ignore[arg-type]


def test_scenarios_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = bundled_scenarios()
    assert set(names) == {"hanoi-2019", "hanoi-2019-return", "vladivostok-2019",
                          "vladivostok-2023-expected", "vostochny-2023"}
    assert load_scenario("hanoi-2019").path == names["hanoi-2019"]
    monkeypatch.chdir(tmp_path)  # a file of that name in the current folder wins
    (tmp_path / "hanoi-2019").write_text(
        names["vladivostok-2019"].read_text(encoding="utf-8"), encoding="utf-8")
    assert load_scenario("hanoi-2019").name == "vladivostok-2019"
    with pytest.raises(DataFileError, match=r"hanoi-2020: file not found .*vostochny-2023"):
        load_scenario("hanoi-2020")


def test_compare_refuses_two_scenarios_of_one_name(network: RailNetwork) -> None:
    with pytest.raises(ScenarioError, match="also the name of"):
        compare_scenarios(["vladivostok-2019", bundled_scenarios()["vladivostok-2019"]],
                          network=network)


def test_plan_without_simulating(network: RailNetwork) -> None:
    prep = plan_scenario("hanoi-2019", network=network)
    assert prep.route.stops[-1] == "Đồng Đăng"
    assert isinstance(prep.itinerary.segments, list)
    frame = prep.route.table()
    assert isinstance(frame, pd.DataFrame) and frame["length_km"].sum() > 4000


def test_the_route_maps_in_a_notebook(network: RailNetwork) -> None:
    """The README's ``route.to_geodataframe().explore(column="country")``: geopandas needs
    mapclassify for it (an ImportError on a fresh install before it was a dependency)."""
    import folium

    route = find_route(network, ["Pyongyang", "Tumangang", "Khasan"])
    segments = route.to_geodataframe()
    mapped = segments.explore(column="country")
    assert isinstance(mapped, folium.Map)
    html = mapped.get_root().render()
    assert "KP" in html and "RU" in html


def test_the_wheel_carries_every_bundled_file() -> None:
    """pyproject's package data covers every file of data/, scenarios/ and simulator/web/ (a
    folder added there without a line in pyproject would be left out of a wheel)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    setup = config["setuptools"]
    mapped = setup["package-dir"]

    def folder(package: str) -> Path:  # setuptools' rule: the longest mapped prefix
        parts = package.split(".")
        for k in range(len(parts), 0, -1):
            head = ".".join(parts[:k])
            if head in mapped:
                return ROOT / mapped[head] / "/".join(parts[k:])
        return ROOT / "/".join(parts)

    folders = {package: folder(package) for package in setup["packages"]}
    for package in setup["package-data"]:
        assert package in folders, f"package-data for {package}, which is not a package"
    code = {p.parent for p in (ROOT / "simulator").rglob("*.py")}
    missing = [str(d.relative_to(ROOT)) for d in sorted(code) if d not in folders.values()]
    assert missing == [], "Python packages not listed in pyproject.toml"
    for top in ("data", "scenarios", "simulator/web"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            owner = [p for p, f in folders.items() if f == path.parent]
            assert owner, f"{path.relative_to(ROOT)}: its folder is no package in pyproject.toml"
            patterns = setup["package-data"].get(owner[0], [])
            assert any(fnmatch.fnmatch(path.name, pat) for pat in patterns), (
                f"{path.relative_to(ROOT)}: no package-data pattern of {owner[0]} matches it")
