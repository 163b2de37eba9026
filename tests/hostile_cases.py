"""The hostile-user cases of issue 10, run as a user would (subprocesses), as a markdown table.

Not a pytest module (the suite's own tests cover the same ground faster, in-process); run it by
hand to see every case with its outcome::

    .venv/bin/python tests/hostile_cases.py            # all cases, a table on stdout
    .venv/bin/python tests/hostile_cases.py seed bomb  # only cases whose name contains a word

Each row: the case, what the contract expects, the exit code(s) seen (``validate``/``run`` for a
scenario file), the wall time, the first line of stderr and a verdict (``ok`` or what failed).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
BASE = ROOT / "scenarios" / "vladivostok-2019.yaml"
BASE_TEXT = BASE.read_text(encoding="utf-8")
LOCO = yaml.safe_load((ROOT / "data" / "rolling_stock" / "ru-tep70.yaml").read_text("utf-8"))
N = ["-n", "4", "--workers", "1", "--quiet"]


@dataclass
class Outcome:
    code: str
    seconds: float
    message: str
    problems: list[str] = field(default_factory=list)


@dataclass
class Case:
    name: str
    expect: str
    run: Callable[[Path], Outcome]


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 300, prelude: str = "") -> tuple[int, float, str, str]:
    """Run ``trainsim ARGS`` (after ``prelude``, Python run first in the same process)."""
    code = (f"import sys\n{prelude}\nfrom simulator.cli import main\n"
            f"sys.exit(main({list(args)!r}))")
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})}, cwd=cwd or ROOT,
                       preexec_fn=_limit_memory)
    return p.returncode, time.perf_counter() - t0, p.stderr, p.stdout


def _limit_memory() -> None:
    # a case that blows up memory must not take the machine down with it (the alias bomb)
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))


def first_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    return lines[0] if lines else ""


def bad_input(code: int, err: str, *names: str) -> list[str]:
    """What is wrong with a bad-input outcome (exit 2, one line, naming ``names``)."""
    problems = []
    if code != 2:
        problems.append(f"exit {code}")
    if "Traceback" in err:
        problems.append("traceback")
    if err.count("\n") != 1:
        problems.append(f"{err.count(chr(10))} lines")
    problems += [f"does not name {n!r}" for n in names if n not in err]
    return problems


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------------------------
# scenario files: validate and run must agree
# ----------------------------------------------------------------------------------------------
def scenario_case(text: str | Callable[[], str], *names: str, ok: bool = False,
                  name: str = "bad.yaml") -> Callable[[Path], Outcome]:
    def run(tmp: Path) -> Outcome:
        path = tmp / name
        path.write_text(text() if callable(text) else text, encoding="utf-8")
        out = tmp / "out"
        c1, _, e1, _ = cli("validate", str(path))
        c2, secs, e2, _ = cli("run", str(path), *N, "--out", str(out))
        problems = []
        if ok:
            problems += [f"exit {c}" for c in (c1, c2) if c != 0]
        else:
            problems += ["validate: " + p for p in bad_input(c1, e1, str(path), *names)]
            problems += ["run: " + p for p in bad_input(c2, e2, str(path), *names)]
            if out.exists():
                problems.append("outputs written")
        if hidden(tmp):
            problems.append(f"leftovers {hidden(tmp)}")
        return Outcome(f"{c1}/{c2}", secs, first_line(e2 or e1), problems)
    return run


def replace(old: str, new: str, count: int = 1) -> str:
    assert old in BASE_TEXT, old
    return BASE_TEXT.replace(old, new, count)


def with_data(edit: Callable[[dict], None]) -> Callable[[], str]:
    def make() -> str:
        data = yaml.safe_load(BASE_TEXT)
        edit(data)
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return make


def inline_loco(**fields: object) -> Callable[[], str]:
    def edit(data: dict) -> None:
        loco = json.loads(json.dumps(LOCO))
        for k, v in fields.items():
            loco[k]["value"] = v
        data["train"]["locomotive"] = loco
    return with_data(edit)


def nested(depth: int, opener: str, closer: str) -> str:
    return "name: x\nextra: " + opener * depth + "1" + closer * depth + "\n"


BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]"
    for i in range(8)]) + "\n"


# ----------------------------------------------------------------------------------------------
# output folders
# ----------------------------------------------------------------------------------------------
def foreign_folder(tmp: Path) -> Outcome:
    d = tmp / "d"
    d.mkdir()
    (d / "thesis.tex").write_text("precious")
    code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(d))
    problems = bad_input(code, err, str(d))
    if not (d / "thesis.tex").exists():
        problems.append("thesis.tex deleted")
    return Outcome(str(code), secs, first_line(err), problems)


def foreign_folder_replace(tmp: Path) -> Outcome:
    d = tmp / "d"
    d.mkdir()
    (d / "thesis.tex").write_text("precious")
    code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(d), "--replace")
    problems = [f"exit {code}"] if code else []
    if (d / "thesis.tex").exists() or not (d / "manifest.json").exists():
        problems.append("not replaced")
    return Outcome(str(code), secs, first_line(err), problems + _leftovers(tmp))


def cwd_folder(tmp: Path) -> Outcome:
    (tmp / "notes.txt").write_text("mine")
    code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(tmp), cwd=tmp)
    problems = bad_input(code, err, str(tmp))
    if not (tmp / "notes.txt").exists():
        problems.append("notes.txt deleted")
    return Outcome(str(code), secs, first_line(err), problems)


def home_folder(tmp: Path, *extra: str) -> Outcome:
    home = tmp / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine")
    code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(home), *extra,
                             env={"HOME": str(home)})
    problems = bad_input(code, err, str(home))
    if not (home / ".bashrc").exists():
        problems.append(".bashrc deleted")
    return Outcome(str(code), secs, first_line(err), problems)


def existing_file(tmp: Path) -> Outcome:
    f = tmp / "report.pdf"
    f.write_text("mine")
    problems: list[str] = []
    codes = []
    for _ in range(2):  # the second run must not fail differently
        code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(f))
        codes.append(code)
        problems += bad_input(code, err, str(f))
    if not f.is_file() or f.read_text() != "mine":
        problems.append("file changed")
    return Outcome("/".join(map(str, codes)), secs, first_line(err),
                   sorted(set(problems)) + _leftovers(tmp))


def rerun_replaces(tmp: Path) -> Outcome:
    d = tmp / "d"
    codes = []
    for seed in ("1", "2"):
        code, secs, err, _ = cli("run", str(BASE), *N, "--seed", seed, "--out", str(d))
        codes.append(code)
    problems = [f"exit {c}" for c in codes if c]
    summary = (d / "summary.md").read_text() if (d / "summary.md").exists() else ""
    if "seed 2" not in summary:
        problems.append("second run's outputs not in place")
    return Outcome("/".join(map(str, codes)), secs, first_line(err),
                   problems + _leftovers(tmp))


def added_file(tmp: Path) -> Outcome:
    d = tmp / "d"
    code0, *_ = cli("run", str(BASE), *N, "--out", str(d))
    (d / "my-notes.md").write_text("mine")
    code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(d))
    problems = bad_input(code, err, "my-notes.md")
    if not (d / "my-notes.md").exists():
        problems.append("my-notes.md deleted")
    return Outcome(f"{code0}/{code}", secs, first_line(err), problems)


def empty_folder(tmp: Path) -> Outcome:
    d = tmp / "d"
    d.mkdir()
    code, secs, err, _ = cli("run", str(BASE), *N, "--out", str(d))
    problems = [f"exit {code}"] if code else []
    if not (d / "timeline.csv").exists():
        problems.append("no outputs")
    return Outcome(str(code), secs, first_line(err), problems + _leftovers(tmp))


def unwritable(tmp: Path) -> Outcome:
    # the machine runs as root, so a read-only file system stands in for a read-only folder
    code, secs, err, _ = cli("run", str(BASE), "-n", "100000", "--quiet", "--out",
                             "/proc/trainsim-out")
    problems = bad_input(code, err, "/proc/trainsim-out")
    if secs > 10:
        problems.append("found only after simulating")
    return Outcome(str(code), secs, first_line(err), problems)


def _leftovers(tmp: Path) -> list[str]:
    left = hidden(tmp)
    return [f"leftovers {left}"] if left else []


def _wait_for(pred: Callable[[], bool], limit: float = 60) -> bool:
    t0 = time.time()
    while time.time() - t0 < limit:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _alive_with(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (the forked workers of a run share it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmd and entry.name != str(os.getpid()):
                found.append(int(entry.name))
    return found


def killed(sig: int, workers: str = "1") -> Callable[[Path], Outcome]:
    """Signal a run once it is simulating (its first progress line), then look for leftovers."""
    def run(tmp: Path) -> Outcome:
        d = tmp / "d"
        t0 = time.perf_counter()
        log = tmp / "stderr.txt"  # a file, not a pipe: orphaned workers would hold a pipe open
        with log.open("w") as stderr:
            p = subprocess.Popen([PY, "-m", "simulator", "run", str(BASE), "-n", "20000",
                                  "--workers", workers, "--out", str(d)], cwd=ROOT,
                                 stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        # progress lines come at least every 5 s while simulating
        simulating = _wait_for(lambda: "replications" in log.read_text() or p.poll() is not None,
                               60) and p.poll() is None and bool(hidden(tmp))
        p.send_signal(sig)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        secs = time.perf_counter() - t0
        err = "".join(x for x in log.read_text().splitlines(True) if "replications" not in x)
        problems = [] if simulating else ["not simulating when signalled"]
        time.sleep(2)
        orphans = _alive_with(str(d))
        if orphans:
            problems.append(f"{len(orphans)} orphaned workers 2 s later")
            for pid in orphans:
                os.kill(pid, signal.SIGKILL)
        left = hidden(tmp)
        if left and sig != signal.SIGKILL:
            problems.append(f"leftovers {left}")
        if "Traceback" in err:
            problems.append("traceback")
        return Outcome(str(p.returncode), secs, first_line(err), problems)
    return run


def concurrent(tmp: Path) -> Outcome:
    d = tmp / "d"
    t0 = time.perf_counter()
    procs = [subprocess.Popen([PY, "-m", "simulator", "run", str(BASE), *N, "--seed", str(i),
                               "--out", str(d)], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
             for i in range(6)]
    codes = [p.wait(300) for p in procs]
    errs = [p.stderr.read() if p.stderr else "" for p in procs]
    secs = time.perf_counter() - t0
    problems = [f"{sum(1 for c in codes if c == 1)} runs exit 1"] if 1 in codes else []
    if any(c not in (0, 2) for c in codes):
        problems.append(f"exits {codes}")
    manifest = d / "manifest.json"
    if manifest.exists():
        files = json.loads(manifest.read_text())["files"]
        if sorted(files) != sorted(p.name for p in d.iterdir() if p.name != "manifest.json"):
            problems.append("folder does not match its manifest")
    else:
        problems.append("no manifest")
    problems += _leftovers(tmp)
    msg = next((first_line(e) for e in errs if e.strip()), "")
    return Outcome(",".join(map(str, codes)), secs, msg, problems)


def stale_cleaned(tmp: Path) -> Outcome:
    out = killed(signal.SIGKILL)(tmp)
    before = hidden(tmp)
    c2, secs, *_ = cli("run", str(BASE), *N, "--out", str(tmp / "d"))
    problems = [] if before else ["nothing stale to clean (SIGKILL left nothing)"]
    if c2:
        problems.append(f"next run exit {c2}")
    problems += _leftovers(tmp) + [p for p in out.problems if "orphan" in p]
    return Outcome(f"{out.code}, next {c2}", secs, f"stale before: {before}", problems)


def compare_fail_fast(tmp: Path) -> Outcome:
    bad = tmp / "bad.yaml"
    bad.write_text(replace("- at: Vladivostok", "- at: Vladivostk"), encoding="utf-8")
    code, secs, err, _ = cli("compare", str(ROOT / "scenarios" / "hanoi-2019.yaml"), str(bad),
                             "-n", "3000", "--quiet", "--out", str(tmp / "cmp"))
    problems = bad_input(code, err, str(bad), "route.stops.2.at")
    if secs > 15:
        problems.append("simulated the first file first")
    if (tmp / "cmp").exists():
        problems.append("outputs written")
    return Outcome(str(code), secs, first_line(err), problems)


def compare_foreign(tmp: Path) -> Outcome:
    d = tmp / "cmp"
    d.mkdir()
    (d / "data.xlsx").write_text("mine")
    code, secs, err, _ = cli("compare", str(BASE), *N, "--out", str(d))
    problems = bad_input(code, err, str(d))
    if not (d / "data.xlsx").exists():
        problems.append("data.xlsx deleted")
    return Outcome(str(code), secs, first_line(err), problems)


def route_foreign(tmp: Path) -> Outcome:
    d = tmp / "r"
    d.mkdir()
    (d / "route.csv").write_text("my own route table")
    code, secs, err, _ = cli("route", "Khasan", "Ussuriysk", "--gauge", "1520", "--out", str(d))
    problems = bad_input(code, err, str(d))
    if (d / "route.csv").read_text() != "my own route table":
        problems.append("route.csv overwritten")
    return Outcome(str(code), secs, first_line(err), problems)


# ----------------------------------------------------------------------------------------------
# seeds, progress, fetch, data files, command-line values
# ----------------------------------------------------------------------------------------------
def seeds_events(tmp: Path) -> Outcome:
    blobs = []
    for s in ("1", "2", "3"):
        code, secs, *_ = cli("run", str(BASE), *N, "--seed", s, "--out", str(tmp / s))
        blobs.append((tmp / s / "events.csv").read_bytes() if code == 0 else b"")
    problems = []
    if len(set(blobs)) != 3:
        problems.append("events.csv identical across seeds")
    summary = (tmp / "3" / "summary.md").read_text() if (tmp / "3" / "summary.md").exists() \
        else ""
    if "seed 3" not in summary:
        problems.append("summary.md does not state --seed")
    manifest = tmp / "3" / "manifest.json"
    if not manifest.exists() or json.loads(manifest.read_text())["runs"][0]["seed"] != 3:
        problems.append("manifest does not state the seed")
    return Outcome("0" if not problems else "-", secs, "", problems)


def seeds_road(tmp: Path) -> Outcome:
    # the same rail replications analysed under two seeds: only the road draws can differ
    code = """
