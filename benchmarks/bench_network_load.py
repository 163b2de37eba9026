"""XML parse vs cached load of the bundled network (median of several runs).

Usage: python benchmarks/bench_network_load.py [--runs N]
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
    args = parser.parse_args()
    parse, cached = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            for f in Path(tmp).glob("*"):
                f.unlink()
            t0 = time.perf_counter()
            load_network(cache_dir=Path(tmp))
            parse.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            load_network(cache_dir=Path(tmp))
            cached.append(time.perf_counter() - t0)
    p, c = statistics.median(parse), statistics.median(cached)
    print(f"XML parse + simplify: median {p:.2f} s over {args.runs} runs")
    print(f"cached load:          median {c:.3f} s over {args.runs} runs")
    print(f"speed-up:             {p / c:.0f}x (target >= 10x)")


if __name__ == "__main__":
    main()
