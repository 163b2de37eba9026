"""Sightings: reading them, placing them on a route, refusing impossible sets; the nowcast
command's bad inputs (exit 2, one line) and its outputs."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from simulator.cli import main
from simulator.errors import SightingError
from simulator.sightings import (
    SightingKind,
    parse_sighting,
    parse_uncertainty,
    place_sightings,
    read_sightings,
)

ROOT = Path(__file__).resolve().parents[1]
HANOI = ROOT / "scenarios" / "hanoi-2019.yaml"
VLADIVOSTOK = ROOT / "scenarios" / "vladivostok-2019.yaml"


@pytest.mark.parametrize(("text", "place", "kind", "minutes"), [
    ("Tianjin 2019-02-24 13:00 +08:00", "Tianjin", SightingKind.PASSING, 15),
    ("passing Tianjin 2019-02-24 13:00 +08:00 ±20m", "Tianjin", SightingKind.PASSING, 20),
    ("stopped at Changsha 2019-02-25 13:10 Asia/Shanghai", "Changsha", SightingKind.STOPPED,
     15),
    ("arrived at Dong Dang 2019-02-26 08:13 +07:00 +-1h", "Dong Dang", SightingKind.ARRIVED,
     60),
    ("left  P'yŏngyang   2019-02-23 17:00 +09:00 ± 5 min", "P'yŏngyang",
     SightingKind.DEPARTED, 5),
    ("40.1,124.39 2019-02-23 21:20 +08:00", "40.1,124.39", SightingKind.PASSING, 15),
])
def test_parse(text: str, place: str, kind: SightingKind, minutes: float) -> None:
    s = parse_sighting(text)
    assert (s.place, s.kind, s.uncertainty_s) == (place, kind, minutes * 60)
    assert s.earliest.utcoffset() is not None and s.earliest == s.latest


def test_parse_takes_the_default_uncertainty() -> None:
    assert parse_sighting("Tianjin 2019-02-24 13:00 +08:00",
                          default_uncertainty_min=40).uncertainty_s == 2400


@pytest.mark.parametrize(("text", "expected"), [
    ("Tianjin 2019-02-24 13:00", "has no zone"),
    ("Tianjin", "expected 'PLACE TIME'"),
    ("2019-02-24 13:00 +08:00", "no place"),
    ("Tianjin 2019-02-24 13:00 +08:00 ±0m", "more than 0"),
    ("95.0,124.0 2019-02-24 13:00 +08:00", "not 'lat,lon'"),
    ("Tianjin 2019-02-24 13:00 Mars/Olympus", "unknown time zone"),
])
def test_parse_refuses(text: str, expected: str) -> None:
    with pytest.raises(SightingError, match=expected) as info:
        parse_sighting(text, origin=f"--seen {text!r}")
    assert "\n" not in str(info.value)
    assert str(info.value).startswith("--seen")


def test_uncertainty_forms() -> None:
    assert parse_uncertainty("±20m") == 1200
    assert parse_uncertainty("1.5h") == 5400
    assert parse_uncertainty("25") == 1500


def test_sightings_file(tmp_path: Path) -> None:
    path = tmp_path / "seen.csv"
    path.write_text("place,time,uncertainty,kind\n"
                    "Tianjin,2019-02-24 13:00 +08:00,20m,passing\n"
                    "\"40.1,124.39\",2019-02-23 21:20 +08:00,,\n"
                    "Changsha,2019-02-25 13:10 +08:00,10,stopped\n", encoding="utf-8")
    got = read_sightings(path)
    assert [s.kind for s in got] == [SightingKind.PASSING, SightingKind.PASSING,
                                     SightingKind.STOPPED]
    assert [s.uncertainty_s for s in got] == [1200, 900, 600]
    assert got[2].origin.endswith("row 3")
    bad = tmp_path / "bad.csv"
    bad.write_text("place,time\nTianjin,2019-02-24 13:00\n", encoding="utf-8")
    with pytest.raises(SightingError, match=r"bad.csv:2: .*no zone"):
        read_sightings(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("place,time,kind\nTianjin,2019-02-24 13:00 +08:00,flying\n",
                     encoding="utf-8")
    with pytest.raises(SightingError, match=r"wrong.csv:2: kind: expected"):
        read_sightings(wrong)


@pytest.fixture(scope="session")  # not per module: slow tests run first, apart from theirs
def hanoi(network):
    from simulator.planning import build_itinerary
    from simulator.scenario import load_scenario

    scenario = load_scenario(HANOI)
    return scenario, build_itinerary(scenario, network)


def test_place_on_the_route(network, hanoi) -> None:
    _, itinerary = hanoi
    route = itinerary.route
    placed = place_sightings([
        parse_sighting("Tianjin 2019-02-24 13:00 +08:00"),
        parse_sighting("border KP-CN 2019-02-23 21:20 +08:00"),
        parse_sighting("Dandong 2019-02-23 21:25 +08:00"),
        parse_sighting("39.0,121.0 2019-02-23 21:25 +08:00"),
    ][:3], route, network)
    tianjin, border, dandong = placed
    assert tianjin.snap_km == 0 and tianjin.km == pytest.approx(1156.4, abs=1)
    assert border.snap_km == 0 and border.km == pytest.approx(225.9, abs=1)
    # Dandong station is a few km off the through line the route takes: snapped and reported
    assert dandong.km == pytest.approx(border.km, abs=10)
    assert dandong.snap_km < 5


@pytest.mark.parametrize(("text", "expected"), [
    ("Tinajin 2019-02-24 13:00 +08:00", "unknown station 'Tinajin'; closest: .*Tianjin"),
    ("Vladivostok 2019-02-24 13:00 +08:00", "km from the route"),
    ("39.0,121.0 2019-02-24 13:00 +08:00", "km from the route"),
    ("border CN-RU 2019-02-24 13:00 +08:00", "no crossing"),
])
def test_place_refuses(network, hanoi, text: str, expected: str) -> None:
    _, itinerary = hanoi
    with pytest.raises(SightingError, match=expected):
        place_sightings([parse_sighting(text, origin="x")], itinerary.route, network)


def _prepare(network, *texts: str):
    from simulator.nowcast import prepare_nowcast
    from simulator.scenario import load_scenario

    return prepare_nowcast(load_scenario(HANOI), [parse_sighting(t, origin=f"--seen {t!r}")
                                                  for t in texts], network=network)


def test_sightings_in_route_order(network) -> None:
    prep, ordered, points = _prepare(network, "Wuchang 2019-02-25 07:00 +08:00",
                                     "Tianjin 2019-02-24 13:00 +08:00")
    assert [p.name for p in ordered] == ["Tianjin", "Wuchang"]
    assert points == sorted(points)
    assert prep.plan.km[points[0]] == pytest.approx(ordered[0].km, abs=0.06)


@pytest.mark.parametrize(("texts", "expected"), [
    # Wuchang lies beyond Tianjin but is said to be passed before it
    (("Tianjin 2019-02-25 13:00 +08:00", "Wuchang 2019-02-25 07:00 +08:00"),
     "sightings out of order"),
    # 1,311 km in 3 hours
    (("Tianjin 2019-02-25 13:00 +08:00", "Wuchang 2019-02-25 16:00 +08:00"),
     "sightings impossible together.*km/h"),
    # before the train left P'yŏngyang (16:30–17:00 KST)
    (("Sinuiju 2019-02-23 15:00 +09:00",), "the train leaves"),
    (("left Changsha 2019-02-25 13:00 +08:00 ±5m",
      "arrived at Changsha 2019-02-25 14:00 +08:00 ±5m"),
     "out of order"),
])
def test_impossible_sets(network, texts: tuple[str, ...], expected: str) -> None:
    with pytest.raises(SightingError, match=expected) as info:
        _prepare(network, *texts)
    assert "\n" not in str(info.value)


@pytest.mark.slow
@pytest.mark.no_cover
def test_a_fast_calibrated_pace_is_not_impossible(network, hanoi) -> None:
    # the calibration spreads the trip pace below the profile's 1: a run Tianjin → Wuchang at
    # 0.8 of the fastest the profile allows is a fast trip, not an impossible one; with the
    # hand-set rules (the pace fixed at 1) it is refused
    from scipy.special import ndtr

    from simulator.journey import draw_parameters
    from simulator.planning import prepare
    from simulator.sightings import (
        IMPOSSIBLE_SIGMAS,
        check_sightings,
        fastest_pace,
        fastest_running_s,
    )

    scenario, _ = hanoi
    prep, placed, _ = _prepare(network, "Tianjin 2019-02-24 13:00 +08:00 ±5m")
    plan = prep.plan
    assert plan.calibration is not None
    floor = fastest_pace(plan)
    # the floor is the pace a share Φ(−3) of the run's own trips beat
    share = float(np.mean(draw_parameters(plan, 3, 200_000)["pace"] < floor))
    assert share == pytest.approx(float(ndtr(-IMPOSSIBLE_SIGMAS)), abs=4e-4)
    assert floor < 0.8
    wuchang_km = next(k for k, n in zip(plan.km, plan.place, strict=True) if n == "Wuchang")
    need = fastest_running_s(plan, placed[0].km, float(wuchang_km))
    seen = datetime(2019, 2, 24, 13, 0, tzinfo=timezone(timedelta(hours=8))) + timedelta(
        seconds=0.8 * need)
    texts = ("Tianjin 2019-02-24 13:00 +08:00 ±5m",
             f"Wuchang {seen:%Y-%m-%d %H:%M} +08:00 ±5m")
    prep, placed, _ = _prepare(network, *texts)  # accepted
    hand = prepare(scenario, network=network, defaults="hand").plan
    assert fastest_pace(hand) == 1.0
    with pytest.raises(SightingError, match=r"impossible together.*even at its top speed \("):
        check_sightings(placed, hand, origin="Pyongyang", destination="Dong Dang",
                        min_pace=fastest_pace(hand))
    too_soon = seen - timedelta(seconds=0.5 * need)  # 0.3 of the fastest: beyond the floor
    with pytest.raises(SightingError, match="fastest trip pace allowed"):
        _prepare(network, texts[0], f"Wuchang {too_soon:%Y-%m-%d %H:%M} +08:00 ±5m")


# ----------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("seen", "expected"), [
    ("Tinajin 2019-02-24 13:00 +08:00", "unknown station 'Tinajin'"),
    ("39.0,121.0 2019-02-24 13:00 +08:00", "km from the route"),
    ("Tianjin 2019-02-24 13:00", "has no zone"),
    ("Wuchang 2019-02-23 20:00 +08:00", "impossible together|out of order|the train leaves"),
])
def test_bad_sighting_exits_2_with_one_line(tmp_path: Path, seen: str, expected: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nowcast"
    code = main(["nowcast", str(HANOI), "--seen", "Tianjin 2019-02-24 13:00 +08:00",
                 "--seen", seen, "--particles", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trainsim: error: ")
    import re

    assert re.search(expected, lines[0]), lines[0]
    assert not out.exists()


def test_sighting_after_now_is_refused(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["nowcast", str(HANOI), "--seen", "Tianjin 2019-02-24 13:00 +08:00",
                 "--now", "2019-02-24 12:00 +08:00", "--particles", "50",
                 "--out", str(tmp_path / "n")])
    assert code == 2
    assert "after --now" in capsys.readouterr().err


@pytest.mark.slow
def test_nowcast_writes_its_outputs(tmp_path: Path, network,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "hanoi-2019" / "nowcast"
    assert main(["nowcast", str(HANOI), "--seen", "Tianjin 2019-02-24 13:00 +08:00 ±20m",
                 "--seen", "stopped at Changsha 2019-02-25 13:20 +08:00",
                 "--now", "2019-02-25 20:00 +08:00", "--particles", "400",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "ESS" in text and "now (2019-02-25 20:00+08:00)" in text
    for name in ("eta.csv", "sightings.csv", "eta.png", "timedistance.png", "map.html",
                 "summary.md", "manifest.json"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "eta.csv").open(encoding="utf-8")))
    assert rows[0]["place"] == "Changsha" and rows[0]["event"] == "depart"
    assert rows[-1]["event"] == "road_arrive"
    dong_dang = next(r for r in rows if r["place"] == "Đồng Đăng")
    assert dong_dang["reported"].startswith("2019-02-26 08:10")
    for r in rows:
        for key in ("median", "p05", "p95", "prior_median"):
            assert r[f"{key}_utc"].endswith("Z")
            assert "UTC+" in r[f"{key}_local"]
        assert r["p05_utc"] <= r["median_utc"] <= r["p95_utc"]
    seen = list(csv.DictReader((out / "sightings.csv").open(encoding="utf-8")))
    assert [s["kind"] for s in seen] == ["passing", "stopped"]
    assert all(float(s["ess"]) > 0 for s in seen)
    html = (out / "map.html").read_text(encoding="utf-8")
    assert "Nowcast:" in html and "likely position now" in html
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["command"] == "nowcast" and len(manifest["sightings"]) == 2


@pytest.mark.slow
def test_a_nowcast_folder_inside_a_run_folder(tmp_path: Path, network,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The nowcast's folder sits inside the scenario's run folder; a later run keeps it."""
    run = tmp_path / "vladivostok-2019"
    out = run / "nowcast"
    nowcast = ["nowcast", str(VLADIVOSTOK), "--seen", "passing Ussuriysk 2019-04-24 15:30 +10:00",
               "--particles", "100", "--out", str(out)]
    assert main(nowcast) == 0
    # a run into the scenario's folder keeps the nowcast inside it
    assert main(["run", str(VLADIVOSTOK), "-n", "20", "--workers", "1", "--quiet",
                 "--out", str(run)]) == 0
    assert (out / "eta.csv").is_file() and (run / "timeline.csv").is_file()
    # and the nowcast can be written again
    assert main(nowcast) == 0
    # a nowcast folder someone changed is no longer trainsim's: the run refuses to touch it
    (out / "eta.csv").write_text("edited", encoding="utf-8")
    capsys.readouterr()
    assert main(["run", str(VLADIVOSTOK), "-n", "20", "--workers", "1", "--quiet",
                 "--out", str(run)]) == 2
    assert "nowcast" in capsys.readouterr().err


