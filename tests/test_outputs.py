"""`trainsim run` and `trainsim compare`: every output file, golden results, reproducibility."""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from simulator import simulate
from simulator._io import write_csv
from simulator.cli import build_parser, main
from simulator.planning import Prepared
from simulator.reports import replication_events, timeline_rows

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "data" / "golden"
FILES = ["timeline.csv", "events.csv", "route.geojson", "map.png", "map.html", "journey.gpkg",
         "journey.kml", "timedistance.png", "comparison.png", "logistics.csv", "traction.csv",
         "summary.md", "manifest.json"]


def test_run_writes_every_output(vladivostok_run: Path) -> None:
    for name in FILES:
        assert (vladivostok_run / name).stat().st_size > 0, name
    assert not [p for p in vladivostok_run.parent.iterdir() if p.name.startswith(".")]


def test_timeline_has_bands_in_local_time_and_utc(vladivostok_run: Path) -> None:
    rows = list(csv.DictReader((vladivostok_run / "timeline.csv").open(encoding="utf-8")))
    # the train reached Khasan at 10:40 (the scenario's origin) and left after the welcome
    first = next(r for r in rows if r["event"] == "depart")
    assert rows[0]["event"] == "ceremony" and rows[0]["median_local"].startswith(
        "2019-04-24 10:40")
    assert first["place"] == "Khasan" and first["median_local"] > rows[0]["median_local"]
    assert first["median_local"].endswith("UTC+10:00") and first["median_utc"].endswith("Z")
    kinds = {r["event"] for r in rows}
    assert {"depart", "locomotive_change", "arrive", "station"} <= kinds
    last = next(r for r in rows if r["event"] == "arrive" and r["place"] == "Vladivostok")
    assert last["p05_utc"] <= last["median_utc"] <= last["p95_utc"]
    assert last["reported"].startswith("2019-04-24 17:50–18:01")


def test_events_of_one_replication(vladivostok_run: Path) -> None:
    rows = list(csv.DictReader((vladivostok_run / "events.csv").open(encoding="utf-8")))
    trains = {r["train"] for r in rows}
    assert trains == {"leader", "pilot"}
    leader = [r for r in rows if r["train"] == "leader"]
    assert leader[0]["kind"] == "depart" and leader[-1]["kind"] == "arrive"
    assert any(r["kind"] == "locomotive_change" and r["place"] == "Ussuriysk" for r in leader)
    assert all(r["cause"] for r in leader if r["kind"] not in ("pass", "depart", "arrive"))


def test_geojson_and_summary(vladivostok_run: Path) -> None:
    gj = json.loads((vladivostok_run / "route.geojson").read_text(encoding="utf-8"))
    assert gj["type"] == "FeatureCollection" and "OpenStreetMap" in gj["properties"]["attribution"]
    summary = (vladivostok_run / "summary.md").read_text(encoding="utf-8")
    assert "| leg | kind | reported (h)" in summary and "Khasan → Vladivostok" in summary
    assert "OpenStreetMap" in summary


def test_map_html_is_self_contained(vladivostok_run: Path) -> None:
    html = (vladivostok_run / "map.html").read_text(encoding="utf-8")
    assert "<script src=" not in html and "stylesheet" not in html.split("<body")[0].replace(
        "<style>", "")
    assert "trainsimMap(" in html and "L.polyline" in html


def test_golden_comparison(vladivostok_run: Path) -> None:
    """The reported-vs-simulated table for a fixed seed, against tests/data/golden."""
    summary = (vladivostok_run / "summary.md").read_text(encoding="utf-8")
    section = summary.split("## Reported figures against the simulation")[1].split("\n## ")[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("| ")) + "\n"
    golden = GOLDEN / "vladivostok-2019-n60-seed1.md"
    assert table == golden.read_text(encoding="utf-8"), (
        f"the table differs from {golden}; if the model changed on purpose, replace that file "
        "with the table of `trainsim run scenarios/vladivostok-2019.yaml -n 60 --seed 1` and "
        "say why in the commit")


def _written(folder: Path, rows: list[dict[str, object]]) -> bytes:
    write_csv(folder / "x.csv", rows)
    return (folder / "x.csv").read_bytes()


def test_same_seed_same_outputs(vladivostok_run: Path, flagship: Callable[[str], Prepared],
                                tmp_path: Path) -> None:
    # the same seed in one process instead of the run's pool: the same tables, bit for bit
    again = simulate(flagship("vladivostok-2019"), replications=60, seed=1, workers=1)
    assert _written(tmp_path, timeline_rows(again.analysis)) == \
        (vladivostok_run / "timeline.csv").read_bytes()
    assert _written(tmp_path, replication_events(again.analysis)) == \
        (vladivostok_run / "events.csv").read_bytes()
    assert again.summary() == (vladivostok_run / "summary.md").read_text(encoding="utf-8")


