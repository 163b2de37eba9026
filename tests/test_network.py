"""The offline network: tag parsing, loading, station index, lengths, cache, fetch."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import networkx as nx
import pytest

from simulator.cli import length_checks, main
from simulator.errors import DataFileError, NoConnectionError, StationNotFoundError
from simulator.network import load_network, normalize_name, parse_gauge, parse_maxspeed

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("80", 80.0), ("50 mph", 80.467), ("80;60", 60.0), ("120 km/h", 120.0), ("none", None),
     (None, None), (["100", "70"], 70.0), ("signals", None), ("7,5", 7.5)],
)
def test_parse_maxspeed(value: object, expected: float | None) -> None:
    got = parse_maxspeed(value)
    assert got == pytest.approx(expected, abs=0.01) if expected is not None else got is None


def test_parse_gauge() -> None:
    assert parse_gauge("1435;1520") == {1435, 1520}
    assert parse_gauge("1520") == {1520}
    assert parse_gauge(["1435", "1000;1435"]) == {1000, 1435}
    assert parse_gauge(None) == frozenset()


def test_normalize_name_ignores_case_diacritics_and_apostrophes() -> None:
    assert normalize_name("Đồng Đăng") == "dong dang"
    assert normalize_name("P'yŏngyang") == normalize_name("PYONGYANG")


def test_every_way_carries_required_tags(network) -> None:
    for _u, _v, d in network.graph.edges(data=True):
        assert d.get("railway") == "rail"
        assert d["gauges"], d
        assert d.get("country") in {"KP", "CN", "RU", "VN"}
        assert d.get("source")


def test_summary_covers_both_corridors(network) -> None:
    s = network.summary()
    assert set(s["km_by_country"]) == {"KP", "CN", "RU", "VN"}
    assert len(s["borders"]) == 3
    assert s["km_by_gauge"]["1435;1520"] > 40  # Tumangang–Khasan dual gauge
    assert s["km_by_source"]["station table"] > 2000


@pytest.mark.parametrize(
    ("query", "label"),
    [("Dong Dang", "Đồng Đăng"), ("dong dang", "Đồng Đăng"), ("Sinuiju", "Sinŭiju Ch'ŏngnyŏn"),
     ("Vostochny", "Uglegorsk / Tsiolkovsky"), ("Tsiolkovsky", "Uglegorsk / Tsiolkovsky"),
     ("Pyongyang", "P'yŏngyang"), ("丹东", "Dandong"), ("Хасан", "Khasan"),
     ("West Pyongyang", "Sŏp'yŏngyang (West P'yŏngyang)")],
)
def test_station_index_finds_names_and_aliases(network, query: str, label: str) -> None:
    assert network.stations.find(query).label == label


def test_unknown_station_lists_closest_names(network) -> None:
    with pytest.raises(StationNotFoundError, match=r"closest: .*Khasan"):
        network.stations.find("Khasann")


def test_lengths_match_published_chainage_within_3_percent(network) -> None:
    rows = length_checks(network)
    assert len(rows) == 8
    for r in rows:
        assert abs(r["error_pct"]) <= 3.0, r


def test_osm_join_keeps_chinese_alternatives(network) -> None:
    # Tianjin → Shijiazhuang: more than one route exists on the clipped OSM network
    g = nx.Graph(network.graph)
    t, s = network.stations.find("Tianjin").node, network.stations.find("Shijiazhuang").node
    first = nx.shortest_path(g, t, s, weight="length")
    bridges = {frozenset(e) for e in nx.bridges(g)}
    # part of the path lies on cycles: there the router has real alternatives
    on_cycles = [e for e in itertools.pairwise(first) if frozenset(e) not in bridges]
    assert len(on_cycles) > 20


def test_cached_load_is_equal_and_faster(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    a = load_network(cache_dir=tmp_path)
    t1 = time.perf_counter()
    b = load_network(cache_dir=tmp_path)
    t2 = time.perf_counter()
    assert list(tmp_path.glob("network-*.pickle"))
    assert a.graph.number_of_edges() == b.graph.number_of_edges()
    assert (t2 - t1) < (t1 - t0)


def test_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    load_network(cache_dir=tmp_path)
    for f in tmp_path.glob("network-*.pickle"):
        f.write_bytes(b"not a pickle")
    assert load_network(cache_dir=tmp_path).graph.number_of_nodes() > 1000


def test_missing_snapshot_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        load_network(tmp_path / "nope.osm.bz2")


def test_network_info_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["network", "info", "--check"]) == 0
    out = capsys.readouterr().out
    assert "border crossings" in out and "Gia Lâm" in out and "OUTSIDE" not in out


def test_cli_bad_snapshot_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1'", encoding="utf-8")
    assert main(["network", "info", "--snapshot", str(bad), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trainsim: error:") and "bad.osm" in err and "Traceback" not in err


def test_fetch_writes_snapshot_from_recorded_overpass_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from osmnx import _overpass

    recorded = json.loads((DATA / "overpass_tumangang.json").read_text(encoding="utf-8"))
    monkeypatch.setattr(_overpass, "_overpass_request", lambda data: recorded)
    out = tmp_path / "fetched.osm.bz2"
    assert main(["network", "fetch", "--bbox", "130.5,42.3,130.7,42.5", "--out", str(out),
                 "--quiet"]) == 0
    net = load_network(out, cache=False)
    speeds = {d["speed_limit"] for _, _, d in net.graph.edges(data=True)}
    assert speeds == {40.0}
    assert any(d["gauges"] == {1435, 1520} for _, _, d in net.graph.edges(data=True))


def test_fetch_without_connection_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import requests
    from osmnx import _overpass

    def refuse(data: object) -> dict[str, object]:
        raise requests.ConnectionError("no route to host")

    monkeypatch.setattr(_overpass, "_overpass_request", refuse)
    with pytest.raises(NoConnectionError):
        from simulator.network.fetch import fetch_railways

        fetch_railways(tmp_path / "x.osm.bz2", bbox=(130.5, 42.3, 130.7, 42.5), progress=False)
    code = main(["network", "fetch", "--bbox", "130.5,42.3,130.7,42.5",
                 "--out", str(tmp_path / "y.osm.bz2"), "--quiet"])
    assert code == 1
    assert "cannot reach the Overpass service" in capsys.readouterr().err
    assert not (tmp_path / "y.osm.bz2").exists()
