"""Nowcast speed on P'yŏngyang → Đồng Đăng (scenarios/hanoi-2019), 20,000 particles.

The sightings are the trip's reported times up to Wuchang (departure, Yalu bridge, Tianjin,
Wuhan), so the filter conditions four times and continues runs from three places. Prints, as
medians over --runs runs:

* the whole command, ``trainsim nowcast … --out <tmp>``, in a fresh process: wall time and the
  CPU time of the process and its workers (user + system; the particles run on every core, so
  the CPU time exceeds the wall time on an idle machine);
* its parts, in this process: routing and planning with the sightings' points, the filter
  (prior runs, four sightings, the posterior's analysis), and writing the six output files; the
  CPU time of a part is this process's alone (not the worker processes' that run particles).

Target (issue 14): a nowcast with at least 20,000 particles over the Hanoi outbound answers in
under 10 s on the 2-core development machine.

Usage: python benchmarks/bench_nowcast.py [--runs N] [--particles N]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "hanoi-2019.yaml"
SIGHTINGS = [
    "left Pyongyang 2019-02-23 17:00 +09:00",
    "border KP-CN 2019-02-23 21:20 +08:00 ±20m",
    "Tianjin 2019-02-24 13:00 +08:00",
    "Wuchang 2019-02-25 07:00 +08:00",
]


def _median(values: list[float]) -> float:
    return statistics.median(values)


def command(particles: int, runs: int) -> tuple[float, float]:
    """(wall s, CPU s) of the whole command in a fresh process."""
    walls, cpus = [], []
    trainsim = Path(sys.executable).with_name("trainsim")
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            args = [str(trainsim), "nowcast", str(SCENARIO), "--particles", str(particles),
                    "--out", str(Path(tmp) / "nowcast")]
            for s in SIGHTINGS:
                args += ["--seen", s]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            walls.append(time.perf_counter() - t0)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return _median(walls), _median(cpus)


def parts(particles: int, runs: int) -> dict[str, tuple[float, float]]:
    """(wall s, CPU s) of each part, in this process."""
    from simulator.network.graph import load_network
    from simulator.nowcast import nowcast, prepare_nowcast
    from simulator.nowcast_outputs import write_nowcast
    from simulator.scenario import load_scenario
    from simulator.sightings import parse_sighting

    scenario = load_scenario(SCENARIO)
    sightings = [parse_sighting(s) for s in SIGHTINGS]
    network = load_network()
    out: dict[str, list[tuple[float, float]]] = {"plan": [], "filter": [], "write": []}

    def timed(key: str, fn):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn()
        out[key].append((time.perf_counter() - t0, time.process_time() - c0))
        return value

    for _ in range(runs):
        prepared = timed("plan", lambda: prepare_nowcast(scenario, sightings, network=network))
        result = timed("filter", lambda: nowcast(scenario, sightings, particles=particles,
                                                 prepared=prepared))  # noqa: B023
        with tempfile.TemporaryDirectory() as tmp:
            timed("write", lambda: write_nowcast(result, Path(tmp)))  # noqa: B023
    return {k: (_median([w for w, _ in v]), _median([c for _, c in v])) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--particles", type=int, default=20_000)
    args = ap.parse_args()
    print(f"nowcast benchmark: {SCENARIO.name}, {args.particles:,} particles, "
          f"{len(SIGHTINGS)} sightings, medians of {args.runs} runs; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    p = parts(args.particles, args.runs)
    for key, label in (("plan", "route and plan with the sightings' points"),
                       ("filter", "particle filter (prior runs, 4 sightings, analysis)"),
                       ("write", "write eta.csv, sightings.csv, eta.png, timedistance.png, "
                                 "map.html, summary.md")):
        print(f"  {label}: {p[key][0]:.2f} s wall, {p[key][1]:.2f} s CPU in this process")
    wall, cpu = command(args.particles, args.runs)
    print(f"  whole command in a fresh process: {wall:.2f} s wall, {cpu:.2f} s CPU "
          f"(target: under 10 s)")


if __name__ == "__main__":
    main()