import dataclasses, sys
from simulator.montecarlo import run_monte_carlo
from simulator.reports import analyse
from simulator.scenario import load_scenario
from simulator.planning import prepare
prep = prepare(load_scenario(sys.argv[1]))
mc = run_monte_carlo(prep.plan, 4, seed=1, workers=1)
a = analyse(prep, mc).road_arrival
b = analyse(prep, dataclasses.replace(mc, seed=2)).road_arrival
print("differ" if (a != b).any() else "same")
"""
    t0 = time.perf_counter()
    p = subprocess.run([PY, "-c", code, str(ROOT / "scenarios" / "hanoi-2019.yaml")],
                       capture_output=True, text=True, cwd=ROOT, check=False)
    secs = time.perf_counter() - t0
    problems = [] if p.stdout.strip() == "differ" else [
        f"road draws ignore the seed ({p.stdout.strip() or first_line(p.stderr)})"]
    return Outcome(str(p.returncode), secs, p.stdout.strip(), problems)


def progress_lines(tmp: Path, quiet: bool) -> Outcome:
    # enough replications for ten batches (a progress line comes as a batch ends)
    args = ["run", str(BASE), "-n", "20000", "--workers", "1", "--out", str(tmp / "d")]
    code, secs, err, _ = cli(*args, *(["--quiet"] if quiet else []))
    lines = [x for x in err.splitlines() if "replications" in x]
    problems = [f"exit {code}"] if code else []
    if quiet and lines:
        problems.append(f"{len(lines)} progress lines despite --quiet")
    if not quiet and not 3 <= len(lines) <= 30:
        problems.append(f"{len(lines)} progress lines")
    return Outcome(str(code), secs, lines[len(lines) // 2] if lines else "(none)", problems)


def fetch_case(prelude: str, expect: str) -> Callable[[Path], Outcome]:
    """``network fetch`` with the network failing as ``prelude`` makes it fail."""
    def run(tmp: Path) -> Outcome:
        code, secs, err, _ = cli("network", "fetch", "--bbox", "130,42,131,43", "--quiet",
                                 "--out", str(tmp / "x.osm.bz2"), timeout=200,
                                 prelude="import osmnx as ox\nox.settings.cache_folder = " +
                                 repr(str(tmp / "ox")) + "\n" + prelude)
        problems = []
        if secs > 10:
            problems.append(f"took {secs:.0f} s")
        if expect not in err:
            problems.append(f"does not say {expect!r}")
        if "Traceback" in err or err.count("\n") != 1:
            problems.append("not one line")
        return Outcome(str(code), secs, first_line(err), problems)
    return run


# name resolution that never answers (a dead DNS server), a port nobody listens on, and a server
# that answers but not as Overpass (this sandbox answers any address with HTTP 404)
HANG_DNS = "import socket, time\nsocket.getaddrinfo = lambda *a, **k: time.sleep(120)"
REFUSED = "ox.settings.overpass_url = 'http://127.0.0.1:9/api'"
NOT_OVERPASS = "ox.settings.overpass_url = 'http://10.255.255.1/api'"


def args_case(*args: str, names: tuple[str, ...] = ()) -> Callable[[Path], Outcome]:
    def run(tmp: Path) -> Outcome:
        argv = [a.replace("{tmp}", str(tmp)) for a in args]
        code, secs, err, _ = cli(*argv)
        problems = bad_input(code, err, *names)
        if secs > 30:
            problems.append(f"took {secs:.0f} s")
        return Outcome(str(code), secs, first_line(err), problems)
    return run


def data_dir_case(edit: Callable[[Path], None], argv: list[str], name: str,
                  ) -> Callable[[Path], Outcome]:
    """A copy of data/ (links to the real files) with one file broken by ``edit``."""
    def run(tmp: Path) -> Outcome:
        data = tmp / "data"
        shutil.copytree(ROOT / "data", data, copy_function=os.symlink)
        edit(data)
        prelude = ("from pathlib import Path\nfrom simulator import settings\n"
                   f"settings.data_dir = Path({str(data)!r})\n"
                   f"settings.timezones_file = settings.data_dir / 'timezones.csv'\n")
        code, secs, err, _ = cli(*[a.replace("{tmp}", str(tmp)) for a in argv],
                                 prelude=prelude)
        problems = bad_input(code, err, name)
        return Outcome(str(code), secs, first_line(err), problems)
    return run


def write_to(rel: str, content: bytes | None) -> Callable[[Path], None]:
    def edit(data: Path) -> None:
        (data / rel).unlink()
        if content is not None:
            (data / rel).write_bytes(content)
    return edit


GARBAGE = bytes(range(256)) * 40
RUN = ["run", str(BASE), *N, "--out", "{tmp}/out"]


CASES: list[Case] = [
    # 1 data loss
    Case("out: folder holding a user's file", "exit 2, file kept", foreign_folder),
    Case("out: --replace on a user's folder", "exit 0, replaced as asked",
         foreign_folder_replace),
    Case("out: the working directory", "exit 2, files kept", cwd_folder),
    Case("out: home folder", "exit 2, files kept", home_folder),
    Case("out: home folder with --replace", "exit 2 (never home)",
         lambda t: home_folder(t, "--replace")),
    Case("out: an existing file, twice", "exit 2 both times, file kept", existing_file),
    Case("out: previous output folder", "exit 0, replaced", rerun_replaces),
    Case("out: output folder + a user's file", "exit 2, file kept", added_file),
    Case("out: empty folder", "exit 0", empty_folder),
    Case("out: unwritable (read-only fs), -n 100000", "exit 2 before simulating", unwritable),
    Case("compare --out: folder with a user's file", "exit 2, file kept", compare_foreign),
    Case("route --out: folder with a user's route.csv", "exit 2, file kept", route_foreign),
    # 2 memory
    Case("YAML alias bomb (9 levels)", "exit 2 in < 1 s",
         scenario_case(BOMB, "alias", name="bomb.yaml")),
    Case("YAML 100,000-deep list nesting", "exit 2",
         scenario_case(nested(100_000, "[", "]"), "nest", name="deep.yaml")),
    Case("YAML 100,000-deep mapping nesting", "exit 2",
         scenario_case(nested(100_000, "{a: ", "}"), "nest", name="deep.yaml")),
    Case("YAML file of 20 MB", "exit 2",
         scenario_case(BASE_TEXT + "# " + "x" * 20_000_000 + "\n", "MB", name="big.yaml")),
    Case("-n 1000000000", "exit 2 at once", args_case(*RUN, "-n", "1000000000",
                                                       names=("-n",))),
    Case("-n 100001", "exit 2", args_case(*RUN, "-n", "100001", names=("100,000",))),
    Case("replications: 1e9 in the file", "exit 2",
         scenario_case(replace("replications: 500", "replications: 1000000000"),
                       "replications")),
    # 3 seeds
    Case("--seed 1/2/3: events.csv, summary, manifest", "differ; seed stated", seeds_events),
    Case("--seed 1/2: road leg (hanoi-2019)", "road arrival differs", seeds_road),
    Case("--seed -1", "exit 2", args_case(*RUN, "--seed", "-1", names=("--seed",))),
    Case("--seed 1.5", "exit 2", args_case(*RUN, "--seed", "1.5", names=("--seed",))),
    # 4 exit 1 → 2
    Case("departure in year 9999", "exit 2",
         scenario_case(replace('"2019-04-24 10:40 +10:00"', '"9999-12-31 23:40 +10:00"'),
                       "route.stops.0.depart")),
    Case("departure in year 1", "exit 2",
         scenario_case(replace('"2019-04-24 10:40 +10:00"', '"0001-01-01 00:10 +10:00"'),
                       "route.stops.0.depart")),
    Case("reported time in year 2500", "exit 2",
         scenario_case(replace('["2019-04-24 17:50 +10:00", "2019-04-24 18:01 +10:00"]',
                               '"2500-04-24 17:50 +10:00"'),
                       "reported.times.2.time")),
    Case("halt duration .inf", "exit 2",
         scenario_case(replace("    note: \"journeys.md b:", "    duration: {fixed: .inf, "
                               "assumption: x}\n    note: \"journeys.md b:"),
                       "halts.0.duration")),
    Case("halt duration 1e15 min", "exit 2",
         scenario_case(replace("    note: \"journeys.md b:", "    duration: {fixed: 1e15, "
                               "assumption: x}\n    note: \"journeys.md b:"),
                       "halts.0.duration")),
    Case("uniform duration [0, .nan]", "exit 2",
         scenario_case(replace("    note: \"journeys.md b:", "    duration: {uniform: [0, .nan],"
                               " assumption: x}\n    note: \"journeys.md b:"),
                       "halts.0.duration")),
    Case("inline locomotive mass_t .nan", "exit 2",
         scenario_case(inline_loco(mass_t=float("nan")), "train.locomotive.mass_t")),
    Case("train.cars .inf", "exit 2",
         scenario_case(replace("  locomotive: ru-tep70\n", "  locomotive: ru-tep70\n  cars: "
                               "{value: .inf, assumption: x}\n"), "train.cars")),
    Case("--seed 99999999999999999999999", "exit 2 (or a valid seed)",
         args_case(*RUN, "--seed", "99999999999999999999999", names=("--seed",))),
    Case("network fetch --bbox nan,42,131,43", "exit 2",
         args_case("network", "fetch", "--bbox", "nan,42,131,43", "--out", "{tmp}/x.osm",
                   names=("--bbox",))),
    Case("network fetch --bbox 131,42,130,43 (west > east)", "exit 2",
         args_case("network", "fetch", "--bbox", "131,42,130,43", "--out", "{tmp}/x.osm",
                   names=("--bbox",))),
    Case("network fetch --bbox 0,-95,1,1 (lat < -90)", "exit 2",
         args_case("network", "fetch", "--bbox", "0,-95,1,1", "--out", "{tmp}/x.osm",
                   names=("--bbox",))),
    Case("garbage timezones.csv", "exit 2 naming the file",
         data_dir_case(write_to("timezones.csv", GARBAGE), RUN, "timezones.csv")),
    Case("timezones.csv: bad number", "exit 2 naming file:line",
         data_dir_case(write_to("timezones.csv", b"country,min_lat,max_lat,min_lon,max_lon,tz,"
                                b"source\nRU,north,,,,Asia/Vladivostok,x\n"), RUN,
                       "timezones.csv:2")),
    Case("timezones.csv: unknown zone", "exit 2 naming file:line",
         data_dir_case(write_to("timezones.csv", b"country,min_lat,max_lat,min_lon,max_lon,tz,"
                                b"source\nRU,,,,,Asia/Atlantis,x\n"), RUN, "timezones.csv:2")),
    Case("timezones.csv: a column missing", "exit 2 naming the file",
         data_dir_case(write_to("timezones.csv", b"country,tz\nRU,Asia/Vladivostok\n"), RUN,
                       "timezones.csv")),
    Case("garbage aliases.csv", "exit 2 naming the file",
         data_dir_case(write_to("rail/aliases.csv", GARBAGE), RUN, "aliases.csv")),
    Case("aliases.csv without its header", "exit 2 naming the file",
         data_dir_case(write_to("rail/aliases.csv", b"Vostochny;Uglegorsk\n"), RUN,
                       "aliases.csv")),
    Case("missing chainage_checks.csv (network info --check)", "exit 2 naming the file",
         data_dir_case(write_to("rail/chainage_checks.csv", None), ["network", "info",
                                                                   "--check"],
                       "chainage_checks.csv")),
    Case("chainage_checks.csv: published_km 'abc'", "exit 2 naming file:line",
         data_dir_case(write_to("rail/chainage_checks.csv", b"from,to,published_km,source\n"
                                b"Rajin,Khasan,abc,x\n"), ["network", "info", "--check"],
                       "chainage_checks.csv:2")),
    # 5 nonsense accepted
    Case("reported leg hours -7", "exit 2",
         scenario_case(replace("hours: 7", "hours: -7"), "reported.legs.0.hours")),
    Case("reported leg hours [9, 7]", "exit 2",
         scenario_case(replace("hours: 7", "hours: [9, 7]"), "reported.legs.0.hours")),
    Case("reported leg hours .nan", "exit 2",
         scenario_case(replace("hours: 7", "hours: .nan"), "reported.legs.0.hours")),
    Case("reported leg from/to swapped", "exit 2",
         scenario_case(replace("      from: Ussuriysk\n      to: vladivostok",
                               "      from: vladivostok\n      to: Ussuriysk"),
                       "reported.legs.1")),
    Case("night rule start '25:99'", "exit 2",
         scenario_case(BASE_TEXT + "operating:\n  night:\n    - country: RU\n      start: "
                       "\"25:99\"\n      end: \"06:00\"\n      mode: halt\n      reason: x\n"
                       "      assumption: x\n", "operating.night.0.start")),
    Case("night rule speed_factor 1e-9", "exit 2",
         scenario_case(BASE_TEXT + "operating:\n  night:\n    - country: RU\n      start: "
                       "\"22:00\"\n      end: \"06:00\"\n      mode: slow\n      speed_factor: "
                       "1e-9\n      reason: x\n      assumption: x\n",
                       "operating.night.0.speed_factor")),
    Case("inline locomotive length_m -5", "exit 2",
         scenario_case(inline_loco(length_m=-5), "train.locomotive.length_m")),
    Case("inline locomotive resistance -20", "exit 2",
         scenario_case(inline_loco(resistance_a_n_per_t=-20),
                       "train.locomotive.resistance_a_n_per_t")),
    Case("inline locomotive mass 1e12 t", "exit 2",
         scenario_case(inline_loco(mass_t=1e12), "train.locomotive.mass_t")),
    Case("inline locomotive power 1e-9 kW", "exit 2",
         scenario_case(inline_loco(power_kw=1e-9), "train.locomotive.power_kw")),
    Case("inline locomotive power_kw 0", "exit 2, names power_kw",
         scenario_case(inline_loco(power_kw=0), "train.locomotive.power_kw': must be > 0")),
    Case("inline locomotive mass_t -100", "exit 2, names mass_t",
         scenario_case(inline_loco(mass_t=-100), "train.locomotive.mass_t")),
    Case("inline locomotive units 2.5", "exit 2",
         scenario_case(inline_loco(units=2.5), "train.locomotive.units")),
    Case("preset file with negative mass (by path)", "exit 2 naming the preset",
         lambda t: scenario_case(
             replace("locomotive: ru-tep70", f"locomotive: {_bad_preset(t)}"),
             "bad-loco.yaml", "mass_t")(t)),
    Case("seed: true", "exit 2", scenario_case(replace("seed: 20190424", "seed: true"),
                                               "seed")),
    Case("seed: 1.5", "exit 2", scenario_case(replace("seed: 20190424", "seed: 1.5"), "seed")),
    Case("road leg km -170", "exit 2",
         scenario_case((ROOT / "scenarios" / "hanoi-2019.yaml").read_text("utf-8").replace(
             "km: {value: 170,", "km: {value: -170,"), "road.km")),
    Case("gauge 99", "exit 2", scenario_case(replace("gauge: 1520", "gauge: 99"),
                                             "route.gauge")),
    Case("delays per_100km 1e6", "exit 2",
         scenario_case(BASE_TEXT + "operating:\n  delays:\n    - country: RU\n      per_100km: "
                       "1e6\n      duration: {fixed: 10, assumption: x}\n      reason: x\n"
                       "      assumption: x\n", "operating.delays.0.per_100km")),
    Case("cap kmh 1e9", "exit 2",
         scenario_case(BASE_TEXT + "operating:\n  caps:\n    - country: RU\n      kmh: 1e9\n"
                       "      reason: x\n      assumption: x\n", "operating.caps.0.kmh")),
    Case("network: /dev/zero", "exit 2, not 'not found'",
         scenario_case(replace("train:\n", "network: /dev/zero\ntrain:\n"), "network",
                       "not a regular file")),
    Case("route Pyongyang Pyongyang", "exit 2",
         args_case("route", "Pyongyang", "Pyongyang", "--out", "{tmp}/r",
                   names=("consecutive stops must be different",))),
    Case("route Pyongyang P'yŏngyang (same station)", "exit 2",
         args_case("route", "Pyongyang", "P'yŏngyang", "--out", "{tmp}/r",
                   names=("consecutive stops must be different",))),
    Case("route --max-angle 400", "exit 2",
         args_case("route", "Khasan", "Ussuriysk", "--max-angle", "400", "--out", "{tmp}/r",
                   names=("max angle",))),
    Case("route --max-angle nan", "exit 2",
         args_case("route", "Khasan", "Ussuriysk", "--max-angle", "nan", "--out", "{tmp}/r",
                   names=("max angle",))),
    Case("route --max-angle -5", "exit 2 as bad input",
         args_case("route", "Khasan", "Ussuriysk", "--max-angle", "-5", "--out", "{tmp}/r",
                   names=("max angle",))),
    Case("route --gauge -1435", "exit 2",
         args_case("route", "Khasan", "Ussuriysk", "--gauge", "-1435", "--out", "{tmp}/r",
                   names=("gauge -1435",))),
    Case("network info --snapshot /dev/zero", "exit 2, not 'not found'",
         args_case("network", "info", "--snapshot", "/dev/zero",
                   names=("/dev/zero", "not a regular file"))),
    # 7 kills and concurrency
    Case("SIGTERM during the simulation", "exit 143, no temporaries",
         killed(signal.SIGTERM)),
    Case("SIGINT during the simulation", "exit 130, no temporaries", killed(signal.SIGINT)),
    Case("SIGTERM during the simulation, 2 workers", "exit 143, no temporaries, no orphans "
         "(workers: issue 12)", killed(signal.SIGTERM, workers="2")),
    Case("SIGKILL, then another run", "stale temporaries cleaned", stale_cleaned),
    Case("SIGKILL during the simulation, 2 workers", "no orphans (workers: issue 12)",
         killed(signal.SIGKILL, workers="2")),
    Case("six runs on one --out at once", "all exit 0; folder = manifest", concurrent),
    # 9 slow failures and silence
    Case("compare: bad station in the 2nd file, -n 3000", "exit 2 before simulating",
         compare_fail_fast),
    Case("network fetch, no DNS (this machine)", "'no internet' in seconds",
         fetch_case("", "no internet")),
    Case("network fetch, DNS that never answers", "'no internet' in seconds",
         fetch_case(HANG_DNS, "no internet")),
    Case("network fetch, connection refused", "'no internet' in seconds",
         fetch_case(REFUSED, "no internet")),
    Case("network fetch, a server answering 404", "one line in seconds",
         fetch_case(NOT_OVERPASS, "HTTP 404")),
    Case("progress, stderr not a terminal", "a line every ~10 %",
         lambda t: progress_lines(t, quiet=False)),
    Case("progress --quiet, stderr not a terminal", "no progress lines",
         lambda t: progress_lines(t, quiet=True)),
]


def _bad_preset(tmp: Path) -> Path:
    loco = json.loads(json.dumps(LOCO))
    loco["mass_t"]["value"] = -10
    path = tmp / "bad-loco.yaml"
    path.write_text(yaml.safe_dump(loco), encoding="utf-8")
    return path


def main(words: list[str]) -> int:
    cache = tempfile.mkdtemp(prefix="trainsim-hostile-cache-")
    os.environ.setdefault("TRAINSIM_CACHE", cache)
    subprocess.run([PY, "-m", "simulator", "network", "info"], capture_output=True, check=False)
    print("| # | case | expected | exit | s | first line of stderr | verdict |")
    print("|---|---|---|---|---|---|---|")
    failed = 0
    for i, case in enumerate(CASES, 1):
        if words and not any(w.lower() in case.name.lower() for w in words):
            continue
        with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
            try:
                o = case.run(Path(tmp))
            except Exception as exc:  # a broken case is a failed case, with the reason
                o = Outcome("?", 0.0, "", [f"case crashed: {exc.__class__.__name__}: {exc}"])
        verdict = "ok" if not o.problems else "FAIL: " + "; ".join(o.problems).replace(tmp,
                                                                                       "$TMP")
        failed += bool(o.problems)
        msg = o.message.replace("|", "\\|").replace(tmp, "$TMP")
        msg = msg if len(msg) <= 140 else msg[:137] + "…"
        print(f"| {i} | {case.name} | {case.expect} | {o.code} | {o.seconds:.1f} | {msg} | "
              f"{verdict} |", flush=True)
    shutil.rmtree(cache, ignore_errors=True)
    print(f"\n{failed} of {len(CASES)} cases fail the contract", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
