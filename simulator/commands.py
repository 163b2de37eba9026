"""The scenario commands: ``trainsim run``, ``trainsim compare`` and ``trainsim validate``.

Every command checks all it can before simulating anything: each scenario file, its route and
reported places, and the output folders (see :mod:`simulator._outdir`). A bad input therefore
costs seconds, not a simulation, and leaves nothing behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from simulator import settings
from simulator.errors import ScenarioError

__all__ = ["register"]


# ----------------------------------------------------------------------------------------------
# progress
# ----------------------------------------------------------------------------------------------
#: without a terminal, a progress line at each tenth of the work or after this many seconds
PROGRESS_EVERY_S = 5.0


@contextmanager
def _progress(total: int, label: str, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A callback ``tick(done)``: a bar with an ETA on a terminal, plain lines on stderr without.

    ``--quiet`` silences both.
    """
    if quiet:
        yield lambda done: None
        return
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), "ETA", TimeRemainingColumn(),
                      transient=True) as bar:
            task = bar.add_task(f"{label}: {total:,} replications", total=total)
            yield lambda done: bar.update(task, completed=done)
        return
    yield _LineProgress(total, label)


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


# ----------------------------------------------------------------------------------------------
# the steps of a run
# ----------------------------------------------------------------------------------------------
def _prepare(scenario: Any, network: Any = None, defaults: str = "calibrated") -> Any:
    """Route the scenario and check everything that depends on its route (no simulating)."""
    from simulator.planning import prepare
    from simulator.reports import check_reported_legs

    prep = prepare(scenario, network=network, defaults=defaults)
    check_reported_legs(prep)
    return prep


def _simulate(prep: Any, args: argparse.Namespace) -> Any:
    from simulator.montecarlo import run_monte_carlo
    from simulator.reports import analyse

    scenario = prep.scenario
    n = args.replications or scenario.replications
    seed = scenario.seed if args.seed is None else args.seed
    with _progress(n, scenario.name, quiet=args.quiet) as tick:
        mc = run_monte_carlo(prep.plan, n, seed=seed, workers=args.workers,
                             scheduler=args.scheduler, progress=tick)
    return analyse(prep, mc)


