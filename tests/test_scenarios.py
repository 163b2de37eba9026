"""Scenario files: the five flagship scenarios validate; bad input gives one line and exit 2."""

from __future__ import annotations

import json
import re
import runpy
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml

from simulator import RailNetwork, plan_scenario, simulate
from simulator.cli import main
from simulator.planning import Prepared, prepare
from simulator.scenario import load_scenario, parse_clock_time

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
BASE = (ROOT / "scenarios" / "vladivostok-2019.yaml").read_text(encoding="utf-8")


def test_five_flagship_scenarios() -> None:
    names = {p.stem for p in SCENARIOS}
    assert names == {"hanoi-2019", "hanoi-2019-return", "vladivostok-2019", "vostochny-2023",
                     "vladivostok-2023-expected"}
    for p in SCENARIOS:
        sc = load_scenario(p)
        assert sc.name == p.stem
        assert sc.rules().caps, "every scenario uses the shared defaults"


@pytest.mark.no_cover
def test_validate_all(network, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", *map(str, SCENARIOS)]) == 0
    out = capsys.readouterr().out
    assert out.count("valid.") == 5


def test_return_trip_reported_times_carry_their_sources() -> None:
    sc = load_scenario(ROOT / "scenarios" / "hanoi-2019-return.yaml")
    assert sc.reported.times, "journeys.md 2a–2f report the return"
    for t in sc.reported.times:
        assert t.sources and all(s.strip() for s in t.sources), t.id


def test_clock_times_need_a_zone() -> None:
    assert parse_clock_time("2019-02-23 17:00 +09:00").utcoffset().total_seconds() == 9 * 3600
    assert parse_clock_time("2023-09-13 13:00 Asia/Yakutsk").utcoffset().total_seconds() \
        == 9 * 3600
    assert parse_clock_time("2017-01-01 12:00 Asia/Pyongyang").utcoffset().total_seconds() \
        == 8.5 * 3600  # UTC+8:30 from 2015 to 2018
    with pytest.raises(ValueError, match="no time zone"):
        parse_clock_time("2019-02-23 17:00")


def _run_bad(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str],
             name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(path), "-n", "4", "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err
    assert str(path) in err
    assert not out.exists() or not any(out.iterdir()), "half-written outputs left behind"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    return err


def test_malformed_yaml(tmp_path: Path, network, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("title: Khasan", "title: [Khasan"), capsys)
    assert "malformed YAML" in err and "bad.yaml:" in err


def test_unknown_field(tmp_path: Path, network, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("replications: 500", "replications: 500\nspeed: 3"),
                   capsys)
    line = next(i for i, t in enumerate(BASE.replace(
        "replications: 500", "replications: 500\nspeed: 3").splitlines(), 1) if t == "speed: 3")
    assert f"bad.yaml:{line}: field 'speed': unknown field" in err


def test_unknown_station_suggests_closest(tmp_path: Path, network,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("- at: Vladivostok", "- at: Vladivostk"), capsys)
    assert "field 'route.stops.2.at'" in err
    assert "unknown station 'Vladivostk'" in err and "closest: Vladivostok" in err


def test_clock_time_without_zone(tmp_path: Path, network,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace('depart: "2019-04-24 10:40 +10:00"',
                                          'depart: "2019-04-24 10:40"'), capsys)
    assert "route.stops.0.depart" in err and "no time zone" in err


def test_stops_in_impossible_order(tmp_path: Path, network,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Wuchang lies between Tianjin and Changsha: after Changsha it cannot be reached
    hanoi = (ROOT / "scenarios" / "hanoi-2019.yaml").read_text(encoding="utf-8")
    text = hanoi.replace("    - at: Wuchang\n    - at: Changsha\n",
                         "    - at: Changsha\n    - at: Wuchang\n")
    err = _run_bad(tmp_path, text, capsys)
    assert "field 'route.stops.4.at'" in err
    assert "impossible order: 'Wuchang' lies between 'Tianjin' and 'Changsha'" in err


def test_reported_times_in_impossible_order(tmp_path: Path, network,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace('["2019-04-24 17:50 +10:00", "2019-04-24 18:01 +10:00"]',
                        '"2019-04-24 09:00 +10:00"')
    err = _run_bad(tmp_path, text, capsys)
    assert "impossible order" in err and "reported.times.2.time" in err


def test_unreachable_stop(tmp_path: Path, network, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("- at: Vladivostok", "- at: Xiongan"), capsys)
    assert "not connected" in err and "nearest network nodes" in err


def test_gauge_cannot_run_the_route(tmp_path: Path, network,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("gauge: 1520", "gauge: 1435"), capsys)
    assert "gauge" in err and "no gauge change is allowed" in err


def test_missing_rolling_stock_file(tmp_path: Path, network,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("locomotive: ru-tep70", "locomotive: ru-tep99"), capsys)
    assert "field 'train.locomotive'" in err and "available:" in err


def test_missing_network_file(tmp_path: Path, network, capsys: pytest.CaptureFixture[str]) -> None:
    err = _run_bad(tmp_path, BASE.replace("train:\n", "network: nowhere.osm.bz2\ntrain:\n", 1),
                   capsys)
    assert "nowhere.osm.bz2" in err


def test_missing_scenario_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "none.yaml: file not found" in err


def test_override_needs_a_reason(tmp_path: Path, network,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE + ("operating:\n  caps:\n    - country: RU\n      kmh: 60\n"
                   "      assumption: slower\n")
    err = _run_bad(tmp_path, text, capsys)
    assert "say why in 'reason'" in err


def test_number_needs_a_source(tmp_path: Path, network,
                               capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace(
        "  locomotive: ru-tep70\n",
        "  locomotive: ru-tep70\n  cars:\n    value: 12\n", 1)
    err = _run_bad(tmp_path, text, capsys)
    assert "train.cars" in err and "'source'" in err


def test_inline_rolling_stock(tmp_path: Path, network: RailNetwork,
                              flagship: Callable[[str], Prepared]) -> None:
    data = yaml.safe_load(BASE)
    loco = yaml.safe_load((ROOT / "data" / "rolling_stock" / "ru-tep70.yaml").read_text(
        encoding="utf-8"))
    loco["id"] = "tep70-single"
    loco["units"] = {"value": 1, "assumption": "one unit only, to test inline stock"}
    data["train"]["locomotive"] = loco
    path = tmp_path / "inline.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    prep = prepare(load_scenario(path), network=network)
    assert prep.sections[0].dynamics.label.startswith("1× tep70-single")
    # one unit instead of two: less power, so the run cannot be faster
    two = flagship("vladivostok-2019")
    assert prep.day.running_time_s >= two.day.running_time_s


# ----------------------------------------------------------------------------------------------
# the schema editors use
# ----------------------------------------------------------------------------------------------
SCHEMA = ROOT / "scenarios" / "scenario.schema.json"


def test_the_committed_schema_is_what_trainsim_schema_prints(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(SCHEMA.read_text(encoding="utf-8")), (
        "the scenario format changed: run `trainsim schema > scenarios/scenario.schema.json`")


def test_python_m_simulator_is_trainsim(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["trainsim", "schema"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("simulator", run_name="__main__")
    assert done.value.code == 0
    assert json.loads(capsys.readouterr().out)["title"] == "trainsim scenario"


def test_flagship_scenarios_name_the_schema_and_follow_it() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    for path in SCENARIOS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=scenario.schema.json\n"), path
        assert list(validator.iter_errors(yaml.safe_load(text))) == [], path
    # and it tells an editor what is wrong: an unknown field, a bad choice, a bad clock
    data = yaml.safe_load(BASE)
    data["speed"] = 3
    data["halts"][0]["kind"] = "picnic"
    data["operating"] = {"night": [{"country": "RU", "start": "25:00", "end": "05:00",
                                    "mode": "halt", "reason": "x", "assumption": "x"}]}
    paths = {tuple(e.path) for e in validator.iter_errors(data)}
    assert {(), ("halts", 0, "kind"), ("operating", "night", 0, "start")} <= paths


# ----------------------------------------------------------------------------------------------
# night rules, as in the README's example
# ----------------------------------------------------------------------------------------------
@pytest.mark.no_cover
def test_the_readme_night_halt_example(tmp_path: Path, network: RailNetwork,
                                       flagship: Callable[[str], Prepared]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"```yaml\n(operating:\n.*?)```", readme, re.DOTALL)
    assert found, "the README's night-halt example"
    data = yaml.safe_load((ROOT / "scenarios" / "vostochny-2023.yaml").read_text("utf-8"))
    data.update(yaml.safe_load(found[1]))
    path = tmp_path / "vostochny-night.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    base = simulate(flagship("vostochny-2023"), replications=100, seed=1, workers=1)
    night = simulate(plan_scenario(path, network=network), replications=100, seed=1, workers=1)
    # in North Korea the train stands from 23:00 to 05:00 local time: a night or two
    halts = night.events[night.events["kind"] == "night_halt"]
    assert len(halts)
    for when, minutes in zip(halts["time_local"], halts["duration_min"], strict=True):
        start = datetime.strptime(when[:16], "%Y-%m-%d %H:%M")
        assert start.hour >= 23 or start.hour < 5, when  # inside the window
        end = start + timedelta(minutes=float(minutes))  # until it ends (times to the minute)
        five = end.replace(hour=5, minute=0)
        assert abs((end - five).total_seconds()) <= 60, (when, minutes)
    legs = base.comparison.set_index("leg")["sim_median_h"]
    later = night.comparison.set_index("leg")["sim_median_h"]
    assert 6 < later["Pyongyang → Khasan"] - legs["Pyongyang → Khasan"] <= 12
    # in Russia nothing changes
    assert later["Khasan → Ussuriysk"] == pytest.approx(legs["Khasan → Ussuriysk"], abs=0.05)
