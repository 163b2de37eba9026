"""Rail-aware routing: switch angles, reversals, via order, gauge, and the flagship routes."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import networkx as nx
import pytest

from simulator.cli import main
from simulator.errors import RouteNotFoundError
from simulator.network.graph import RailNetwork
from simulator.network.stations import Station, StationIndex
from simulator.routing import RailRouter, find_route

UNIT = 0.01  # degrees per unit of the synthetic layout (about 1.1 km)


def _synthetic(points: dict[str, tuple[float, float]], lines: list[list[str]],
               gauge: str = "1435") -> RailNetwork:
    """A tiny network: named points (units) joined by two-way track."""
    g = nx.MultiDiGraph(crs="epsg:4326")
    ids = {name: i + 1 for i, name in enumerate(points)}
    for name, (x, y) in points.items():
        g.add_node(ids[name], x=x * UNIT, y=y * UNIT, railway="station", name=name)
    for line in lines:
        for a, b in itertools.pairwise(line):
            (xa, ya), (xb, yb) = points[a], points[b]
            length = math.hypot(xb - xa, yb - ya) * UNIT * 111_195
            for u, v in ((a, b), (b, a)):
                g.add_edge(ids[u], ids[v], length=length, gauges=frozenset({int(gauge)}),
                           country="XX", source="test", name="line")
    stations = [Station(ids[n], n, n, y * UNIT, x * UNIT, None, "XX")
                for n, (x, y) in points.items()]
    return RailNetwork(graph=g, stations=StationIndex(stations), source=Path("synthetic"))


def _loop_network() -> RailNetwork:
    # A main line A–J–B runs east. C lies west of J on a branch that leaves J towards the
    # north-west: from A, reaching C directly needs a 135° turn at J (a reversal). The legal way
    # round is a balloon loop east of B with 30° turns.
    points = {"A": (0, 0), "J": (1, 0), "B": (2, 0), "C": (0.5, 0.5)}
    loop = ["B"]
    for i, deg in enumerate(range(-60, 181, 30)):
        name = f"L{i}"
        points[name] = (2 + math.cos(math.radians(deg)), 1 + math.sin(math.radians(deg)))
        loop.append(name)
    return _synthetic(points, [["A", "J", "B"], ["J", "C"], [*loop, "C"]])


def test_y_junction_takes_the_longer_legal_path() -> None:
    net = _loop_network()
    naive = nx.shortest_path(net.graph, 1, 4, weight="length")
    assert naive == [1, 2, 4]  # A–J–C: needs the reversal at J
    route = find_route(net, ["A", "C"])
    assert [s.v for s in route.segments][:2] == [2, 3]  # A→J→B, then round the loop
    naive_km = nx.shortest_path_length(net.graph, 1, 4, weight="length") / 1000
    assert route.length_km > 2 * naive_km


def test_angle_limit_can_be_relaxed() -> None:
    route = find_route(_loop_network(), ["A", "C"], max_angle_deg=179)
    assert [s.v for s in route.segments] == [2, 4]


def test_no_route_names_both_points_and_why() -> None:
    net = _synthetic({"A": (0, 0), "B": (1, 0), "X": (5, 5), "Y": (6, 5)},
                     [["A", "B"], ["X", "Y"]])
    with pytest.raises(RouteNotFoundError, match=r"from A to X \(.*not connected.*node 1 .*node 3"):
        find_route(net, ["A", "X"])


def test_sharp_turn_only_route_is_refused_with_reason() -> None:
    net = _synthetic({"A": (0, 0), "J": (1, 0), "C": (0.3, 0.3), "D": (1, 1)},
                     [["A", "J", "C"], ["J", "D"]])
    with pytest.raises(RouteNotFoundError, match="sharper than 45°"):
        find_route(net, ["A", "C"])


def test_via_order_is_respected(network) -> None:
    r = RailRouter(network.graph)
    route = find_route(network, ["Baranovsky", "Khasan", "Ussuriysk"], reverse_at=["Khasan"],
                       gauge=1520, router=r)
    stops = route.marks_of("stop")
    assert [m.name for m in stops] == ["Baranovsky", "Khasan", "Ussuriysk"]
    assert stops[1].km == pytest.approx(236.8, abs=3)
    assert [m.km for m in stops] == sorted(m.km for m in stops)


def test_reversal_at_a_stop_needs_permission(network) -> None:
    with pytest.raises(RouteNotFoundError, match="reverse"):
        find_route(network, ["Baranovsky", "Khasan", "Ussuriysk"], gauge=1520)


def test_gauge_mismatch_is_refused_clearly(network) -> None:
    with pytest.raises(RouteNotFoundError, match=r"another gauge than the train's 1435 mm"):
        find_route(network, ["Khasan", "Ussuriysk"], gauge=1435)
    with pytest.raises(RouteNotFoundError, match="1520 mm"):
        find_route(network, ["Gia Lam", "Hanoi"], gauge=1520)


def test_standard_gauge_ends_at_gia_lam(network) -> None:
    with pytest.raises(RouteNotFoundError, match="gauge"):
        find_route(network, ["Dong Dang", "Hanoi"], gauge=1435)
    assert find_route(network, ["Dong Dang", "Gia Lam"], gauge=1435).length_km == pytest.approx(
        157, rel=0.01)


def test_pyongyang_khasan_via_tumangang(network) -> None:
    route = find_route(network, ["Pyongyang", "Tumangang", "Khasan"])
    assert route.length_km == pytest.approx(801.9 + 54, rel=0.03)
    borders = route.marks_of("border")
    assert len(borders) == 1 and borders[0].detail == "KP → RU"
    assert route.km_by("country")["KP"] > 800


def test_gauge_change_is_marked_where_the_gauge_changes(network) -> None:
    route = find_route(network, ["Pyongyang", "Khasan", "Ussuriysk"], gauge_change_at=["Khasan"])
    changes = route.marks_of("gauge_change")
    assert len(changes) == 1
    assert changes[0].name == "Khasan" and changes[0].detail == "1435 → 1520 mm"
    khasan = next(m for m in route.marks_of("stop") if m.name == "Khasan")
    assert changes[0].km == pytest.approx(khasan.km)
    after = [s for s in route.segments if s.km_start >= changes[0].km]
    assert all(1520 in s.gauges for s in after)


def test_pyongyang_to_dong_dang_through_china(network) -> None:
    stops = ["Pyongyang", "Shenyang", "Tianjin", "Wuchang", "Changsha", "Nanning", "Dong Dang"]
    route = find_route(network, stops)
    assert 3800 <= route.length_km <= 4150
    assert [m.detail for m in route.marks_of("border")] == ["KP → CN", "CN → VN"]
    assert not route.marks_of("gauge_change")


def test_route_cli_writes_geojson_table_and_map(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["route", "Pyongyang", "Khasan", "--via", "Tumangang", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "km by country" in out and "Korea–Russia Friendship Bridge" in out
    gj = json.loads((tmp_path / "route.geojson").read_text(encoding="utf-8"))
    lines = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
    assert {"length_km", "country", "gauge", "source", "line"} <= set(lines[0]["properties"])
    assert (tmp_path / "route.png").stat().st_size > 20_000
    assert (tmp_path / "route.csv").read_text(encoding="utf-8").startswith("km_start")


def test_route_cli_unknown_station_exit_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["route", "Pyongyangg", "Khasan", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown station 'Pyongyangg'" in err and "P'yŏngyang" in err
    assert not list(tmp_path.iterdir())