def test_replay_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "replay"
    assert main(["nowcast", "--replay", str(HANOI),
                 str(ROOT / "scenarios" / "vladivostok-2023-expected.yaml"), "--particles",
                 "300", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "final arrival, sightings up to the trip's midpoint" in text
    assert "not replayed" in text  # the expected 2023 trip has one reported time
    rows = list(csv.DictReader((out / "replay.csv").open(encoding="utf-8")))
    assert {r["scenario"] for r in rows} == {"hanoi-2019"}
    # five replays (after 1 … 5 of the six reported times), each predicting the rest
    assert len(rows) == 5 + 4 + 3 + 2 + 1
    assert sum(r["midpoint_replay"] == "yes" and r["final_arrival"] == "yes"
               for r in rows) == 1
    assert (out / "replay.png").is_file() and (out / "replay.md").is_file()


def test_scenario_sets_the_default_uncertainty(tmp_path: Path) -> None:
    import yaml

    from simulator.nowcast import sighting_uncertainty_min
    from simulator.scenario import load_scenario

    data = yaml.safe_load(HANOI.read_text(encoding="utf-8"))
    data["nowcast"] = {"uncertainty_min": {"value": 40, "assumption": "test"}}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert sighting_uncertainty_min(load_scenario(path)) == 40
    assert sighting_uncertainty_min(load_scenario(HANOI)) == 15


def test_describe_round_trips() -> None:
    s = parse_sighting("stopped at Changsha 2019-02-25 13:10 +08:00 ±20m", origin="x")
    again = parse_sighting(s.describe().replace(" at 2019", " 2019"), origin="x")
    assert again == s
    assert again.earliest == datetime.fromisoformat("2019-02-25 13:10+08:00")
