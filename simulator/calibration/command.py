"""``trainsim calibrate``: the command line of the calibration (registered by the CLI)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from simulator import _options as options
from simulator import settings
from simulator._outdir import OutputFolder
from simulator.calibration.fit import CANDIDATES, FitSettings
from simulator.calibration.report import (
    check_readme,
    cv_overall_table,
    fit_table,
    readme_section,
    update_readme,
    write_outputs,
)
from simulator.run import calibrate
from simulator.scenario import load_scenario

__all__ = ["register"]


def _cmd_calibrate(args: argparse.Namespace) -> int:
    for path in args.scenarios:  # every file is checked before anything is fitted
        load_scenario(path)
    if args.readme is not None:
        check_readme(args.readme)
    command = "trainsim " + " ".join(shlex.quote(a) for a in args.argv)

    def say(text: str) -> None:
        if not args.quiet:
            print(text, file=sys.stderr, flush=True)

    out = args.out or settings.outputs_dir / "calibration"
    inputs = [*args.scenarios, args.calibration, args.readme]
    with OutputFolder(out, replace=args.replace, inputs=inputs).claim() as folder:
        run = calibrate(args.scenarios, seed=args.seed, cv=args.cv,
                        candidates=args.candidates, population=args.population,
                        generations=args.generations, simulations=args.simulations,
                        draws=args.draws, workers=args.workers, scheduler=args.scheduler,
                        command=command, progress=say)
        assert folder.path is not None
        written = write_outputs(run, folder.path)
        run.calibration.write(args.calibration)
        if args.readme is not None:
            update_readme(args.readme, readme_section(run))
        folder.commit(command=command, seed=args.seed, calibration=str(args.calibration))
    print(_short(run))
    print(f"wrote {args.calibration}, {folder.target}/ ({', '.join(written)})"
          + (f" and the tables in {args.readme}" if args.readme else "")
          + f" in {run.seconds / 60:.1f} min")
    return 0


def _short(run: Any) -> str:

    text = fit_table(run)
    if run.cv:
        text += "\n\n" + cv_overall_table(run) + f"\n\nchosen model: {run.candidate}"
    return text


def _candidates(text: str) -> list[str]:

    names = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in CANDIDATES]
    if bad:
        msg = f"unknown candidate {bad[0]!r}: choose from {', '.join(CANDIDATES)}"
        raise argparse.ArgumentTypeError(msg)
    return names


def register(sub: Any) -> None:
    d = FitSettings()
    p = sub.add_parser(
        "calibrate", help="fit the shared operating parameters to every reported leg",
        description="Fit the shared operating parameters (the speed caps, the rates of unplanned "
                    "stops, the bogie exchange's duration, the spread of the trip-level pace; "
                    "the other rules keep their hand-set draws) to every measured "
                    "leg of the scenarios by ABC-SMC (pyabc), write scenarios/defaults/"
                    "calibrated.yaml (every run then draws from it) and outputs/calibration/. "
                    "With --cv also leave-one-trip-out cross-validation against the hand-set "
                    "rules and the press's method, and the structural candidates.")
    p.add_argument("scenarios", type=Path, nargs="+",
                   help="scenario YAML files or bundled scenarios' names")
    p.add_argument("--cv", action="store_true",
                   help="leave-one-trip-out cross-validation, and the structural candidates")
    p.add_argument("--candidates", type=_candidates, default=list(CANDIDATES),
                   metavar="LIST", help="structural candidates to cross-validate "
                   f"(default: {','.join(CANDIDATES)})")
    p.add_argument("--seed", type=options.seed, default=13, metavar="S",
                   help="master seed: the same seed gives the same calibration (default 13)")
    p.add_argument("--population", type=options.positive, default=d.population, metavar="N",
                   help=f"ABC-SMC population per generation (default {d.population})")
    p.add_argument("--generations", type=options.positive, default=d.generations, metavar="G",
                   help=f"at most this many generations per fit (default {d.generations})")
    p.add_argument("--simulations", type=options.positive, default=d.max_simulations, metavar="N",
                   help=f"at most this many simulations per fit (default {d.max_simulations:,})")
    p.add_argument("--draws", type=options.positive, default=d.draws, metavar="N",
                   help=f"predictive draws per leg for the scores and tables (default "
                        f"{d.draws:,})")
    p.add_argument("--workers", type=options.positive, default=None, metavar="W",
                   help="fits run side by side on this many processes (default: the CPUs, "
                        "at most 8)")
    p.add_argument("--scheduler", type=options.scheduler, default=None, metavar="ADDRESS",
                   help="run the fits on a Dask distributed cluster (same results)")
    p.add_argument("--calibration", type=Path, default=settings.calibrated_defaults,
                   metavar="FILE", help="where to write the calibration (default "
                   "scenarios/defaults/calibrated.yaml)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default outputs/calibration)")
    p.add_argument("--readme", type=Path, default=None, metavar="FILE",
                   help="also replace the generated tables of this README")
    p.add_argument("--replace", action="store_true",
                   help="replace an output folder that holds files trainsim did not write")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_calibrate, argv=[])
