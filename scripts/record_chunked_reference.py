"""Record the chunked journey engine's distributions as the equivalence test's reference.

The chunked engine (route cut into ≤ 20 km chunks) was replaced by the next-event engine; this
script ran once, with the chunked engine still in the tree, and wrote
``tests/data/equivalence/<scenario>.npz``: for the rail journey time and every reported leg of
each flagship scenario, 2,000 evenly spaced quantiles and the exact median of N replications.

Usage: python scripts/record_chunked_reference.py [-n 40000] [--seed 1234]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import numpy as np

from simulator.montecarlo import run_monte_carlo
from simulator.network.graph import load_network
from simulator.reports import analyse
from simulator.scenario import load_scenario
from simulator.simulate import prepare

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "equivalence"
QUANTILES = (np.arange(2000) + 0.5) / 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout.strip()
    network = load_network()
    OUT.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        t0 = time.perf_counter()
        prep = prepare(load_scenario(path), network=network)
        mc = run_monte_carlo(prep.plan, args.n, seed=args.seed, workers=2)
        result = analyse(prep, mc)
        names = ["rail journey"]
        samples = [(mc.arrive_s[:, -1] - mc.depart_s[:, 0]) / 3600]
        # legs between consecutive stops of the route (depart one, arrive at the next)
        plan = prep.plan
        stops = prep.route.marks_of("stop")
        for a, b in zip(stops, stops[1:], strict=False):
            ia = int(np.argmin(np.abs(plan.km - a.km)))
            ib = int(np.argmin(np.abs(plan.km - b.km)))
            names.append(f"stops: {a.name} → {b.name}")
            samples.append((mc.arrive_s[:, ib] - mc.depart_s[:, ia]) / 3600)
        for leg in result.legs:
            if leg.leg in names:
                continue
            names.append(leg.leg)
            samples.append(np.asarray(leg.sim_h))
        np.savez_compressed(
            OUT / f"{path.stem}.npz", names=np.array(names),
            quantiles_h=np.array([np.quantile(s, QUANTILES) for s in samples]),
            median_h=np.array([np.median(s) for s in samples]),
            n=args.n, seed=args.seed, commit=commit, route_km=prep.route.length_km)
        print(f"{path.stem}: {len(names)} quantities, {args.n} replications, "
              f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
