"""The ``trainsim`` command line: a thin layer over the functions of :mod:`simulator`.

Each command parses its arguments, calls the API and prints what it got. The scenario commands
(``run``, ``compare``, ``validate``) are in :mod:`simulator.commands`.

Exit codes: 0 success, 1 the run failed, 2 bad input (a one-line message, no traceback),
130 interrupted (SIGINT, Ctrl-C), 143 terminated (SIGTERM). An interrupted or terminated run
removes its temporary folders and leaves its output folder as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import select
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import NoReturn

from simulator import analysis_commands, commands, settings
from simulator._outdir import OutputFolder
from simulator.calibration import command as calibration_command
from simulator.errors import ArgumentError, TrainsimError
from simulator.network.checks import TOLERANCE_PCT, length_checks
from simulator.network.fetch import fetch_railways
from simulator.network.graph import RailNetwork, load_network
from simulator.outputs import ROUTE_FILES, write_route
from simulator.routing import MarkKind, find_route
from simulator.scenario import scenario_schema

__all__ = ["build_parser", "main"]


# ---------------------------------------------------------------------------------------------
# network
# ---------------------------------------------------------------------------------------------
def _cmd_network_info(args: argparse.Namespace) -> int:
    net = load_network(args.snapshot, cache=not args.no_cache)
    s = net.summary()
    print(f"Rail network {net.source}")
    print(f"  nodes {s['nodes']:,}  edges {s['edges']:,}  stations {s['stations']:,}")
    comp = s["component_km"]
    small = len(comp) - 1
    print(f"  connected components: {s['components']:,} (the largest {comp[0]:,.1f} km of track"
          + (f"; {small:,} pieces the sources leave unjoined, {sum(comp[1:]):,.1f} km)"
             if small else ")"))
    for title, key in (("country", "km_by_country"), ("gauge (mm)", "km_by_gauge"),
                       ("source", "km_by_source")):
        print(f"  km of track by {title}:")
        for name, km in s[key].items():
            print(f"    {name:<16} {km:9,.1f}")
    print(f"  border crossings: {', '.join(s['borders'])}")
    if args.check:
        print(_format_length_checks(net))
    return 0


def _format_length_checks(net: RailNetwork) -> str:
    lines = ["", "Length checks (plain shortest path vs published chainage, tolerance "
                 f"{TOLERANCE_PCT:g} %):",
             f"  {'from':<22} {'to':<22} {'published':>9} {'network':>9} {'error':>7}"]
    for c in length_checks(net):
        lines.append(f"  {c.start:<22} {c.end:<22} {c.published_km:>9.1f} "
                     f"{c.network_km:>9.1f} {c.error_pct:>+6.1f}%"
                     f"{'' if c.agrees else '  OUTSIDE'}")
    return "\n".join(lines)


def _cmd_network_fetch(args: argparse.Namespace) -> int:
    bbox = None
    if args.bbox:
        bbox = _bbox(args.bbox)
    elif not args.place:
        msg = "network fetch: give --bbox WEST,SOUTH,EAST,NORTH or --place NAME"
        raise ArgumentError(msg)
    nodes, ways = fetch_railways(args.out, bbox=bbox, place=args.place, progress=not args.quiet)
    print(f"wrote {args.out}: {nodes:,} nodes, {ways:,} ways")
    return 0


def _cmd_route(args: argparse.Namespace) -> int:
    net = load_network(args.snapshot)
    stops = [args.origin, *(args.via or []), args.destination]
    # the output folder is checked before routing; routing errors leave nothing behind
    with OutputFolder(args.out, inputs=[args.snapshot]).claim() as folder:
        route = find_route(net, stops, gauge=args.gauge,
                           gauge_change_at=args.gauge_change_at or (),
                           reverse_at=args.reverse_at or (), max_angle_deg=args.max_angle,
                           allow_detours=args.allow_detours)
        assert folder.path is not None
        write_route(route, folder.path, color_by=args.color_by)
        folder.commit(command="route", stops=stops)
    # the summary comes after the files, so that a reader who stops early (`| head`) has them
    print(f"Route {' → '.join(route.stops)}: {route.length_km:,.1f} km "
          f"({route.ratio:.2f}× the shortest track between the stops, "
          f"{route.shortest_km:,.1f} km)")
    if route.detour:
        print(f"trainsim: warning: {route.detour}", file=sys.stderr)
    by_country = route.km_by("country").items()
    print("  km by country: " + ", ".join(f"{k} {v:,.1f}" for k, v in by_country))
    start_gauge = route.gauge_after[0][1] if route.gauge_after else args.gauge
    print(f"  the train's gauge: {start_gauge:,} mm" + (
        f" (the track at {route.stops[0]}; --gauge to choose)" if args.gauge is None else ""))
    print("  km by line:")
    for line, km in sorted(route.km_by("line").items(), key=lambda kv: -kv[1])[:12]:
        print(f"    {line:<48} {km:8,.1f}")
    for kind, title in ((MarkKind.BORDER, "border crossings"),
                        (MarkKind.GAUGE_CHANGE, "gauge changes")):
        marks = route.marks_of(kind)
        if marks:
            print(f"  {title}: " + "; ".join(f"{m.name} at km {m.km:,.1f} ({m.detail})"
                                             for m in marks))
    passed = route.marks_of(MarkKind.STATION)
    print(f"  stations passed: {len(passed)}" + (
        ": " + ", ".join(m.name for m in passed[:40]) + (" …" if len(passed) > 40 else "")
        if passed else ""))
    print(f"wrote {', '.join(str(folder.target / name) for name in ROUTE_FILES)}")
    return 0


def _cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(scenario_schema(), indent=2, ensure_ascii=False))
    return 0


# ---------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------
def _bbox(text: str) -> tuple[float, float, float, float]:
    expected = f"--bbox {text!r}: expected WEST,SOUTH,EAST,NORTH in degrees"
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise ArgumentError(expected) from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ArgumentError(expected)
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        msg = (f"{expected}, with -180 ≤ WEST < EAST ≤ 180 and -90 ≤ SOUTH < NORTH ≤ 90 "
               f"(got {text})")
        raise ArgumentError(msg)
    return west, south, east, north


# ---------------------------------------------------------------------------------------------
# parser
# ---------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (its default prints the usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``trainsim`` command."""
    parser = _Parser(
        prog="trainsim",
        description="Simulate long-distance rail journeys on OpenStreetMap rail data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    net = sub.add_parser("network", help="inspect, build or download the rail network")
    net_sub = net.add_subparsers(dest="network_command", required=True)

    info = net_sub.add_parser("info", help="summary of the rail network snapshot")
    info.add_argument("--snapshot", type=Path, default=None,
                      help="OSM XML snapshot (default: the bundled data/rail/corridors.osm.bz2)")
    info.add_argument("--check", action="store_true",
                      help="also compare network lengths with published chainage")
    info.add_argument("--no-cache", action="store_true", help="parse the XML, ignore the cache")
    info.set_defaults(func=_cmd_network_info)

    fetch = net_sub.add_parser("fetch", help="download OSM railways online (Overpass)")
    fetch.add_argument("--bbox", help="WEST,SOUTH,EAST,NORTH in degrees")
    fetch.add_argument("--place", help="a place name the geocoder knows")
    fetch.add_argument("--out", type=Path, required=True, help="output .osm/.osm.bz2 file")
    fetch.add_argument("--quiet", action="store_true", help="no progress display")
    fetch.set_defaults(func=_cmd_network_fetch)

    route = sub.add_parser("route", help="rail-aware route between stations, with a map")
    route.add_argument("origin", help="station name (English or local; case and accents ignored)")
    route.add_argument("destination", help="station name")
    route.add_argument("--via", action="append", metavar="STATION",
                       help="a station to pass through, in order (repeatable)")
    route.add_argument("--gauge", type=int, default=None,
                       help="the train's gauge in mm (default: the gauge of the track at the "
                            "origin)")
    route.add_argument("--gauge-change-at", action="append", metavar="STATION",
                       help="a station where bogies may be exchanged (repeatable)")
    route.add_argument("--reverse-at", action="append", metavar="STATION",
                       help="a via station where the train may reverse (repeatable)")
    route.add_argument("--max-angle", type=float, default=45.0,
                       help="largest change of direction at a junction, degrees (default 45)")
    route.add_argument("--allow-detours", action="store_true",
                       help="accept a route that enters a country where no stop is, crosses a "
                            "border twice or passes a station twice (refused otherwise)")
    route.add_argument("--color-by", choices=["country", "speed"], default="country",
                       help="colour of the route on the map")
    route.add_argument("--out", type=Path, default=settings.outputs_dir / "route",
                       help="output folder for route.geojson, route.csv, route.png, route.gpkg "
                            "(default: outputs/route)")
    route.add_argument("--snapshot", type=Path, default=None, help="OSM XML snapshot")
    route.set_defaults(func=_cmd_route)

    commands.register(sub)
    analysis_commands.register(sub)
    commands.register_nowcast(sub)
    calibration_command.register(sub)

    schema = sub.add_parser(
        "schema", help="print the JSON Schema of scenario files",
        description="Print the JSON Schema of the scenario format, for editors that validate "
                    "and complete YAML: save it (trainsim schema > scenario.schema.json) and "
                    "start a scenario with '# yaml-language-server: "
                    "$schema=scenario.schema.json'.")
    schema.set_defaults(func=_cmd_schema)
    return parser


_SIGNALLED: list[int] = []
_MAIN_PID: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # SIGTERM's default action ends the process at once, skipping every cleanup; as an
    # exception it unwinds like Ctrl-C: temporary folders go, output folders stay as they were.
    # A second signal while unwinding ends the process at once (what was left is removed by the
    # next run), and so does any signal in a forked worker, which has nothing to clean up.
    if _SIGNALLED or os.getpid() not in _MAIN_PID:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    _SIGNALLED.append(signum)
    raise KeyboardInterrupt


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test's stand-in): try it
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            return True
        except (OSError, ValueError):
            pass
        return False
    poll = select.poll()
    poll.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poll.poll(0))


