"""The scenario commands: ``trainsim run``, ``compare``, ``validate`` and ``nowcast``.

Each is :mod:`simulator.run` plus what a command line adds: the output folders are claimed
before anything is simulated (see :mod:`simulator._outdir`), progress is shown, results are
printed. A bad input therefore costs seconds, not a simulation, and leaves nothing behind.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

import numpy as np

from simulator import _options as options
from simulator import settings
from simulator._outdir import OutputFolder, claim_outputs
from simulator.errors import SightingError
from simulator.nowcast import (
    DEFAULT_PARTICLES,
    MODEL_ERROR,
    NowcastResult,
    sighting_uncertainty_min,
)
from simulator.nowcast_outputs import (
    NOWCAST_FILES,
    REPLAY_FILES,
    eta_rows,
    position_now,
    write_nowcast,
    write_replay,
)
from simulator.nowcast_replay import replay
from simulator.outputs import RUN_FILES, measured_summary
from simulator.reports import legs_markdown
from simulator.results import ScenarioResult, comparison_folders, write_claimed
from simulator.run import (
    check_distinct_names,
    compare_scenarios,
    nowcast_scenario,
    plan_scenario,
    run_scenario,
)
from simulator.scenario import MAX_REPLICATIONS, load_scenario, parse_clock_time
from simulator.sightings import Sighting, read_sightings

__all__ = ["register", "register_nowcast"]


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
    with OutputFolder(out, replace=args.replace,
                      inputs=[scenario.path, scenario.network]).claim() as folder, \
            options.ProgressDisplay(quiet=args.quiet) as progress:
        result = run_scenario(scenario, replications=args.replications, seed=args.seed,
                              workers=args.workers, scheduler=args.scheduler,
                              progress=progress, sensitivity=args.sensitivity,
                              defaults=args.defaults)
        write_claimed(result, [folder])
    _print_result(result)
    if result.analysis.comparisons:
        print(legs_markdown(result.analysis.comparisons))
    extra = ", sensitivity.csv, sensitivity.png" if result.sensitivity is not None else ""
    print(f"wrote {folder.target}/ ({', '.join(RUN_FILES)}{extra}, manifest.json)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    # check every file, output folder and route before simulating any, so that a bad one fails
    # in seconds and writes nothing (compare_scenarios checks the routes)
    scenarios = [load_scenario(p) for p in args.scenarios]
    check_distinct_names(scenarios)
    with ExitStack() as stack:
        folders = claim_outputs(comparison_folders([s.name for s in scenarios], args.out),
                                replace=args.replace,
                                inputs=[p for sc in scenarios for p in (sc.path, sc.network)])
        for f in folders:
            stack.enter_context(f)
        progress = stack.enter_context(options.ProgressDisplay(quiet=args.quiet))
        comparison = compare_scenarios(scenarios, replications=args.replications,
                                       seed=args.seed, workers=args.workers,
                                       scheduler=args.scheduler, progress=progress,
                                       sensitivity=args.sensitivity, defaults=args.defaults)
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
    p.add_argument("-n", "--replications", type=options.replications, default=None, metavar="N",
                   help=f"Monte Carlo replications, 1 to {MAX_REPLICATIONS:,} (default: the "
                        "scenario's 'replications')")
    p.add_argument("--seed", type=options.seed, default=None, metavar="S",
                   help="master seed, a whole number ≥ 0; the same seed gives the same results "
                        "bit for bit, in every output (default: the scenario's 'seed')")
    p.add_argument("--workers", type=options.positive, default=None, metavar="W",
                   help="parallel processes (default: the CPUs available)")
    p.add_argument("--scheduler", type=options.scheduler, default=None, metavar="ADDRESS",
                   help="run the replications on a Dask distributed cluster, e.g. "
                        "tcp://10.0.0.5:8786 (same results as a local run)")
    p.add_argument("--defaults", choices=["calibrated", "hand"], default="calibrated",
                   help="operating parameters: drawn from the calibration's posterior "
                        "(scenarios/defaults/calibrated.yaml, the default) or the hand-set "
                        "rules of scenarios/defaults/operating.yaml; overrides apply either way")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--sensitivity", type=options.power_of_two, default=0, metavar="N",
                   help="also compute Sobol indices of the arrival and leg times with N base "
                        "samples (a power of two; N × (factors + 2) more replications): "
                        "sensitivity.csv, sensitivity.png and a section of summary.md")
    p.add_argument("--replace", action="store_true",
                   help="replace an output folder that holds files trainsim did not write "
                        "(they are deleted); without it such a folder is refused")


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


# ----------------------------------------------------------------------------------------------
# nowcast (issue 14)
# ----------------------------------------------------------------------------------------------
def _cmd_nowcast(args: argparse.Namespace) -> int:
    if args.replay:
        return _cmd_nowcast_replay(args)
    if len(args.scenarios) != 1:
        msg = ("nowcast: give one scenario file (several only with --replay), got "
               f"{len(args.scenarios)}")
        raise SightingError(msg)
    scenario = load_scenario(args.scenarios[0])
    seen: list[str | Sighting] = list(args.seen or [])
    for path in args.seen_file or []:
        seen += read_sightings(path,
                               default_uncertainty_min=sighting_uncertainty_min(scenario))
    now = None
    if args.now is not None:
        try:
            now = parse_clock_time(args.now)
        except ValueError as exc:
            msg = f"--now {args.now!r}: {exc}"
            raise SightingError(msg) from None
    if not seen and now is None:
        msg = "nowcast: give at least one --seen 'PLACE TIME' (or --seen-file, or --now)"
        raise SightingError(msg)
    out = args.out or settings.outputs_dir / scenario.name / "nowcast"
    with OutputFolder(out, replace=args.replace, inputs=[
            scenario.path, scenario.network, *(args.seen_file or [])]).claim() as folder:
        seed = scenario.seed if args.seed is None else args.seed
        result = nowcast_scenario(scenario, seen, now=now, particles=args.particles, seed=seed,
                                  model_error=args.model_error, workers=args.workers)
        assert folder.path is not None
        write_nowcast(result, folder.path)
        folder.commit(command="nowcast", scenario=str(scenario.path), seed=seed,
                      particles=args.particles, model_error=args.model_error,
                      sightings=[p.sighting.describe() for p in result.sightings],
                      now=result.now.isoformat(" "))
    _print_nowcast(result)
    print(f"wrote {folder.target}/ ({', '.join(NOWCAST_FILES)}, manifest.json)")
    return 0


def _print_nowcast(result: NowcastResult) -> None:
    plan = result.plan
    prep = result.prepared
    print(f"{prep.scenario.name}: {' → '.join(prep.itinerary.stops)}, "
          f"{len(result.sightings)} sighting(s), {result.particles:,} particles, "
          f"seed {result.seed}")
    for i, step in enumerate(result.steps, 1):
        s = step.sighting
        expected = [plan.epoch + timedelta(seconds=float(x)) + timedelta(
            seconds=float(plan.tz_offset_s[step.point])) for x in step.predicted_s]
        where = f"km {s.km:,.0f}" + (f", {s.snap_km:.1f} km off the route" if s.snap_km else "")
        print(f"  {i}. {s.sighting.describe()}: {s.name} ({where}); the model expected "
              f"{expected[1]:%d %b %H:%M} (5–95 % {expected[0]:%d %b %H:%M}–"
              f"{expected[2]:%H:%M}); ESS {step.ess:,.0f}"
              + (", resampled" if step.resampled else "")
              + (f", uncertainty widened to ±{step.sigma_s / 60:.0f} min" if step.widened
                 else ""))
    pos = position_now(result)
    q = pos["q"]
    print(f"now ({result.now.isoformat(' ', 'minutes')}): most likely {pos['near'][2]} "
          f"(km {q[2]:,.0f}); 90 %: km {q[0]:,.0f}–{q[4]:,.0f}")
    stops = set(prep.itinerary.stops)
    for r in eta_rows(result):
        if r["event"] in ("road_arrive", "border", "gauge_change") or (
                r["event"] in ("arrive", "pass") and r["place"] in stops):
            print(f"  {r['event'].replace('_', ' ')} {r['place']}: {r['median_local']} "
                  f"(5–95 % {r['p05_local'][5:16]} – {r['p95_local'][5:16]}); before the "
                  f"sightings {r['prior_median_local'][5:16]}")
    for note in result.notes:
        print(f"  note: {note}")


def _cmd_nowcast_replay(args: argparse.Namespace) -> int:
    if args.seen or args.seen_file or args.now:
        msg = ("nowcast --replay takes the reported times as sightings: no --seen, --seen-file "
               "or --now")
        raise SightingError(msg)
    scenarios = [load_scenario(p) for p in args.scenarios]
    out = args.out or settings.outputs_dir / "nowcast-replay"
    with OutputFolder(out, replace=args.replace, inputs=[
            p for sc in scenarios for p in (sc.path, sc.network)]).claim() as folder:
        prepared = [plan_scenario(sc) for sc in scenarios]
        trips = replay(scenarios, particles=args.particles, seed=args.seed,
                       model_error=args.model_error, prepared=prepared)
        sensitivity = None
        if args.sensitivity:
            sensitivity = {args.model_error: trips}
            for f in sorted({0.0, MODEL_ERROR / 2, 2 * MODEL_ERROR} - {args.model_error}):
                sensitivity[f] = replay(scenarios, particles=args.particles, seed=args.seed,
                                        model_error=f, prepared=prepared)
        assert folder.path is not None
        text = write_replay(trips, folder.path, particles=args.particles,
                            model_error=args.model_error, sensitivity=sensitivity)
        folder.commit(command="nowcast --replay", scenarios=[str(p) for p in args.scenarios],
                      particles=args.particles, seed=args.seed, model_error=args.model_error)
    print(text)
    print(f"wrote {folder.target}/ ({', '.join(REPLAY_FILES)}, manifest.json)")
    return 0


def register_nowcast(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``nowcast`` to the ``trainsim`` parser."""
    p = sub.add_parser(
        "nowcast", help="where is the train now, when will it arrive: conditioned on sightings",
        description="Condition a scenario's journey on sightings of the train (a particle "
                    "filter) and write eta.csv, sightings.csv, eta.png, timedistance.png, "
                    "map.html and summary.md into outputs/<scenario>/nowcast/. A sighting is "
                    "'[passing|stopped at|arrived at|left] PLACE YYYY-MM-DD HH:MM ZONE "
                    "[±20m]', PLACE a station name or 'lat,lon'. With --replay, evaluate the "
                    "nowcast on each scenario's reported times instead. Exit codes: 0 ok, "
                    "1 failure, 2 bad input (a bad or impossible sighting).")
    p.add_argument("scenarios", type=Path, nargs="+", metavar="SCENARIO",
                   help="scenario YAML file or bundled scenario's name (several with "
                        "--replay)")
    p.add_argument("--seen", action="append", metavar="'PLACE TIME'",
                   help="a sighting, e.g. 'Tianjin 2019-02-24 13:00 +08:00 ±20m' or "
                        "'stopped at Changsha 2019-02-25 13:10 Asia/Shanghai' (repeatable)")
    p.add_argument("--seen-file", action="append", type=Path, metavar="CSV",
                   help="sightings, one per row: place,time[,uncertainty][,kind]")
    p.add_argument("--now", default=None, metavar="TIME",
                   help="the moment whose position the map shows, with its zone (default: "
                        "the last sighting)")
    p.add_argument("--particles", type=options.particles, default=DEFAULT_PARTICLES, metavar="N",
                   help=f"particles of the filter (default {DEFAULT_PARTICLES:,})")
    p.add_argument("--workers", type=options.positive, default=None, metavar="W",
                   help="parallel processes running the particles (default: the CPUs "
                        "available; the result is the same with any number)")
    p.add_argument("--seed", type=options.seed, default=None, metavar="S",
                   help="master seed (default: the scenario's); the same seed gives the same "
                        "nowcast")
    p.add_argument("--model-error", type=options.fraction, default=MODEL_ERROR, metavar="F",
                   help=f"the model's own error on a leg, a fraction of its time (default "
                        f"{MODEL_ERROR:g}; see README, Nowcast)")
    p.add_argument("--replay", action="store_true",
                   help="replay evaluation over the scenarios' reported times; writes "
                        "outputs/nowcast-replay/")
    p.add_argument("--sensitivity", action="store_true",
                   help="with --replay: also replay with half, twice and no model error")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="output folder (default: outputs/<scenario>/nowcast, or "
                        "outputs/nowcast-replay with --replay)")
    p.add_argument("--replace", action="store_true",
                   help="replace an output folder that holds files trainsim did not write")
    p.add_argument("--quiet", action="store_true", help="(accepted for symmetry; no progress "
                   "display)")
    p.set_defaults(func=_cmd_nowcast)
