"""Constrained route P'yŏngyang → Đồng Đăng vs osmnx's unconstrained shortest_path.

Usage: python benchmarks/bench_routing.py [--runs N]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import osmnx as ox

from simulator.network import load_network
from simulator.routing import RailRouter, find_route

STOPS = ["Pyongyang", "Shenyang", "Tianjin", "Wuchang", "Changsha", "Nanning", "Dong Dang"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    net = load_network()
    t0 = time.perf_counter()
    router = RailRouter(net.graph)
    prep = time.perf_counter() - t0
    nodes = [net.stations.find(s).node for s in STOPS]
    constrained, plain = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        route = find_route(net, STOPS, router=router)
        constrained.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for a, b in itertools.pairwise(nodes):
            ox.shortest_path(net.graph, a, b, weight="length")
        plain.append(time.perf_counter() - t0)
    c, p = statistics.median(constrained), statistics.median(plain)
    print(f"route length {route.length_km:,.1f} km, {len(route.segments)} segments")
    print(f"router preparation (once per network): {prep:.3f} s")
    print(f"rail-aware route:          median {c * 1000:.1f} ms over {args.runs} runs")
    print(f"osmnx shortest_path legs:  median {p * 1000:.1f} ms over {args.runs} runs")
    print(f"ratio {c / p:.2f}x (target: < 1 s and <= 3x)")


if __name__ == "__main__":
    main()
