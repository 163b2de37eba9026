"""The analysis commands: ``trainsim sweep`` (what-ifs) and ``trainsim sensitivity`` (Sobol).

Thin layers over :func:`simulator.run.sweep_scenario` and
:func:`simulator.run.sensitivity_analysis`: read the scenario, claim the output folder (checked
before anything is simulated), run, write, print a summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from simulator import _options as options
from simulator import settings
from simulator._io import atomic_path
from simulator._outdir import OutputFolder
from simulator.run import sensitivity_analysis, sweep_scenario
from simulator.scenario import load_scenario

__all__ = ["register"]


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed
    out = args.out or settings.outputs_dir / f"{scenario.name}-sensitivity"
    with OutputFolder(out, replace=args.replace,
                      inputs=[scenario.path, scenario.network]).claim() as folder, \
            options.ProgressDisplay(quiet=args.quiet) as progress:
        result = sensitivity_analysis(scenario, base_samples=args.base_samples, seed=seed,
                                      workers=args.workers, scheduler=args.scheduler,
                                      progress=progress)
        assert folder.path is not None
        result.write(folder.path)
        with atomic_path(folder.path / "summary.md") as tmp:
            tmp.write_text(f"# {scenario.title}\n\nScenario `{scenario.path}`.\n\n" +
                           "\n".join([*result.markdown(), ""]), encoding="utf-8")
        folder.commit(command="sensitivity", scenario=str(scenario.path), seed=seed,
                      base_samples=args.base_samples, replications=result.runs)
    print(f"{scenario.name}: {result.runs:,} replications (N = {result.base_n}, "
          f"{len(result.factors)} factors), seed {seed}")
    print(result.sentence().replace("**", ""))
    print(f"wrote {folder.target}/ (sensitivity.csv, sensitivity.png, summary.md, "
          "manifest.json)")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed
    n = args.replications or scenario.replications
    out = args.out or settings.outputs_dir / f"{scenario.name}-sweep"
    with OutputFolder(out, replace=args.replace,
                      inputs=[scenario.path, scenario.network]).claim() as folder, \
            options.ProgressDisplay(quiet=args.quiet) as progress:
        result = sweep_scenario(scenario, args.vary, design=args.design, samples=args.samples,
                                replications=n, seed=seed, at=args.at, workers=args.workers,
                                scheduler=args.scheduler, progress=progress)
        assert folder.path is not None
        result.write(folder.path)
        folder.commit(command="sweep", scenario=str(scenario.path), seed=seed,
                      replications=n, vary=list(args.vary), design=args.design)
    print(result.markdown())
    print(f"wrote {folder.target}/ (sweep.csv, sweep.md, sweep.png, manifest.json)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sweep`` and ``sensitivity`` to the ``trainsim`` parser."""

    def common(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument("scenario", type=Path,
                       help="scenario YAML file, or a bundled scenario's name")
        p.add_argument("--seed", type=options.seed, default=None, metavar="S",
                       help="master seed (default: the scenario's 'seed')")
        p.add_argument("--workers", type=options.positive, default=None, metavar="W",
                       help="parallel processes (default: the CPUs available)")
        p.add_argument("--scheduler", type=options.scheduler, default=None, metavar="ADDRESS",
                       help="run the replications on a Dask distributed cluster")
        p.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help=f"output folder (default: outputs/<scenario>-{what})")
        p.add_argument("--quiet", action="store_true", help="no progress display")
        p.add_argument("--replace", action="store_true",
                       help="replace an output folder that holds files trainsim did not write")

    sweep = sub.add_parser(
        "sweep", help="what-if: the arrival over a grid or Latin hypercube of rule values",
        description="Run a scenario over values of its operating rules or fields and write "
                    "sweep.csv, sweep.md and sweep.png (arrival median and 5–95 % against "
                    "each value, with the unchanged scenario as the baseline). PATH is a rule "
                    "or field by its dotted path (caps.KP.kmh, gauge_change.duration, "
                    "night.KP.mode, halts.Khasan.duration, pilot.headway, train.cars) or a "
                    "parameter column (pace, cap:KP). Values: LOW:HIGH:STEP, LOW:HIGH (5 "
                    "values on a grid), A,B,C, or one value. A duration set by a sweep is "
                    "fixed at it; a cap is that cap; a night rule a sweep creates runs "
                    "23:00–05:00 unless start and end are set. Every point runs the same "
                    "replications (same seed).")
    common(sweep, "sweep")
    sweep.add_argument("--vary", action="append", required=True, metavar="PATH=VALUES",
                       help="a field and its values (repeatable)")
    sweep.add_argument("--design", choices=["grid", "lhs"], default="grid",
                       help="every combination (grid, default) or a Latin hypercube (lhs)")
    sweep.add_argument("--samples", type=options.positive, default=None, metavar="K",
                       help="design points of a Latin hypercube")
    sweep.add_argument("--at", default=None, metavar="PLACE",
                       help="report the arrival at this place of the route (default: the "
                            "destination)")
    sweep.add_argument("-n", "--replications", type=options.replications, default=None, metavar="N",
                       help="replications per design point (default: the scenario's)")
    sweep.set_defaults(func=_cmd_sweep)

    sens = sub.add_parser(
        "sensitivity", help="Sobol indices: what drives the spread of the arrival and legs",
        description="Variance-based sensitivity (SALib, Saltelli scheme) of the arrival at each "
                    "major place and of each leg's time with respect to every drawn quantity "
                    "(departure, headway, pace, speed caps, halt durations, unplanned stops "
                    "per delay rule). Writes sensitivity.csv, sensitivity.png and summary.md.")
    common(sens, "sensitivity")
    def base(text: str) -> int:
        return options.power_of_two(text, zero=False)

    sens.add_argument("-N", "--base-samples", type=base, default=1024, metavar="N",
                      help="base samples, a power of two (default 1024); N × (factors + 2) "
                           "replications run")
    sens.set_defaults(func=_cmd_sensitivity)
