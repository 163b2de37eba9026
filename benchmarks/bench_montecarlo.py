"""Monte Carlo throughput and memory on P'yŏngyang → Đồng Đăng (scenarios/hanoi-2019).

Prints, as medians over --runs runs:

* replications/s of the next-event engine against the chunked engine it replaced (commit
  ``OLD_ENGINE``, extracted with ``git archive`` into a temporary folder and run there, on its
  own bundled data), in one process and in two: with the calibrated draws runs make by default
  (more unplanned stops, so more events, and a trip pace per replication), and like for like
  with the hand-set rules, the draws the chunked engine simulated;
* 100,000 replications on two processes: wall time and peak memory of the whole process tree,
  sampled (RSS counts the pages forked workers share with the parent in every process; PSS
  divides them among the sharers);
* a Dask ``LocalCluster`` (2 workers) against the process pool: start-up and the same run.

Usage: python benchmarks/bench_montecarlo.py [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from simulator.journey import draw_parameters, simulate_batch
from simulator.montecarlo import run_monte_carlo
from simulator.planning import prepare
from simulator.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "hanoi-2019.yaml"
#: the last commit with the chunked engine
OLD_ENGINE = "b0554c9"

_OLD = """
import json, statistics, sys, time
from simulator.montecarlo import run_monte_carlo
from simulator.scenario import load_scenario
from simulator.simulate import prepare  # the old commit's module (simulator.planning is newer)
prep = prepare(load_scenario("scenarios/hanoi-2019.yaml"))
n, runs = int(sys.argv[1]), int(sys.argv[2])
def median(workers):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run_monte_carlo(prep.plan, n, seed=1, workers=workers)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
print(json.dumps({"km": prep.route.length_km, "n": n, "one": median(1), "two": median(2)}))
"""

_BIG = """
import json, sys, time
from simulator.montecarlo import run_monte_carlo
from simulator.planning import prepare
from simulator.scenario import load_scenario
prep = prepare(load_scenario(sys.argv[1]))
t0 = time.perf_counter()
mc = run_monte_carlo(prep.plan, int(sys.argv[2]), seed=1, workers=2)
print(json.dumps({"seconds": time.perf_counter() - t0, "bytes": mc.arrive_s.nbytes
                  + mc.dwell_depart_s.nbytes + mc.halt_start_s.nbytes + mc.halt_end_s.nbytes}))
"""


def _median_time(fn: Callable[[], Any], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _peak_memory(cmd: list[str], **kw: Any
                 ) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run ``cmd``; return it and the peak memory (MB) of its process tree, sampled every
    50 ms: the sum of RSS (pages shared by forked workers counted in each) and of PSS (shared
    pages divided among the processes that share them)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)
    peak_rss = peak_pss = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_rss, peak_pss
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                mem = [p.memory_full_info() for p in [root, *root.children(recursive=True)]]
                peak_rss = max(peak_rss, sum(m.rss for m in mem) / 2**20)
                peak_pss = max(peak_pss, sum(getattr(m, "pss", m.rss) for m in mem) / 2**20)
            except psutil.Error:
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    stop.set()
    thread.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), peak_rss, peak_pss


def old_engine(n: int, runs: int) -> dict[str, float] | None:
    """Replications/s of the chunked engine, from its commit; None outside a git checkout."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", OLD_ENGINE], cwd=ROOT, capture_output=True)
        if archive.returncode != 0:
            return None
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(_OLD), str(n), str(runs)],
                              cwd=tmp, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:])
            return None
        data: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big", type=int, default=100_000, help="replications of the big run")
    parser.add_argument("--quick", action="store_true", help="fewer replications, 1 run")
    args = parser.parse_args()
    runs = 1 if args.quick else args.runs
    n_new = 5_000 if args.quick else 20_000
    n_old = 500 if args.quick else 2_000

    t0 = time.perf_counter()
    prep = prepare(load_scenario(SCENARIO))
    t_prep = time.perf_counter() - t0
    plan = prep.plan
    print(f"scenario {SCENARIO.name}: {prep.itinerary.length_km:,.0f} km, {plan.n_points} route "
          f"points, {len(plan.halts)} halts, {len(plan.grid_kmh)} cap levels; preparation "
          f"(route, profiles) {t_prep:.2f} s once")
    params = draw_parameters(plan, 1, 1)
    t_one = _median_time(lambda: simulate_batch(plan, params), 200)
    new1 = _median_time(lambda: run_monte_carlo(plan, n_new, seed=1, workers=1), runs)
    new2 = _median_time(lambda: run_monte_carlo(plan, n_new, seed=1, workers=2), runs)
    plan_hand = prepare(load_scenario(SCENARIO), defaults="hand").plan
    hand1 = _median_time(lambda: run_monte_carlo(plan_hand, n_new, seed=1, workers=1), runs)
    same = np.array_equal(run_monte_carlo(plan, 3000, seed=9, workers=1).arrive_s,
                          run_monte_carlo(plan, 3000, seed=9, workers=2).arrive_s)
    print(f"one replication alone (SimPy, leader + pilot): median {t_one * 1000:.2f} ms")
    print(f"next-event engine, {n_new:,} replications: 1 process {n_new / new1:,.0f}/s, "
          f"2 processes {n_new / new2:,.0f}/s (bit-identical 1 vs 2: {same}); with the "
          f"hand-set rules (--defaults hand) 1 process {n_new / hand1:,.0f}/s")

    old = old_engine(n_old, runs)
    if old is None:
        print("chunked engine: not measured (needs the git history)")
    else:
        o1, o2 = old["n"] / old["one"], old["n"] / old["two"]
        print(f"chunked engine ({OLD_ENGINE}, its route {old['km']:,.0f} km), {old['n']:,.0f} "
              f"replications: 1 process {o1:,.0f}/s, 2 processes {o2:,.0f}/s")
        print(f"  ratio new/old: 1 process ×{n_new / new1 / o1:.1f}, "
              f"2 processes ×{n_new / new2 / o2:.1f} (calibrated draws); like for like, the "
              f"hand-set rules in 1 process: ×{n_new / hand1 / o1:.1f} (target ≥ 10×)")

    done, peak, pss = _peak_memory([sys.executable, "-c", textwrap.dedent(_BIG), str(SCENARIO),
                            str(args.big)], cwd=ROOT)
    if done.returncode != 0:
        print(done.stderr[-2000:])
    else:
        big = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{args.big:,} replications on 2 processes: {big['seconds']:.1f} s "
              f"(target < 30 s); peak memory of the process tree (target < 1 GB): RSS "
              f"{peak:,.0f} MB, PSS {pss:,.0f} MB; results kept {big['bytes'] / 2**20:,.0f} MB")

    from distributed import LocalCluster

    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        t_start = time.perf_counter() - t0
        address = cluster.scheduler_address
        dask = _median_time(lambda: run_monte_carlo(plan, n_new, seed=1, scheduler=address),
                            runs)
        identical = np.array_equal(
            run_monte_carlo(plan, 3000, seed=9, scheduler=address).arrive_s,
            run_monte_carlo(plan, 3000, seed=9, workers=1).arrive_s)
    print(f"Dask LocalCluster (2 workers): start {t_start:.1f} s; {n_new:,} replications "
          f"{dask:.2f} s against {new2:.2f} s on the process pool (×{dask / new2:.2f}; "
          f"same numbers: {identical})")


if __name__ == "__main__":
    main()
