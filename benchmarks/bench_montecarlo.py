"""Monte Carlo throughput: 1,000 replications of P'yŏngyang → Đồng Đăng (scenarios/hanoi-2019).

Also times one speed profile of the whole 4,041 km route (the vectorised physics) and one
replication in a single process. Figures are medians over --runs runs.

Usage: python benchmarks/bench_montecarlo.py [--runs N] [--replications N] [--workers W]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from simulator.journey import simulate
from simulator.montecarlo import run_monte_carlo
from simulator.physics import speed_profile
from simulator.scenario import load_scenario
from simulator.simulate import prepare

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "hanoi-2019.yaml"


def _median_time(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replications", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    prep = prepare(load_scenario(SCENARIO))
    t_prep = time.perf_counter() - t0
    plan = prep.plan
    n = args.replications
    workers = args.workers or len(os.sched_getaffinity(0))

    length = prep.route.length_km * 1000
    limit = prep.day.limit_ms
    cells = np.interp((np.arange(int(np.ceil(length / 100))) + 0.5) * 100, prep.day.x_m, limit)
    t_profile = _median_time(lambda: speed_profile(length, cells, prep.sections, dx=100.0),
                             args.runs)
    t_one = _median_time(lambda: simulate(plan, np.random.default_rng(1)), args.runs * 20)
    t_serial = _median_time(lambda: run_monte_carlo(plan, n, seed=1, workers=1), args.runs)
    t_par = _median_time(lambda: run_monte_carlo(plan, n, seed=1, workers=workers), args.runs)
    same = np.array_equal(run_monte_carlo(plan, 200, seed=9, workers=1).arrive_s,
                          run_monte_carlo(plan, 200, seed=9, workers=workers).arrive_s)
    print(f"scenario {SCENARIO.name}: {prep.route.length_km:,.0f} km, {plan.n_chunks} chunks, "
          f"{len(plan.halts)} halts; preparation (route + profiles) {t_prep:.2f} s once")
    print(f"speed profile of the whole route ({len(prep.day.x_m):,} points): "
          f"median {t_profile * 1000:.1f} ms")
    print(f"one replication (SimPy, leader + pilot): median {t_one * 1000:.2f} ms")
    print(f"{n} replications, 1 process:   median {t_serial:.2f} s "
          f"({n / t_serial:,.0f} replications/s)")
    print(f"{n} replications, {workers} processes: median {t_par:.2f} s "
          f"({n / t_par:,.0f} replications/s; target ≤ 10 s)")
    print(f"same seed, 1 vs {workers} processes, bit-identical: {same}")


if __name__ == "__main__":
    main()
