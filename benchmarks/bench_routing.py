"""Rail-aware route P'yŏngyang → Đồng Đăng vs osmnx's unconstrained shortest_path, same graph.

Usage: python benchmarks/bench_routing.py [--runs N]

Times (medians): building the router (once per network: the turn graph from the cached edge
arrays), a full find_route (search in layers through the via stops, route, comparison with the
shortest track), and osmnx.shortest_path over the same legs. Targets (issue 9): < 1 s and
<= 3x osmnx.
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
    prep = []
    for _ in range(3):
        t0 = time.perf_counter()
        router = RailRouter(net.graph, net.arrays)
        prep.append(time.perf_counter() - t0)
    nodes = [net.stations.find(s).node for s in STOPS]
    constrained, plain = [], []
    for _ in range(args.runs):
        router = RailRouter(net.graph, net.arrays)  # no cached searches: every run searches
        t0 = time.perf_counter()
        route = find_route(net, STOPS, router=router)
        constrained.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for a, b in itertools.pairwise(nodes):
            ox.shortest_path(net.graph, a, b, weight="length")
        plain.append(time.perf_counter() - t0)
    c, p = statistics.median(constrained), statistics.median(plain)
    g = net.graph
    print(f"network: {g.number_of_nodes():,} nodes, {g.number_of_edges():,} directed edges")
    print(f"route length {route.length_km:,.1f} km, {len(route.segments)} segments, "
          f"{route.ratio:.3f}x the shortest track")
    print(f"router preparation (once per network): median {statistics.median(prep):.3f} s")
    print(f"rail-aware find_route:     median {c * 1000:.1f} ms over {args.runs} runs")
    print(f"osmnx shortest_path legs:  median {p * 1000:.1f} ms over {args.runs} runs")
    print(f"ratio {c / p:.2f}x (target: < 1 s and <= 3x)")


if __name__ == "__main__":
    main()
