"""Hostile input, output folders, signals and concurrent runs (issue 10).

Everything runs in-process except the signal tests, which need a process to kill. The full list of
cases, run as a user would, is ``tests/hostile_cases.py`` (a table; not part of the suite).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import yaml

from simulator import RailNetwork, plan_scenario, settings
from simulator._outdir import MANIFEST, OutputFolder
from simulator.cli import main
from simulator.errors import DataFileError, NoConnectionError, OutputError
from simulator.montecarlo import run_monte_carlo
from simulator.network import fetch
from simulator.network.fetch import check_connection  # the real one (conftest stubs it out)
from simulator.planning import Prepared
from simulator.reports import analyse

ROOT = Path(__file__).resolve().parents[1]
BASE = (ROOT / "scenarios" / "vladivostok-2019.yaml").read_text(encoding="utf-8")
LOCO = yaml.safe_load((ROOT / "data" / "rolling_stock" / "ru-tep70.yaml").read_text("utf-8"))


def _one_line_error(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for name in names:
        assert name in err, err
    return err


def _validate(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *names: str,
              name: str = "bad.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    return _one_line_error(capsys, str(path), *names)


def _inline(**values: object) -> str:
    data = yaml.safe_load(BASE)
    loco = json.loads(json.dumps(LOCO))
    for key, value in values.items():
        loco[key]["value"] = value
    data["train"]["locomotive"] = loco
    return yaml.safe_dump(data, allow_unicode=True)


# ----------------------------------------------------------------------------------------------
# YAML limits
# ----------------------------------------------------------------------------------------------
BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]"
    for i in range(8)]) + "\n"


@pytest.mark.parametrize(("text", "expect"), [
    (BOMB, "expands to more than 100,000 values"),
    ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested more than 32 levels"),
    ("a: " + "{b: " * 100_000 + "1" + "}" * 100_000 + "\n", "nested more than 32 levels"),
    ("name: x\n# " + "x" * (1 << 20) + "\n", "larger than 1 MB"),
    ("title: !!python/object:os.system x\n", "could not determine a constructor"),
    ("? [1, 2]\n: 3\n", "a key must be a plain value"),
    ("a: &a [1, *a]\n", "line 1: the alias *a refers to the list or mapping it is inside"),
    ("x0: &x0 1\n" + "".join(f"x{i}: &x{i} " + "[" * 30 + f"*x{i - 1}" + "]" * 30 + "\n"
                             for i in range(1, 60)), "nested more than 32 levels deep (through"),
    ("name: x\ntrain:\n\tcars: 3\n", "bad.yaml:3: malformed YAML: found character that cannot "
     "start any token (a tab: indent with spaces)"),
    ("name: x\ntitle: a\x00b\n", "bad.yaml:2: malformed YAML: character U+0000 is not allowed"),
])
def test_yaml_limits(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str,
                     expect: str) -> None:
    start = time.perf_counter()
    err = _validate(tmp_path, text, capsys, expect)
    # bounded work, not a timing: the unbounded file would take minutes and gigabytes
    assert time.perf_counter() - start < 10.0, "a hostile file must fail fast"
    assert err.startswith("trainsim: error: ")


def test_not_utf8_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: Đồng Đăng".encode("utf-16"))
    assert main(["validate", str(path)]) == 2
    _one_line_error(capsys, "latin1.yaml", "not UTF-8")


# ----------------------------------------------------------------------------------------------
# numbers and fields: validate refuses what run would fail on (or run wrongly)
# ----------------------------------------------------------------------------------------------
HALT_DURATION = "    note: \"journeys.md b:"
NIGHT = ("operating:\n  night:\n    - country: RU\n      start: \"{start}\"\n      end: \"06:00\"\n"
         "      mode: {mode}\n{extra}      reason: x\n      assumption: x\n")


@pytest.mark.parametrize(("old", "new", "field"), [
    ('"2019-04-24 10:40 +10:00"', '"9999-12-31 23:40 +10:00"', "route.stops.0.depart"),
    ('"2019-04-24 10:40 +10:00"', '"0001-01-01 00:10 +10:00"', "route.stops.0.depart"),
    (HALT_DURATION, "    duration: {fixed: .inf, assumption: x}\n" + HALT_DURATION,
     "halts.0.duration.fixed"),
    (HALT_DURATION, "    duration: {fixed: 1e15, assumption: x}\n" + HALT_DURATION,
     "halts.0.duration.fixed"),
    (HALT_DURATION, "    duration: {uniform: [0, .nan], assumption: x}\n" + HALT_DURATION,
     "halts.0.duration.uniform.1"),
    ("  locomotive: ru-tep70\n", "  locomotive: ru-tep70\n  cars: {value: .inf, assumption: x}\n",
     "train.cars.value"),
    ("hours: 7", "hours: -7", "reported.legs.0.hours"),
    ("hours: 7", "hours: [9, 7]", "reported.legs.0.hours"),
    ("hours: 7", "hours: .nan", "reported.legs.0.hours"),
    ("seed: 20190424", "seed: true", "seed"),
    ("seed: 20190424", "seed: -1", "seed"),
    ("gauge: 1520", "gauge: 99", "route.gauge"),
    ("replications: 500", "replications: 1000000000", "replications"),
    ("train:\n", "network: /dev/zero\ntrain:\n", "network"),
    # a repeated id: a leg "from: depart-khasan" meant the other time and "ran backwards"
    ("id: vladivostok", "id: depart-khasan", "reported.times"),
    ("id: arirang-2h-more", "id: tass-7h-to-ussuriysk", "reported.legs"),
])
def test_bad_value_names_its_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str,
                                   new: str, field: str) -> None:
    assert old in BASE
    _validate(tmp_path, BASE.replace(old, new, 1), capsys, f"field '{field}")


@pytest.mark.parametrize(("start", "mode", "extra", "field"), [
    ("25:99", "halt", "", "operating.night.0.start"),
    ("22:00", "slow", "      speed_factor: 1e-9\n", "operating.night.0.speed_factor"),
    ("06:00", "halt", "", "operating.night.0"),
])
def test_night_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str, mode: str,
                     extra: str, field: str) -> None:
    text = BASE + NIGHT.format(start=start, mode=mode, extra=extra)
    _validate(tmp_path, text, capsys, f"field '{field}'")


@pytest.mark.parametrize(("values", "expect"), [
    ({"power_kw": 0}, "field 'train.locomotive.power_kw': must be > 0"),
    ({"power_kw": 1e-9}, "field 'train.locomotive.power_kw': must be ≥ 50 kW"),
    ({"mass_t": -100}, "field 'train.locomotive.mass_t': must be > 0 (got -100)"),
    ({"mass_t": 1e12}, "field 'train.locomotive.mass_t': must be ≤ 400 t"),
    ({"mass_t": float("nan")}, "field 'train.locomotive.mass_t.value'"),
    ({"length_m": -5}, "field 'train.locomotive.length_m'"),
    ({"resistance_a_n_per_t": -20}, "field 'train.locomotive.resistance_a_n_per_t'"),
    ({"units": 2.5}, "field 'train.locomotive.units': must be a whole number"),
])
def test_inline_rolling_stock_errors_name_the_real_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], values: dict[str, float],
        expect: str) -> None:
    err = _validate(tmp_path, _inline(**values), capsys, expect)
    assert ".str" not in err and "tag:" not in err


def test_preset_file_is_checked_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loco = json.loads(json.dumps(LOCO))
    loco["power_kw"]["value"] = -1
    preset = tmp_path / "weak.yaml"
    text = yaml.safe_dump(loco)
    preset.write_text(text, encoding="utf-8")
    line = text.splitlines().index("power_kw:") + 1  # the error names the field's line
    _validate(tmp_path, BASE.replace("locomotive: ru-tep70", f"locomotive: {preset}"), capsys,
              "field 'train.locomotive': ", f"weak.yaml:{line}: field 'power_kw': must be > 0")


def test_leg_from_and_to_swapped(tmp_path: Path, network,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("      from: Ussuriysk\n      to: vladivostok",
                        "      from: vladivostok\n      to: Ussuriysk")
    # (run checks it in the same step, before simulating: test_fuzz checks that they agree)
    _validate(tmp_path, text, capsys, "field 'reported.legs.1.to'", "runs backwards")


def test_shipped_data_stays_in_range() -> None:
    """The ranges must not reject the flagship scenarios and presets (checked at load)."""
    from simulator.rolling_stock import load_consist, load_locomotive
    from simulator.scenario import load_scenario

    for p in sorted((ROOT / "scenarios").glob("*.yaml")):
        load_scenario(p)
    for p in sorted(settings.rolling_stock_dir.glob("*.yaml")):
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        (load_consist if data["kind"] == "consist" else load_locomotive)(p)


# ----------------------------------------------------------------------------------------------
# command-line values
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("argv", "expect"), [
    (["run", "x.yaml", "-n", "1000000000"], "at most 100,000"),
    (["run", "x.yaml", "--seed", "-1"], "--seed: expected a whole number from 0"),
    (["run", "x.yaml", "--seed", "1.5"], "--seed: expected a whole number"),
    # a mistyped scheduler address failed after loading, as "failed: ValueError" (exit 1)
    (["run", "x.yaml", "--scheduler", "10.0.0.5"], "--scheduler: expected a Dask scheduler"),
    (["compare", "x.yaml", "--scheduler", "tcp://:8786"], "--scheduler: expected a Dask"),
    (["sweep", "x.yaml", "--vary", "pace=1", "--scheduler", "h:x"], "--scheduler: expected"),
])
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                              expect: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert expect in capsys.readouterr().err


@pytest.mark.parametrize("bbox", ["nan,42,131,43", "131,42,130,43", "0,-95,1,1", "1,2,3"])
def test_fetch_bbox_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               bbox: str) -> None:
    assert main(["network", "fetch", "--bbox", bbox, "--out", str(tmp_path / "x.osm")]) == 2
    _one_line_error(capsys, "--bbox")


@pytest.mark.parametrize("stops", [["Pyongyang", "Pyongyang"], ["Pyongyang", "P'yŏngyang"],
                                   ["Khasan", "Tumangang", "Tumangang"]])
def test_route_with_a_stop_repeated(tmp_path: Path, network, capsys: pytest.CaptureFixture[str],
                                    stops: list[str]) -> None:
    argv = ["route", stops[0], stops[-1], "--out", str(tmp_path / "r")]
    for via in stops[1:-1]:
        argv += ["--via", via]
    assert main(argv) == 2
    _one_line_error(capsys, "consecutive stops must be different stations")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("angle", ["nan", "-5", "inf"])
def test_route_max_angle_is_bad_input(tmp_path: Path, network, angle: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "Khasan", "Ussuriysk", "--max-angle", angle, "--out",
                 str(tmp_path / "r")]) == 2
    _one_line_error(capsys, "max angle", "expected degrees in (0, 180]")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_fetch_says_no_internet_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def hang(*args: object, **kwargs: object) -> None:
        time.sleep(5)

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    start = time.perf_counter()
    with pytest.raises(NoConnectionError, match=r"no internet: cannot reach overpass-api\.de"):
        check_connection(["https://overpass-api.de/api"], timeout=0.2)
    assert time.perf_counter() - start < 1.0

    def fail(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(NoConnectionError, match="name lookup failed"):
        check_connection(["https://overpass-api.de/api"])
    assert fetch.CONNECT_TIMEOUT_S <= 10


def test_refused_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a local port nobody listens on (no network is touched)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    with pytest.raises(NoConnectionError, match="connection failed"):
        check_connection([f"http://127.0.0.1:{port}/api"], timeout=1)


# ----------------------------------------------------------------------------------------------
# data tables
# ----------------------------------------------------------------------------------------------
GARBAGE = bytes(range(256)) * 8
ZONES_HEAD = b"country,min_lat,max_lat,min_lon,max_lon,tz,source\n"


@pytest.mark.parametrize(("content", "expect"), [
    (GARBAGE, "timezones.csv: not UTF-8"),
    (ZONES_HEAD + b"RU,north,,,,Asia/Vladivostok,x\n", "timezones.csv:2: min_lat"),
    (ZONES_HEAD + b"RU,,,,,Asia/Atlantis,x\n", "timezones.csv:2: tz: unknown time zone"),
    (b"country,tz\nRU,Asia/Vladivostok\n", "timezones.csv:1: the header lacks"),
    (None, "timezones.csv: file not found"),
])
def test_bad_timezone_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            network: RailNetwork, content: bytes | None, expect: str) -> None:
    path = tmp_path / "timezones.csv"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(settings, "timezones_file", path)
    with pytest.raises(DataFileError, match=expect.replace(".", r"\.")):
        plan_scenario("vladivostok-2019", network=network)


def _data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
               content: bytes | None) -> None:
    data = tmp_path / "data"
    (data / "rail").mkdir(parents=True)
    for f in (settings.data_dir / "rail").iterdir():
        (data / "rail" / f.name).symlink_to(f)
    (data / "rail" / name).unlink()
    if content is not None:
        (data / "rail" / name).write_bytes(content)
    monkeypatch.setattr(settings, "data_dir", data)


@pytest.mark.parametrize(("content", "expect"), [
    (GARBAGE, "aliases.csv: not UTF-8"),
    (b"Vostochny;Uglegorsk\n", "aliases.csv:1: the header lacks"),
])
def test_bad_aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes,
                     expect: str) -> None:
    from simulator.network import load_network

    _data_copy(tmp_path, monkeypatch, "aliases.csv", content)
    with pytest.raises(DataFileError, match=expect):
        load_network()


@pytest.mark.parametrize(("content", "expect"), [
    (None, "chainage_checks.csv: file not found"),
    (b"from,to,published_km,source\nRajin,Khasan,abc,x\n", "chainage_checks.csv:2: published_km"),
    (b"from,to,published_km,source\nRajin,Atlantis,54,x\n", "unknown station 'Atlantis'"),
])
def test_bad_chainage_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network,
                            content: bytes | None, expect: str) -> None:
    from simulator.network.checks import length_checks

    _data_copy(tmp_path, monkeypatch, "chainage_checks.csv", content)
    with pytest.raises(DataFileError, match=expect):
        length_checks(network)


# ----------------------------------------------------------------------------------------------
# output folders
# ----------------------------------------------------------------------------------------------
def _write(folder: OutputFolder, **files: str) -> list[str]:
    assert folder.path is not None
    for name, text in files.items():
        (folder.path / name).write_text(text, encoding="utf-8")
    return folder.commit(command="test")


def test_new_folder_gets_outputs_and_manifest(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    with OutputFolder(target).claim() as f:
        assert _write(f, **{"x.csv": "1"}) == ["x.csv"]
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["tool"] == "trainsim" and set(manifest["files"]) == {"x.csv"}
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


def test_previous_output_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with OutputFolder(target).claim() as f:
        _write(f, **{"old.csv": "1", "both.csv": "1"})
    with OutputFolder(target).claim() as f:
        _write(f, **{"both.csv": "2"})
    assert sorted(p.name for p in target.iterdir()) == ["both.csv", MANIFEST]
    assert (target / "both.csv").read_text(encoding="utf-8") == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("change", ["add", "edit", "no-manifest"])
def test_user_files_are_never_replaced(tmp_path: Path, change: str) -> None:
    target = tmp_path / "out"
    with OutputFolder(target).claim() as f:
        _write(f, **{"summary.md": "trainsim's"})
    if change == "add":
        (target / "thesis.tex").write_text("precious", encoding="utf-8")
    elif change == "edit":
        (target / "summary.md").write_text("my notes", encoding="utf-8")
    else:
        (target / MANIFEST).unlink()
    before = sorted((p.name, p.read_bytes()) for p in target.iterdir())
    with pytest.raises(OutputError, match="holds files trainsim did not write"):
        OutputFolder(target).claim()
    assert sorted((p.name, p.read_bytes()) for p in target.iterdir()) == before
    # --replace replaces it on request
    with OutputFolder(target, replace=True).claim() as f:
        _write(f, **{"new.csv": "1"})
    assert sorted(p.name for p in target.iterdir()) == [MANIFEST, "new.csv"]


def test_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "report.pdf"
    target.write_text("mine", encoding="utf-8")
    for replace in (False, True):
        with pytest.raises(OutputError, match="is a file, not a folder"):
            OutputFolder(target, replace=replace).claim()
    assert target.read_text(encoding="utf-8") == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_home_cwd_and_repository_are_never_output_folders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "work").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home / "work")
    for target, why in ((home, "home folder"), (home / "work", "current folder"),
                        (tmp_path, "a folder above the current one"),
                        (settings.root, "trainsim"), (Path("/"), "root"),
                        (Path("/tmp"), "top-level")):
        with pytest.raises(OutputError, match=why):
            OutputFolder(target, replace=True).claim()


def test_unwritable_parent_fails_before_simulating(capsys: pytest.CaptureFixture[str]) -> None:
    # as root nothing is read-only but a read-only file system: /proc stands in for one
    start = time.perf_counter()
    code = main(["run", str(ROOT / "scenarios" / "vladivostok-2019.yaml"), "-n", "100000",
                 "--out", "/proc/trainsim-out", "--quiet"])
    assert code == 2 and time.perf_counter() - start < 5
    _one_line_error(capsys, "--out /proc/trainsim-out")


def test_run_refuses_a_users_folder_before_simulating(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "thesis.tex").write_text("precious", encoding="utf-8")
    code = main(["run", str(ROOT / "scenarios" / "vladivostok-2019.yaml"), "-n", "100000",
                 "--out", str(d), "--quiet"])
    assert code == 2
    _one_line_error(capsys, str(d), "thesis.tex", "--replace")
    assert (d / "thesis.tex").read_text(encoding="utf-8") == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]



@pytest.mark.parametrize("command", ["run", "compare", "sweep", "nowcast"])
def test_replace_never_takes_the_runs_own_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    # the refusal of a user's folder says "add --replace"; done with the folder that holds the
    # scenario, that deleted the scenario
    trip = tmp_path / "mytrip"
    trip.mkdir()
    scenario = trip / "trip.yaml"
    scenario.write_text(BASE, encoding="utf-8")
    extra = {"sweep": ["--vary", "pace=1,1.1", "-n", "100000"],
             "nowcast": ["--seen", "Ussuriysk 2019-04-24 15:30 +10:00"]}.get(
        command, ["-n", "100000"])
    code = main([command, str(scenario), *extra, "--out", str(trip), "--replace", "--quiet"])
    assert code == 2
    _one_line_error(capsys, str(trip), "trip.yaml", "reads")
    assert scenario.read_text(encoding="utf-8") == BASE
    assert [p.name for p in trip.iterdir()] == ["trip.yaml"]

def test_stale_temporaries_are_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "out"
    # a live run: its temporary folder is locked and stays
    live = OutputFolder(target).claim()
    # a killed run: the same folder, unlocked; and the leftovers of trainsim before manifests
    killed = tmp_path / ".out.abcd1234.trainsim-tmp"
    killed.mkdir()
    (killed / "timeline.csv").write_text("half", encoding="utf-8")
    legacy = tmp_path / ".out.k2j4h5g6"
    legacy.mkdir()
    (legacy / "map.png").write_text("half", encoding="utf-8")
    other = tmp_path / ".other.zz99yy88.trainsim-tmp"  # a killed run into another folder
    other.mkdir()
    mine = tmp_path / ".out.backup"  # not a trainsim name: never touched
    mine.mkdir()
    with OutputFolder(target).claim() as f:
        _write(f, **{"x.csv": "1"})
    left = sorted(p.name for p in tmp_path.iterdir())
    assert live.path is not None and live.path.name in left
    assert killed.name not in left and legacy.name not in left and other.name not in left
    assert mine.name in left
    live.discard()


def _concurrent_writer(target: str, i: int) -> int:
    import random

    time.sleep(random.random() * 0.05)
    with OutputFolder(Path(target)).claim() as f:
        assert f.path is not None
        for k in range(5):
            (f.path / f"file{k}.csv").write_text(f"run {i}\n" * 1000, encoding="utf-8")
            time.sleep(0.01)
        f.commit(command="test", run=i)
    return i


def test_concurrent_runs_on_one_folder_take_turns(tmp_path: Path) -> None:
    target = tmp_path / "out"
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(6) as pool:
        done = pool.starmap(_concurrent_writer, [(str(target), i) for i in range(12)])
    assert sorted(done) == list(range(12))
    manifest = json.loads((target / MANIFEST).read_text(encoding="utf-8"))
    names = sorted(p.name for p in target.iterdir() if p.name != MANIFEST)
    assert names == sorted(manifest["files"]) == [f"file{k}.csv" for k in range(5)]
    # one run's files, whole: never a mixture of two runs
    texts = {(target / n).read_text(encoding="utf-8") for n in names}
    assert texts == {f"run {manifest['run']}\n" * 1000}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


# ----------------------------------------------------------------------------------------------
# signals: a process to kill
# ----------------------------------------------------------------------------------------------
class _Run:
    """`trainsim run` of 100,000 replications (minutes) in a forked process (the network is
    loaded already), caught once it simulates: its pid, output folder, worker processes, exit
    code and stderr."""

    def __init__(self, tmp_path: Path, *, workers: int) -> None:
        out = tmp_path / "out"
        out.mkdir()
        (out / "keep.txt").write_text("the folder is empty but for this", encoding="utf-8")
        self.target = tmp_path / "target"
        self.stderr = tmp_path / "stderr.txt"
        argv = ["run", str(ROOT / "scenarios" / "vladivostok-2019.yaml"), "-n", "100000",
                "--workers", str(workers), "--quiet", "--out", str(self.target)]
        self.proc = multiprocessing.get_context("fork").Process(target=_cli_child,
                                                                args=(argv, self.stderr))
        self.proc.start()
        pid = self.proc.pid
        assert pid is not None
        parent = psutil.Process(pid)
        self.workers: list[psutil.Process] = []
        deadline = time.time() + 60
        while (not [p for p in tmp_path.iterdir() if p.name.startswith(".target.")]
               or len(self.workers) < (workers if workers > 1 else 0)):
            assert self.proc.is_alive(), self.stderr.read_text(encoding="utf-8")
            assert time.time() < deadline, "the run never claimed its output folder or started"
            time.sleep(0.02)
            self.workers = parent.children(recursive=True)
        time.sleep(0.1)  # mid-run
        self.pid = pid

    def wait(self) -> int | None:
        self.proc.join(30)
        return self.proc.exitcode


def _still_running(procs: list[psutil.Process], *, timeout: float) -> list[psutil.Process]:
    """The processes still running after up to ``timeout`` s. A zombie has ended: the workers
    of a killed run are reparented to PID 1, and this sandbox's init reaps them a second or two
    later, which ``psutil.wait_procs`` would wait for."""
    deadline = time.time() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.time() > deadline:
            return alive
        time.sleep(0.02)


def _cli_child(argv: list[str], stderr: Path) -> None:
    """The command line in a forked process, its stderr into a file."""
    fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 2)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    code = main(argv)
    sys.stderr.flush()
    os._exit(code)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_run_cleanly(tmp_path: Path, network: RailNetwork, sig: int,
                                        code: int) -> None:
    """`trainsim run` stopped mid-run (SIGTERM, or Ctrl-C): one line, no temporary folder, the
    output folder as it was, and no worker process left behind."""
    run = _Run(tmp_path, workers=2)
    os.kill(run.pid, sig)
    assert run.wait() == code
    err = run.stderr.read_text(encoding="utf-8")
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "stderr.txt"]
    assert not run.target.exists()
    alive = _still_running(run.workers, timeout=5)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"


@pytest.mark.slow
def test_workers_of_a_killed_run_end_quietly(tmp_path: Path, network: RailNetwork) -> None:
    """SIGKILL gives the run no chance to end its pool: its workers notice (the watchdog, or a
    result sent into the closed pipe) and end without a traceback in the user's terminal."""
    run = _Run(tmp_path, workers=2)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    alive = _still_running(run.workers, timeout=5)
    assert not alive, f"orphaned workers: {[p.pid for p in alive]}"
    err = run.stderr.read_text(encoding="utf-8")
    assert "Traceback" not in err, err