def test_outputs_state_the_seed_and_follow_it(vladivostok_run: Path,
                                              flagship: Callable[[str], Prepared],
                                              tmp_path: Path) -> None:
    manifest = json.loads((vladivostok_run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["runs"][0]["seed"] == 1 and manifest["runs"][0]["replications"] == 60
    assert sorted(manifest["files"]) == sorted(FILES[:-1])
    assert "60 replications, seed 1 " in (vladivostok_run / "summary.md").read_text("utf-8")
    other = simulate(flagship("vladivostok-2019"), replications=8, seed=2, workers=1)
    assert "8 replications, seed 2 " in other.summary()
    # events.csv is replication 1 of the run: another seed, other events
    assert _written(tmp_path, replication_events(other.analysis)) != \
        (vladivostok_run / "events.csv").read_bytes()


@pytest.mark.no_cover
def test_compare_checks_every_file_before_simulating(
        network, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "scenarios" / "vladivostok-2019.yaml").read_text("utf-8").replace(
        "- at: Vladivostok", "- at: Vladivostk"), encoding="utf-8")
    out = tmp_path / "cmp"
    # 100,000 replications of the first would take minutes: the second file fails first
    code = main(["compare", str(ROOT / "scenarios" / "vostochny-2023.yaml"), str(bad), "-n",
                 "100000", "--quiet", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "route.stops.2.at" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.slow
def test_compare_writes_one_table_and_figure(network, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compare", str(ROOT / "scenarios" / "vladivostok-2019.yaml"),
                 str(ROOT / "scenarios" / "vostochny-2023.yaml"), "-n", "30", "--quiet",
                 "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "| scenario | leg |" in out and "vostochny-2023 | Ussuriysk → Vostochny" in out
    for name in ("comparison.png", "comparison.csv", "comparison.md"):
        assert (tmp_path / name).exists()
    assert (tmp_path / "vostochny-2023" / "timedistance.png").exists()
    rows = list(csv.DictReader((tmp_path / "comparison.csv").open(encoding="utf-8")))
    assert {r["scenario"] for r in rows} == {"vladivostok-2019", "vostochny-2023"}


def test_bad_option_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "scenarios/vladivostok-2019.yaml", "-n", "0"])
    assert exc.value.code == 2
    assert "expected at least 1" in capsys.readouterr().err



def test_every_help_text_prints_as_written() -> None:
    """argparse %-formats help strings but not descriptions: a ``%%`` meant for a help string
    printed as "5–95 %%" in ``trainsim sweep --help``."""

    def walk(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
        found = [parser]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += walk(sub)
        return found

    parsers = walk(build_parser())
    assert {"sweep", "calibrate", "nowcast", "route"} <= {p.prog.split()[-1] for p in parsers}
    for parser in parsers:
        text = parser.format_help()
        assert "%%" not in text and "%(" not in text, parser.prog


@pytest.mark.slow
@pytest.mark.no_cover
def test_dollar_signs_in_titles_and_sources_are_text(network, tmp_path: Path) -> None:
    r"""A scenario's title or a source with "$" is drawn as written: matplotlib's mathtext took
    "$5 to $10" for TeX (dropping the dollars) and failed on "$\x$" after the simulation, with
    exit 1, while ``validate`` called the file valid."""
    import matplotlib.pyplot as plt

    from simulator import maps
    from simulator.routing import find_route

    text = (ROOT / "scenarios" / "vladivostok-2019.yaml").read_text(encoding="utf-8")
    title = r"Khasan $\notamacro$ trip, $5 to $10 a seat"
    text = text.replace("title: Khasan → Ussuriysk → Vladivostok, 24 April 2019",
                        f"title: '{title}'")
    source = r'sources: ["RIA/TASS via Arirang: left Khasan 11:40 VLAT"]'
    assert title in text and source in text
    text = text.replace(source, r"sources: ['RIA/TASS, $\frac{1}{$ a report']")
    scenario = tmp_path / "dollars.yaml"
    scenario.write_text(text, encoding="utf-8")
    assert main(["validate", str(scenario)]) == 0
    assert main(["run", str(scenario), "-n", "8", "--out", str(tmp_path / "out"),
                 "--quiet"]) == 0
    for name in ("map.png", "timedistance.png", "comparison.png"):
        assert (tmp_path / "out" / name).stat().st_size > 10_000
    assert main(["sweep", str(scenario), "--vary", "pace=1,1.1", "-n", "8", "--out",
                 str(tmp_path / "sweep"), "--quiet"]) == 0
    assert main(["nowcast", str(scenario), "--seen", "Ussuriysk 2019-04-24 15:30 +10:00",
                 "--particles", "100", "--out", str(tmp_path / "nowcast"), "--quiet"]) == 0

    fig = maps.route_figure(find_route(network, ["Khasan", "Ussuriysk"], gauge=1520),
                            title="$5 to $10")
    try:
        fig.canvas.draw()
        shown = [t for t in fig.texts if t.get_text() == "$5 to $10"]
        assert shown and not shown[0].get_parse_math(), "drawn as TeX"
    finally:
        plt.close(fig)
