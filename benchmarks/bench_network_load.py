"""XML parse vs cached load of the bundled network (median of several runs).

Usage: python benchmarks/bench_network_load.py [--runs N] [--parse-runs N]

"parse" is what a machine without any cache would do (osmnx graph_from_xml, simplification,
edge arrays); "cached" reads the bundled parsed graph (data/rail/corridors.graph.npz, the safe
npz + JSON format) that every checkout has. Target (issues 9, 10): cached >= 10x faster.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from simulator.network import load_network


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parse-runs", type=int, default=3)
    args = parser.parse_args()
    parse, cached = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.parse_runs):
            t0 = time.perf_counter()
            load_network(cache=False)
            parse.append(time.perf_counter() - t0)
        for i in range(args.runs):
            t0 = time.perf_counter()
            # a cache folder of its own each time: load_network keeps what it loaded from the
            # same files and folder within a process
            net = load_network(cache_dir=Path(tmp) / str(i))
            cached.append(time.perf_counter() - t0)
    p, c = statistics.median(parse), statistics.median(cached)
    print(f"network: {net.graph.number_of_nodes():,} nodes, {net.graph.number_of_edges():,} "
          f"directed edges, {len(net.stations):,} stations")
    print(f"XML parse + simplify + edge arrays: median {p:.2f} s over {args.parse_runs} runs")
    print(f"cached load (bundled graph):        median {c:.3f} s over {args.runs} runs")
    print(f"speed-up:                           {p / c:.0f}x (target >= 10x)")


if __name__ == "__main__":
    main()
