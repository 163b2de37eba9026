"""The scenario commands: ``trainsim run``, ``trainsim compare`` and ``trainsim validate``.

Each is :mod:`simulator.run` plus what a command line adds: the output folders are claimed
before anything is simulated (see :mod:`simulator._outdir`), progress is shown, results are
printed. A bad input therefore costs seconds, not a simulation, and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

import numpy as np
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulator import settings
from simulator._outdir import OutputFolder, claim_outputs
from simulator.outputs import RUN_FILES, measured_summary
from simulator.reports import legs_markdown
from simulator.results import ScenarioResult, comparison_folders, write_claimed
from simulator.run import check_distinct_names, compare_scenarios, plan_scenario, run_scenario
from simulator.scenario import MAX_REPLICATIONS, MAX_SEED, load_scenario

__all__ = ["ProgressDisplay", "register"]


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------
#: without a terminal, a progress line at each tenth of the work or after this many seconds
PROGRESS_EVERY_S = 5.0


class ProgressDisplay:
    """The progress of each scenario's replications, for :func:`simulator.run.simulate`'s
    ``progress``: a bar with an ETA on a terminal, plain lines on stderr without, nothing when
    ``quiet``. Use as a context manager."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._lines: dict[str, _LineProgress] = {}

    def __enter__(self) -> ProgressDisplay:
        if not self.quiet and sys.stderr.isatty():
            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), "ETA",
                                 TimeRemainingColumn(), transient=True)
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, name: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            if name not in self._tasks:
                self._tasks[name] = self._bar.add_task(f"{name}: {total:,} replications",
                                                       total=total)
            self._bar.update(self._tasks[name], completed=done)
            return
        if name not in self._lines:
            self._lines[name] = _LineProgress(total, name)
        self._lines[name](done)


