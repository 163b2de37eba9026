"""The scenario commands: ``trainsim run``, ``trainsim compare`` and ``trainsim validate``."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator import settings

__all__ = ["register"]


@contextmanager
def _progress(total: int, label: str, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    if quiet or not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def _output_dir(target: Path) -> Iterator[Path]:
    """A fresh folder that replaces ``target`` only when everything in it has been written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    tmp.chmod(0o755)
    try:
        yield tmp
        old = target.parent / f".{target.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            target.rename(old)
        tmp.rename(target)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _simulate(path: Path, args: argparse.Namespace, network: Any = None) -> Any:
    from simulator.montecarlo import run_monte_carlo
    from simulator.reports import analyse
    from simulator.scenario import load_scenario
    from simulator.simulate import prepare

    scenario = load_scenario(path)
    prep = prepare(scenario, network=network)
    n = args.replications or scenario.replications
    seed = scenario.seed if args.seed is None else args.seed
    with _progress(n, f"{scenario.name}: {n} replications", quiet=args.quiet) as tick:
        mc = run_monte_carlo(prep.plan, n, seed=seed, workers=args.workers,
                             scheduler=args.scheduler, progress=tick)
    return analyse(prep, mc)


def _print_result(result: Any) -> None:
    prep = result.prepared
    import numpy as np

    total = result.mc.journey_s / 3600
    lo, med, hi = np.quantile(total, [0.05, 0.5, 0.95])
    print(f"{prep.scenario.name}: {' → '.join(prep.route.stops)}, {prep.route.length_km:,.0f} km,"
          f" rail journey median {med:.1f} h (5–95 % {lo:.1f}–{hi:.1f} h), "
          f"{result.mc.n} replications")
    for w in prep.warnings:
        print(f"  warning: {w}")


def _cmd_run(args: argparse.Namespace) -> int:
    from simulator.reports import legs_markdown, write_outputs

    result = _simulate(args.scenario, args)
    out = args.out or settings.outputs_dir / result.name
    with _output_dir(out) as tmp:
        write_outputs(result, tmp)
    _print_result(result)
    if result.legs:
        print(legs_markdown(result.legs))
    print(f"wrote {out}/ (timeline.csv, events.csv, route.geojson, map.png, map.html, "
          "timedistance.png, comparison.png, summary.md)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from simulator import plots
    from simulator._io import atomic_path
    from simulator.network.graph import load_network
    from simulator.reports import legs_markdown, write_csv, write_outputs
    from simulator.scenario import load_scenario

    # validate every file before running any, so a bad one fails fast and writes nothing
    scenarios = [load_scenario(p) for p in args.scenarios]
    networks = {s.network for s in scenarios}
    shared = load_network(next(iter(networks))) if len(networks) == 1 else None
    results = []
    for path in args.scenarios:
        results.append(_simulate(path, args, network=shared))
    outputs = args.out or settings.outputs_dir / "compare"
    for r in results:
        with _output_dir(settings.outputs_dir / r.name if args.out is None
                         else outputs / r.name) as tmp:
            write_outputs(r, tmp)
    legs = [leg for r in results for leg in r.legs]
    outputs.mkdir(parents=True, exist_ok=True)
    plots.comparison(results, outputs / "comparison.png")
    write_csv(outputs / "comparison.csv", [leg.row() for leg in legs])
    table = legs_markdown(legs, with_scenario=True)
    with atomic_path(outputs / "comparison.md") as tmp:
        tmp.write_text("# Reported against simulated journey times\n\n" + table + "\n",
                       encoding="utf-8")
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
    print(f"wrote {outputs}/comparison.png, comparison.csv, comparison.md and one folder per "
          "scenario")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from simulator.network.graph import load_network
    from simulator.scenario import load_scenario
    from simulator.simulate import prepare

    network = None
    for path in args.scenarios:
        scenario = load_scenario(path)
        if network is None or scenario.network is not None:
            network = load_network(scenario.network)
        prep = prepare(scenario, network=network)
        halts = ", ".join(f"{h.kind} at {h.place}" for h in prep.plan.halts) or "none"
        print(f"{path}: valid. {' → '.join(prep.route.stops)}, {prep.route.length_km:,.1f} km; "
              f"halts: {halts}; {len(scenario.reported.times)} reported times, "
              f"{len(scenario.reported.legs)} reported legs")
        for w in prep.warnings:
            print(f"  warning: {w}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--replications", type=_positive, default=None, metavar="N",
                   help="Monte Carlo replications (default: the scenario's 'replications')")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="master seed; the same seed gives the same results bit for bit "
                        "(default: the scenario's 'seed')")
    p.add_argument("--workers", type=_positive, default=None, metavar="W",
                   help="parallel processes (default: the CPUs available)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the replications on a Dask distributed cluster, e.g. "
                        "tcp://10.0.0.5:8786 (same results as a local run)")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"expected a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"expected at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run", help="simulate one scenario and write its outputs",
        description="Simulate a scenario file (Monte Carlo) and write timeline.csv, events.csv, "
                    "route.geojson, map.png, map.html, timedistance.png, comparison.png and "
                    "summary.md into outputs/<scenario>/. Exit codes: 0 ok, 1 failure, "
                    "2 bad input.")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    _common(run)
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="output folder (default: outputs/<scenario name>)")
    run.set_defaults(func=_cmd_run)

    compare = sub.add_parser(
        "compare", help="simulate several scenarios; one table and figure across them",
        description="Simulate each scenario, write its outputs, then one comparison figure and "
                    "table (reported vs simulated, per leg) across all of them.")
    compare.add_argument("scenarios", type=Path, nargs="+", help="scenario YAML files")
    _common(compare)
    compare.add_argument("--out", type=Path, default=None, metavar="DIR",
                         help="folder for the comparison (default: outputs/compare; per-scenario"
                              " outputs go to outputs/<scenario>, or DIR/<scenario> with --out)")
    compare.set_defaults(func=_cmd_compare)

    validate = sub.add_parser(
        "validate", help="check scenario files without running them",
        description="Read each scenario, check every field, resolve its stations and route; "
                    "print a summary. Exit code 2 and a one-line error on the first problem.")
    validate.add_argument("scenarios", type=Path, nargs="+", help="scenario YAML files")
    validate.set_defaults(func=_cmd_validate)