def _failed(exc: Exception) -> int:
    if os.environ.get("TRAINSIM_DEBUG"):
        raise exc
    print(f"trainsim: failed: {exc.__class__.__name__}: {exc} "
          "(set TRAINSIM_DEBUG=1 for the traceback)", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if hasattr(args, "argv"):  # commands that record how they were called
        args.argv = list(sys.argv[1:] if argv is None else argv)
    _SIGNALLED.clear()
    _MAIN_PID[:] = [os.getpid()]
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            handlers[sig] = signal.signal(sig, _on_signal)
    try:
        return int(args.func(args))
    except TrainsimError as exc:
        print(f"trainsim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _failed(exc)
        # the reader went away (`trainsim route A B | head -3`): stop quietly, as a command
        # ended by SIGPIPE does, with stdout sent nowhere so that the exit flush cannot fail
        with contextlib.suppress(OSError, ValueError):
            nowhere = os.open(os.devnull, os.O_WRONLY)
            os.dup2(nowhere, sys.stdout.fileno())
            os.close(nowhere)
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        signum = _SIGNALLED[0] if _SIGNALLED else signal.SIGINT
        word = "terminated" if signum == signal.SIGTERM else "interrupted"
        print(f"trainsim: {word}; temporary files removed, outputs left as they were",
              file=sys.stderr)
        return 128 + signum
    except Exception as exc:  # a failure of the run, not of the input: say so in one line
        return _failed(exc)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