class _LineProgress:
    """Progress as lines for logs and pipes: every 10 % or every few seconds, whichever first."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = max(total, 1), label
        self.start = self.last = time.monotonic()
        self.step = 0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        step = 10 * done // self.total
        if step <= self.step and now - self.last < PROGRESS_EVERY_S:
            return
        self.step, self.last = step, now
        elapsed = now - self.start
        left = elapsed * (self.total - done) / done if done else float("nan")
        eta = f", about {left:.0f} s left" if done < self.total else ""
        print(f"{self.label}: {done:,}/{self.total:,} replications "
              f"({100 * done // self.total} %), {elapsed:.0f} s{eta}", file=sys.stderr,
              flush=True)


def _print_result(result: ScenarioResult) -> None:
    prep = result.prepared
    lo, med, hi = np.quantile(result.journey_hours, [0.05, 0.5, 0.95])
    print(f"{result.name}: {' → '.join(prep.route.stops)}, {prep.route.length_km:,.0f} km,"
          f" rail journey median {med:.1f} h (5–95 % {lo:.1f}–{hi:.1f} h), "
          f"{result.replications} replications, seed {result.seed}")
    for w in result.warnings:
        print(f"  warning: {w}")


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    out = args.out or settings.outputs_dir / scenario.name
    with OutputFolder(out, replace=args.replace).claim() as folder, \
            ProgressDisplay(quiet=args.quiet) as progress:
        result = run_scenario(scenario, replications=args.replications, seed=args.seed,
                              workers=args.workers, scheduler=args.scheduler,
                              progress=progress)
        write_claimed(result, [folder])
    _print_result(result)
    if result.analysis.comparisons:
        print(legs_markdown(result.analysis.comparisons))
    print(f"wrote {folder.target}/ ({', '.join(RUN_FILES)}, manifest.json)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    # check every file, output folder and route before simulating any, so that a bad one fails
    # in seconds and writes nothing (compare_scenarios checks the routes)
    scenarios = [load_scenario(p) for p in args.scenarios]
    check_distinct_names(scenarios)
    with ExitStack() as stack:
        folders = claim_outputs(comparison_folders([s.name for s in scenarios], args.out),
                                replace=args.replace)
        for f in folders:
            stack.enter_context(f)
        progress = stack.enter_context(ProgressDisplay(quiet=args.quiet))
        comparison = compare_scenarios(scenarios, replications=args.replications,
                                       seed=args.seed, workers=args.workers,
                                       scheduler=args.scheduler, progress=progress)
        write_claimed(comparison, folders)
    for r in comparison:
        _print_result(r)
    print()
    print(legs_markdown([leg for r in comparison for leg in r.analysis.comparisons],
                        with_scenario=True))
    line = measured_summary([r.analysis for r in comparison])
    if line:
        print(f"\n{line}")
    print(f"wrote {folders[-1].target}/comparison.png, comparison.csv, comparison.md and one "
          "folder per scenario")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    for path in args.scenarios:
        scenario = load_scenario(path)
        prep = plan_scenario(scenario)
        halts = ", ".join(f"{h.kind} at {h.place}" for h in prep.plan.halts) or "none"
        print(f"{path}: valid. {' → '.join(prep.route.stops)}, {prep.route.length_km:,.1f} km; "
              f"halts: {halts}; {len(scenario.reported.times)} reported times, "
              f"{len(scenario.reported.legs)} reported legs")
        for w in prep.warnings:
            print(f"  warning: {w}")
    return 0


# ----------------------------------------------------------------------------------------------
# options
# ----------------------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--replications", type=_replications, default=None, metavar="N",
                   help=f"Monte Carlo replications, 1 to {MAX_REPLICATIONS:,} (default: the "
                        "scenario's 'replications')")
    p.add_argument("--seed", type=_seed, default=None, metavar="S",
                   help="master seed, a whole number ≥ 0; the same seed gives the same results "
                        "bit for bit, in every output (default: the scenario's 'seed')")
    p.add_argument("--workers", type=_positive, default=None, metavar="W",
                   help="parallel processes (default: the CPUs available)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the replications on a Dask distributed cluster, e.g. "
                        "tcp://10.0.0.5:8786 (same results as a local run)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--replace", action="store_true",
                   help="replace an output folder that holds files trainsim did not write "
                        "(they are deleted); without it such a folder is refused")


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        msg = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _positive(text: str) -> int:
    value = _whole(text)
    if value < 1:
        msg = f"expected at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _replications(text: str) -> int:
    value = _positive(text)
    if value > MAX_REPLICATIONS:
        msg = f"expected at most {MAX_REPLICATIONS:,} replications, got {value:,}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seed(text: str) -> int:
    value = _whole(text)
    if not 0 <= value <= MAX_SEED:
        msg = f"expected a whole number from 0 to 2**63 - 1, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``run``, ``compare`` and ``validate`` to the ``trainsim`` parser."""
    bundled = ", ".join(settings.bundled_scenarios())
    run = sub.add_parser(
        "run", help="simulate one scenario and write its outputs",
        description="Simulate a scenario file (Monte Carlo) and write "
                    f"{', '.join(RUN_FILES)} and manifest.json into outputs/<scenario>/ (under "
                    "the current folder). The folder is replaced only if trainsim wrote it. "
                    "Exit codes: 0 ok, 1 failure, 2 bad input.",
        epilog=f"Bundled scenarios, usable by name (trainsim run hanoi-2019): {bundled}.")
    run.add_argument("scenario", type=Path, help="scenario YAML file, or a bundled scenario's "
                                                 "name")
    _common(run)
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="output folder (default: outputs/<scenario name>)")
    run.set_defaults(func=_cmd_run)

    compare = sub.add_parser(
        "compare", help="simulate several scenarios; one table and figure across them",
        description="Simulate each scenario, write its outputs, then one comparison figure and "
                    "table (reported vs simulated, per leg) across all of them. Every file and "
                    "route is checked before any is simulated.",
        epilog=f"Bundled scenarios, usable by name: {bundled}.")
    compare.add_argument("scenarios", type=Path, nargs="+",
                         help="scenario YAML files or bundled scenarios' names")
    _common(compare)
    compare.add_argument("--out", type=Path, default=None, metavar="DIR",
                         help="folder for the comparison (default: outputs/compare; per-scenario"
                              " outputs go to outputs/<scenario>, or DIR/<scenario> with --out)")
    compare.set_defaults(func=_cmd_compare)

    validate = sub.add_parser(
        "validate", help="check scenario files without running them",
        description="Read each scenario, check every field, resolve its stations and route; "
                    "print a summary. Exit code 2 and a one-line error on the first problem. "
                    "A file that validates runs.")
    validate.add_argument("scenarios", type=Path, nargs="+",
                          help="scenario YAML files or bundled scenarios' names")
    validate.set_defaults(func=_cmd_validate)
