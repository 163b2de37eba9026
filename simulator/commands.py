"""The scenario commands: ``trainsim run``, ``trainsim compare``, ``trainsim validate`` and
``trainsim nowcast``.

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

__all__ = ["register", "register_nowcast"]


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
                             scheduler=args.scheduler, progress=tick, pilot=True)
    result = analyse(prep, mc)
    if args.sensitivity:
        from simulator.analysis_commands import sensitivity_of

        try:
            result.sensitivity = sensitivity_of(prep, args, base_n=args.sensitivity, seed=seed)
        except ScenarioError as exc:  # nothing drawn: the other outputs still stand
            prep.warnings.append(f"no sensitivity analysis: {exc}")
    return result


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
    with OutputFolder(out, replace=args.replace,
                      inputs=[scenario.path, scenario.network]).claim() as folder:
        prep = _prepare(scenario, defaults=args.defaults)
        result = _simulate(prep, args)
        assert folder.path is not None
        write_outputs(result, folder.path)
        folder.commit(**_manifest("run", [result]))
    _print_result(result)
    if result.legs:
        print(legs_markdown(result.legs))
    extra = ", sensitivity.csv, sensitivity.png" if result.sensitivity is not None else ""
    print(f"wrote {folder.target}/ (timeline.csv, events.csv, route.geojson, map.png, map.html, "
          "journey.gpkg, journey.kml, timedistance.png, comparison.png, logistics.csv, "
          f"traction.csv{extra}, summary.md, manifest.json)")
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
        folders = claim_outputs(targets, replace=args.replace, inputs=[
            p for sc in scenarios for p in (sc.path, sc.network)])
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
    p.add_argument("--scheduler", type=_scheduler, default=None, metavar="ADDRESS",
                   help="run the replications on a Dask distributed cluster, e.g. "
                        "tcp://10.0.0.5:8786 (same results as a local run)")
    p.add_argument("--defaults", choices=["calibrated", "hand"], default="calibrated",
                   help="operating parameters: drawn from the calibration's posterior "
                        "(scenarios/defaults/calibrated.yaml, the default) or the hand-set "
                        "rules of scenarios/defaults/operating.yaml; overrides apply either way")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--sensitivity", type=_power_of_two, default=0, metavar="N",
                   help="also compute Sobol indices of the arrival and leg times with N base "
                        "samples (a power of two; N × (factors + 2) more replications): "
                        "sensitivity.csv, sensitivity.png and a section of summary.md")
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


def _power_of_two(text: str, *, zero: bool = True) -> int:
    value = _whole(text)
    if value < 0 or value & (value - 1) or value == 1 or (value == 0 and not zero):
        msg = (f"expected {'0 or ' if zero else ''}a power of two ≥ 2 (64, 256, 1024, …), "
               f"got {text}")
        raise argparse.ArgumentTypeError(msg)
    return value


def _seed(text: str) -> int:
    from simulator.scenario import MAX_SEED

    value = _whole(text)
    if not 0 <= value <= MAX_SEED:
        msg = f"expected a whole number from 0 to 2**63 - 1, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _scheduler(text: str) -> str:
    """A Dask scheduler address, checked before anything is loaded (``tcp://host:8786``)."""
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(text)
        if scheme in ("tcp", "tls"):
            host, _port = parse_host_port(location)
            if not host:
                msg = "no host"
                raise ValueError(msg)
    except ValueError as exc:
        msg = (f"expected a Dask scheduler address such as tcp://10.0.0.5:8786, got {text!r} "
               f"({exc})")
        raise argparse.ArgumentTypeError(msg) from None
    return text


def register(sub: Any) -> None:
    run = sub.add_parser(
        "run", help="simulate one scenario and write its outputs",
        description="Simulate a scenario file (Monte Carlo) and write timeline.csv, events.csv, "
                    "route.geojson, map.png, map.html, journey.gpkg, journey.kml, "
                    "timedistance.png, comparison.png, logistics.csv (line occupation), "
                    "traction.csv (traction plan and energy), summary.md and manifest.json into "
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


# ----------------------------------------------------------------------------------------------
# nowcast (issue 14): thin over simulator.nowcast.nowcast and simulator.nowcast_replay.replay
# ----------------------------------------------------------------------------------------------
def _cmd_nowcast(args: argparse.Namespace) -> int:
    if args.replay:
        return _cmd_nowcast_replay(args)
    from simulator._outdir import OutputFolder
    from simulator.errors import SightingError
    from simulator.nowcast import nowcast, sighting_uncertainty_min
    from simulator.nowcast_outputs import NOWCAST_FILES, write_nowcast
    from simulator.scenario import load_scenario, parse_clock_time
    from simulator.sightings import parse_sighting, read_sightings

    if len(args.scenarios) != 1:
        msg = ("nowcast: give one scenario file (several only with --replay), got "
               f"{len(args.scenarios)}")
        raise SightingError(msg)
    scenario = load_scenario(args.scenarios[0])
    default = sighting_uncertainty_min(scenario)
    sightings = [parse_sighting(text, default_uncertainty_min=default,
                                origin=f"--seen {text!r}") for text in args.seen or []]
    for path in args.seen_file or []:
        sightings += read_sightings(path, default_uncertainty_min=default)
    now = None
    if args.now is not None:
        try:
            now = parse_clock_time(args.now)
        except ValueError as exc:
            raise SightingError(f"--now {args.now!r}: {exc}") from None
    if not sightings and now is None:
        msg = "nowcast: give at least one --seen 'PLACE TIME' (or --seen-file, or --now)"
        raise SightingError(msg)
    out = args.out or settings.outputs_dir / scenario.name / "nowcast"
    with OutputFolder(out, replace=args.replace, inputs=[
            scenario.path, scenario.network, *(args.seen_file or [])]).claim() as folder:
        seed = scenario.seed if args.seed is None else args.seed
        result = nowcast(scenario, sightings, now=now, particles=args.particles, seed=seed,
                         model_error=args.model_error)
        assert folder.path is not None
        write_nowcast(result, folder.path)
        folder.commit(command="nowcast", scenario=str(scenario.path), seed=seed,
                      particles=args.particles, model_error=args.model_error,
                      sightings=[s.describe() for s in sightings],
                      now=result.now.isoformat(" "))
    _print_nowcast(result)
    print(f"wrote {folder.target}/ ({', '.join(NOWCAST_FILES)}, manifest.json)")
    return 0


def _print_nowcast(result: Any) -> None:
    from datetime import timedelta

    from simulator.nowcast_outputs import eta_rows, position_now

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
    from simulator._outdir import OutputFolder
    from simulator.errors import SightingError
    from simulator.nowcast import MODEL_ERROR
    from simulator.nowcast_outputs import REPLAY_FILES, write_replay
    from simulator.nowcast_replay import replay
    from simulator.scenario import load_scenario

    if args.seen or args.seen_file or args.now:
        msg = ("nowcast --replay takes the reported times as sightings: no --seen, --seen-file "
               "or --now")
        raise SightingError(msg)
    scenarios = [load_scenario(p) for p in args.scenarios]
    out = args.out or settings.outputs_dir / "nowcast-replay"
    with OutputFolder(out, replace=args.replace, inputs=[
            p for sc in scenarios for p in (sc.path, sc.network)]).claim() as folder:
        from simulator.network.graph import load_network
        from simulator.planning import prepare

        networks = {s.network for s in scenarios}
        shared = load_network(next(iter(networks))) if len(networks) == 1 else None
        prepared = [prepare(sc, network=shared) for sc in scenarios]
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


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 <= value <= 1:
        msg = f"expected a fraction from 0 to 1 (0.1 is 10 %), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _particles(text: str) -> int:
    from simulator.scenario import MAX_REPLICATIONS

    value = _positive(text)
    if not 10 <= value <= 10 * MAX_REPLICATIONS:
        msg = f"expected 10 to {10 * MAX_REPLICATIONS:,} particles, got {value:,}"
        raise argparse.ArgumentTypeError(msg)
    return value


def register_nowcast(sub: Any) -> None:
    from simulator.nowcast import DEFAULT_PARTICLES, MODEL_ERROR

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
                   help="scenario YAML file (several with --replay)")
    p.add_argument("--seen", action="append", metavar="'PLACE TIME'",
                   help="a sighting, e.g. 'Tianjin 2019-02-24 13:00 +08:00 ±20m' or "
                        "'stopped at Changsha 2019-02-25 13:10 Asia/Shanghai' (repeatable)")
    p.add_argument("--seen-file", action="append", type=Path, metavar="CSV",
                   help="sightings, one per row: place,time[,uncertainty][,kind]")
    p.add_argument("--now", default=None, metavar="TIME",
                   help="the moment whose position the map shows, with its zone (default: "
                        "the last sighting)")
    p.add_argument("--particles", type=_particles, default=DEFAULT_PARTICLES, metavar="N",
                   help=f"particles of the filter (default {DEFAULT_PARTICLES:,})")
    p.add_argument("--seed", type=_seed, default=None, metavar="S",
                   help="master seed (default: the scenario's); the same seed gives the same "
                        "nowcast")
    p.add_argument("--model-error", type=_fraction, default=MODEL_ERROR, metavar="F",
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