def test_killed_run_is_cleaned_up_by_the_next(tmp_path: Path, network: RailNetwork) -> None:
    run = _Run(tmp_path, workers=1)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".target.")], "nothing stale"
    OutputFolder(run.target).claim().discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "stderr.txt"]


# ----------------------------------------------------------------------------------------------
# seeds
# ----------------------------------------------------------------------------------------------
def test_road_leg_follows_the_seed(flagship: Callable[[str], Prepared]) -> None:
    prep = flagship("hanoi-2019")
    mc = run_monte_carlo(prep.plan, 4, seed=1, workers=1)
    a = analyse(prep, mc).road_arrival
    b = analyse(prep, dataclasses.replace(mc, seed=2)).road_arrival
    again = analyse(prep, mc).road_arrival
    assert a is not None and b is not None and again is not None
    assert (a != b).all() and (a == again).all()


def test_progress_lines_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator._options import ProgressDisplay

    with ProgressDisplay(quiet=False) as progress:
        for done in range(50, 1001, 50):
            progress("x", done, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert 8 <= len(lines) <= 11 and lines[-1].startswith("x: 1,000/1,000 replications (100 %)")
    assert "left" in lines[0]
    with ProgressDisplay(quiet=True) as progress:
        progress("x", 1000, 1000)
    assert capsys.readouterr().err == ""