def _manifest(command: str, results: Sequence[Any]) -> dict[str, Any]:
    """What the manifest of an output folder records besides its files: how to redo the run."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool_version = version("trainsim")
    except PackageNotFoundError:
        tool_version = "unknown"
    return {"version": tool_version, "command": command, "runs": [
        {"scenario": str(r.prepared.scenario.path), "name": r.name, "seed": r.mc.seed,
         "replications": r.mc.n,
         "defaults": "calibrated" if r.prepared.plan.calibration is not None else "hand"}
        for r in results]}


def _print_result(result: Any) -> None:
    prep = result.prepared
    import numpy as np

    total = result.mc.journey_s / 3600
    lo, med, hi = np.quantile(total, [0.05, 0.5, 0.95])
    print(f"{prep.scenario.name}: {' → '.join(prep.route.stops)}, {prep.route.length_km:,.0f} km,"
          f" rail journey median {med:.1f} h (5–95 % {lo:.1f}–{hi:.1f} h), "
          f"{result.mc.n} replications, seed {result.mc.seed}")
    for w in prep.warnings:
        print(f"  warning: {w}")


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------
def _cmd_run(args: argparse.Namespace) -> int:
    from simulator._outdir import OutputFolder
    from simulator.reports import legs_markdown, write_outputs
    from simulator.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    out = args.out or settings.outputs_dir / scenario.name
    with OutputFolder(out, replace=args.replace).claim() as folder:
        prep = _prepare(scenario, defaults=args.defaults)
        result = _simulate(prep, args)
        assert folder.path is not None
        write_outputs(result, folder.path)
        folder.commit(**_manifest("run", [result]))
    _print_result(result)
    if result.legs:
        print(legs_markdown(result.legs))
    print(f"wrote {folder.target}/ (timeline.csv, events.csv, route.geojson, map.png, map.html, "
          "journey.gpkg, journey.kml, timedistance.png, comparison.png, summary.md, "
          "manifest.json)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from simulator import plots
    from simulator._outdir import claim_outputs
    from simulator.network.graph import load_network
    from simulator.reports import legs_markdown, write_csv, write_outputs
    from simulator.scenario import load_scenario

    # check every file, output folder and route before simulating any, so that a bad one fails
    # in seconds and writes nothing
    scenarios = [load_scenario(p) for p in args.scenarios]
    seen: dict[str, Path] = {}
    for path, sc in zip(args.scenarios, scenarios, strict=True):
        if sc.name in seen:
            msg = (f"{path}: field 'name': '{sc.name}' is also the name of {seen[sc.name]}; "
                   "their outputs would overwrite each other")
            raise ScenarioError(msg)
        seen[sc.name] = path
    if args.out is None:  # outputs/<name> for each, outputs/compare for the comparison
        targets = [settings.outputs_dir / sc.name for sc in scenarios]
        targets.append(settings.outputs_dir / "compare")
    else:  # one folder: the comparison, and a subfolder per scenario
        targets = [args.out]
    with ExitStack() as stack:
        folders = claim_outputs(targets, replace=args.replace)
        for f in folders:
            stack.enter_context(f)
        networks = {s.network for s in scenarios}
        shared = load_network(next(iter(networks))) if len(networks) == 1 else None
        prepared = [_prepare(sc, network=shared, defaults=args.defaults) for sc in scenarios]
        results = [_simulate(prep, args) for prep in prepared]

        comparison = folders[-1].path
        assert comparison is not None
        for i, r in enumerate(results):
            folder = folders[i].path if args.out is None else comparison / r.name
            assert folder is not None
            write_outputs(r, folder)
        legs = [leg for r in results for leg in r.legs]
        plots.comparison(results, comparison / "comparison.png")
        write_csv(comparison / "comparison.csv", [leg.row() for leg in legs])
        table = legs_markdown(legs, with_scenario=True)
        (comparison / "comparison.md").write_text(
            "# Reported against simulated journey times\n\n" + table + "\n", encoding="utf-8")
        if args.out is None:
            for f, r in zip(folders, results, strict=False):
                f.commit(**_manifest("run", [r]))
        folders[-1].commit(**_manifest("compare", results))
    for r in results:
        _print_result(r)
    print()
    print(table)
    measured = [leg for leg in legs if leg.kind == "measured"]
    if measured:
        inside = sum(leg.overlaps for leg in measured)
        import numpy as np

        med = float(np.median([abs(leg.error_pct) for leg in measured]))
        print(f"\nmeasured legs: {inside}/{len(measured)} reported ranges overlap the simulated "
              f"5–95 % band; median absolute error {med:.1f} %")
    print(f"wrote {folders[-1].target}/comparison.png, comparison.csv, comparison.md and one "
          "folder per scenario")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from simulator.network.graph import load_network
    from simulator.scenario import load_scenario

    network = None
    for path in args.scenarios:
        scenario = load_scenario(path)
        if network is None or scenario.network is not None:
            network = load_network(scenario.network)
        prep = _prepare(scenario, network=network)
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
    from simulator.scenario import MAX_REPLICATIONS

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
    p.add_argument("--defaults", choices=["calibrated", "hand"], default="calibrated",
                   help="operating parameters: drawn from the calibration's posterior "
                        "(scenarios/defaults/calibrated.yaml, the default) or the hand-set "
                        "rules of scenarios/defaults/operating.yaml; overrides apply either way")
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
    from simulator.scenario import MAX_REPLICATIONS

    value = _positive(text)
    if value > MAX_REPLICATIONS:
        msg = f"expected at most {MAX_REPLICATIONS:,} replications, got {value:,}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _seed(text: str) -> int:
    from simulator.scenario import MAX_SEED

    value = _whole(text)
    if not 0 <= value <= MAX_SEED:
        msg = f"expected a whole number from 0 to 2**63 - 1, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run", help="simulate one scenario and write its outputs",
        description="Simulate a scenario file (Monte Carlo) and write timeline.csv, events.csv, "
                    "route.geojson, map.png, map.html, journey.gpkg, journey.kml, "
                    "timedistance.png, comparison.png, summary.md and manifest.json into "
                    "outputs/<scenario>/. The folder is "
                    "replaced only if trainsim wrote it. Exit codes: 0 ok, 1 failure, "
                    "2 bad input.")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    _common(run)
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="output folder (default: outputs/<scenario name>)")
    run.set_defaults(func=_cmd_run)

    compare = sub.add_parser(
        "compare", help="simulate several scenarios; one table and figure across them",
        description="Simulate each scenario, write its outputs, then one comparison figure and "
                    "table (reported vs simulated, per leg) across all of them. Every file and "
                    "route is checked before any is simulated.")
    compare.add_argument("scenarios", type=Path, nargs="+", help="scenario YAML files")
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
    validate.add_argument("scenarios", type=Path, nargs="+", help="scenario YAML files")
    validate.set_defaults(func=_cmd_validate)
