"""The offline network: tag parsing, loading, station index, lengths, cache, fetch."""

from __future__ import annotations

import bz2
import hashlib
import itertools
import json
import pickle
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from simulator import settings
from simulator.cli import main
from simulator.errors import DataFileError, NetworkError, NoConnectionError, StationNotFoundError
from simulator.network import load_network, normalize_name, parse_gauge, parse_maxspeed
from simulator.network._cache import CACHE_VERSION, read_meta, write_cache
from simulator.network.checks import length_checks
from simulator.network.graph import bundled_graph_path
from simulator.network.osmxml import OsmXmlWriter

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


@pytest.mark.no_cover
def test_summary_covers_the_whole_network(network) -> None:
    s = network.summary()
    assert set(s["km_by_country"]) == {"KP", "CN", "RU", "VN"}
    assert len(s["borders"]) == 3
    assert s["km_by_gauge"]["1435;1520"] > 40  # Tumangang–Khasan dual gauge
    assert s["km_by_source"]["station table"] > 2000
    # every conventional line of the Chinese files and every Russian trace
    assert s["km_by_country"]["CN"] > 35_000 and s["km_by_country"]["RU"] > 12_000
    # one network: the pieces the sources leave unjoined are small
    assert s["components"] == len(s["component_km"])
    assert s["component_km"][0] > 0.95 * sum(s["component_km"])
    # the totals agree: loops (closed ways, held once per direction) counted twice made the km
    # by country, gauge and source 168 km more than the components'
    total = sum(s["component_km"])
    for key in ("km_by_country", "km_by_gauge", "km_by_source"):
        assert sum(s[key].values()) == pytest.approx(total, rel=1e-9), key
    assert s["edges"] * 2 == network.graph.number_of_edges()


def test_stations_are_through_nodes_on_the_track(network) -> None:
    # Dandong and Benxi stand on the Shenyang–Dandong line: two ways on, no connector spur
    g = network.graph
    for name in ("Dandong", "Benxi", "Shenyang", "Tianjin", "Hankou"):
        node = network.stations.find(name).node
        neighbours = set(g.successors(node)) | set(g.predecessors(node))
        assert len(neighbours) >= 2, name
        assert all(d.get("source") != "connector" for *_, d in g.edges(node, data=True)), name


def test_metro_and_high_speed_stations_are_left_out(network) -> None:
    for name in ("Tanhualin & Wushengmen", "Zhongnan Road"):  # Wuhan metro
        with pytest.raises(StationNotFoundError):
            network.stations.find(name)


@pytest.mark.parametrize(
    ("query", "label"),
    [("Dong Dang", "Đồng Đăng"), ("dong dang", "Đồng Đăng"), ("Sinuiju", "Sinŭiju Ch'ŏngnyŏn"),
     ("Vostochny", "Uglegorsk / Tsiolkovsky"), ("Tsiolkovsky", "Uglegorsk / Tsiolkovsky"),
     ("Pyongyang", "P'yŏngyang"), ("丹东", "Dandong"), ("Хасан", "Khasan"),
     ("West Pyongyang", "Sŏp'yŏngyang (West P'yŏngyang)"),
     # the English spellings of the Russian table's transliterations
     ("Tynda", "Tinda"), ("Blagoveshchensk", "Blagoveshensk"), ("Yekaterinburg", "Ekaterinburg"),
     # a Chinese compass point in either form
     ("Beijing West", "Beijingxi"), ("Shenyang North", "Shenyangbei"),
     ("Changshabei", "Changsha North")],
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
        assert abs(r.error_pct) <= 3.0, r


def test_osm_join_keeps_chinese_alternatives(network) -> None:
    # Tianjin → Shijiazhuang: more than one route exists on the clipped OSM network
    g = nx.Graph(network.graph)
    t, s = network.stations.find("Tianjin").node, network.stations.find("Shijiazhuang").node
    first = nx.shortest_path(g, t, s, weight="length")
    bridges = {frozenset(e) for e in nx.bridges(g)}
    # part of the path lies on cycles: there the router has real alternatives
    on_cycles = [e for e in itertools.pairwise(first) if frozenset(e) not in bridges]
    assert len(on_cycles) > 20


# ---------------------------------------------------------------------------------------------
# the parsed network on disk: safe format, keyed, rebuilt when it does not fit
# ---------------------------------------------------------------------------------------------
def _tiny_snapshot(path: Path) -> Path:
    """A small OSM file (two stations on a line with a branch), written by the public writer."""
    w = OsmXmlWriter()
    a = w.add_node(42.40, 130.50, {"railway": "station", "name": "Alpha", "name:en": "Alpha"})
    m = w.add_node(42.41, 130.52)
    j = w.add_node(42.42, 130.54)
    b = w.add_node(42.43, 130.56, {"railway": "station", "name": "Beta", "name:en": "Beta"})
    c = w.add_node(42.45, 130.55, {"railway": "station", "name": "Gamma"})
    tags = {"railway": "rail", "gauge": "1435", "country": "KP", "source": "test"}
    w.add_way([a, m, j, b], tags)
    w.add_way([j, c], {**tags, "gauge": "1435;1520"})
    w.write(path)
    return path


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return _tiny_snapshot(tmp_path / "tiny.osm")


def test_cache_round_trip_is_equal(tiny: Path, tmp_path: Path) -> None:
    parsed = load_network(tiny, cache=False)
    load_network(tiny, cache_dir=tmp_path / "c")  # parses and writes the cache
    files = list((tmp_path / "c").glob("network-*.npz"))
    assert len(files) == 1
    cached = load_network(tiny, cache_dir=tmp_path / "c")
    assert list(parsed.graph.nodes(data=True)) == list(cached.graph.nodes(data=True))
    e1 = list(parsed.graph.edges(keys=True, data=True))
    e2 = list(cached.graph.edges(keys=True, data=True))
    assert [(u, v, k) for u, v, k, _ in e1] == [(u, v, k) for u, v, k, _ in e2]
    for (*_, d1), (*_, d2) in zip(e1, e2, strict=True):
        assert d1.keys() == d2.keys()
        for key in d1:
            if key == "geometry":
                assert d1[key].equals(d2[key])
            else:
                assert d1[key] == d2[key], key
    assert cached.stations.find("Beta").node == parsed.stations.find("Beta").node
    for name in ("head_out", "head_in", "heading_error"):
        assert cached.arrays[name] == pytest.approx(parsed.arrays[name])


def _cache_file(tiny: Path, folder: Path) -> Path:
    load_network(tiny, cache_dir=folder)
    return next(folder.glob("network-*.npz"))


def test_crafted_pickle_cache_is_never_run(tiny: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    cache = _cache_file(tiny, tmp_path / "c")
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.touch, ())  # type: ignore[return-value]

    cache.write_bytes(pickle.dumps(Evil()))
    net = load_network(tiny, cache_dir=tmp_path / "c")
    assert not marker.exists()
    assert net.stations.find("Alpha")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not used (unreadable" in err and "rebuilding" in err
    # rebuilt: the next load is quiet
    load_network(tiny, cache_dir=tmp_path / "c")
    assert capsys.readouterr().err == ""


def test_cache_of_the_wrong_shape_or_version_is_rebuilt(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = _cache_file(tiny, tmp_path / "c")
    with np.load(cache) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    variants = {
        "wrong shape": {**arrays, "edge_u": arrays["edge_u"][:-1]},
        "cache version": {**arrays, "meta": np.frombuffer(
            json.dumps({**meta, "version": "0"}).encode(), dtype=np.uint8)},
        "another snapshot": {**arrays, "meta": np.frombuffer(
            json.dumps({**meta, "snapshot_sha256": "0" * 64}).encode(), dtype=np.uint8)},
    }
    for why, content in variants.items():
        with open(cache, "wb") as f:
            np.savez(f, **content)
        assert load_network(tiny, cache_dir=tmp_path / "c").stations.find("Gamma")
        err = capsys.readouterr().err
        assert why in err and err.count("\n") == 1, (why, err)


def test_empty_graph_cache_never_blames_the_scenario(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cache = _cache_file(tiny, tmp_path / "c")
    digest = hashlib.sha256(tiny.read_bytes()).hexdigest()
    write_cache(cache, nx.MultiDiGraph(), snapshot_sha256=digest)
    net = load_network(tiny, cache_dir=tmp_path / "c")
    assert net.stations.find("Alpha")  # the XML was parsed again
    assert "empty network" in capsys.readouterr().err
    # a snapshot that really holds no network is the snapshot's error, named as such
    empty = tmp_path / "empty.osm"
    OsmXmlWriter().write(empty)
    with pytest.raises(NetworkError, match=r"empty.osm: cannot read as OSM XML"):
        load_network(empty, cache=False)


def test_bundled_graph_is_the_parsed_snapshot() -> None:
    # a clean clone never parses the XML: the bundled graph is keyed by the XML's hash
    meta = read_meta(bundled_graph_path(settings.default_snapshot))
    digest = hashlib.sha256(settings.default_snapshot.read_bytes()).hexdigest()
    assert meta["snapshot_sha256"] == digest, "run `make snapshot` to rebuild the bundled graph"
    assert meta["version"] == CACHE_VERSION, "CACHE_VERSION changed: run `make snapshot`"


@pytest.mark.no_cover
def test_network_loads_without_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.network import graph

    def refuse(path: Path) -> None:
        raise AssertionError("the XML was parsed")

    monkeypatch.setattr(graph, "parse_snapshot", refuse)
    net = load_network(cache_dir=tmp_path)
    assert net.graph.number_of_edges() > 40_000 and not list(tmp_path.iterdir())


def test_missing_snapshot_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="not found"):
        load_network(tmp_path / "nope.osm.bz2")


@pytest.mark.parametrize("path", ["/dev/zero", "FOLDER"])
def test_snapshot_that_is_no_file_is_named(path: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path if path == "FOLDER" else Path(path)
    if not target.exists():
        pytest.skip(f"{path} does not exist here")
    with pytest.raises(DataFileError, match=r"a rail network snapshot is an OSM XML file"):
        load_network(target)
    assert main(["network", "info", "--snapshot", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err


@pytest.mark.slow
def test_network_info_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["network", "info", "--check"]) == 0
    out = capsys.readouterr().out
    assert "border crossings" in out and "Gia Lâm" in out and "OUTSIDE" not in out
    assert "connected components" in out and "km of track by country" in out


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


# ---------------------------------------------------------------------------------------------
# the bundled snapshot is rebuilt byte for byte from ../shared by the committed recipe
# ---------------------------------------------------------------------------------------------
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_osm_writer_is_deterministic(tmp_path: Path) -> None:
    for name in ("a.osm.bz2", "b.osm.bz2", "c.osm.gz", "d.osm.gz"):
        _tiny_snapshot(tmp_path / name)
    assert (tmp_path / "a.osm.bz2").read_bytes() == (tmp_path / "b.osm.bz2").read_bytes()
    assert (tmp_path / "c.osm.gz").read_bytes() == (tmp_path / "d.osm.gz").read_bytes()
    assert load_network(tmp_path / "c.osm.gz", cache=False).stations.find("Gamma")


def test_osm_writer_adds_nodes_in_bulk_as_one_by_one() -> None:
    lat, lon = [42.123456789, 42.5, 43], [130.987654321, 130.5, 131]
    tags = [{"ele": "12"}, {}, {"railway": "station", "name": "X"}]
    one, bulk = OsmXmlWriter(), OsmXmlWriter()
    ids = [one.add_node(la, lo, t) for la, lo, t in zip(lat, lon, tags, strict=True)]
    ids += [one.add_node(la, lo) for la, lo in zip(lat, lon, strict=True)]
    assert bulk.add_nodes(lat, lon, tags) + bulk.add_nodes(lat, lon) == ids
    assert bulk.nodes == one.nodes  # rounded alike (integers stay integers), tags copied
    tags[0]["ele"] = "13"
    assert bulk.nodes[ids[0]].tags == {"ele": "12"}


@pytest.mark.slow
def test_rebuilt_snapshot_is_the_bundled_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.syspath_prepend(str(SCRIPTS))
    from build_rail_snapshot import main as build_main
    from railsnapshot.build import default_shared_dir

    shared = default_shared_dir()
    if not (shared / "osm-candidates").is_dir():
        pytest.skip(f"{shared}: the shared source material is not here, nothing to rebuild from")
    # `make snapshot`, written uncompressed (bz2 at level 9 would take seconds; the writer's
    # compression is deterministic, test_osm_writer_is_deterministic) and without parsing the
    # result (the bundled graph is checked against the XML's hash above)
    out = tmp_path / "corridors.osm"
    build_main(["--shared", str(shared), "--out", str(out), "--xml-only"])
    assert "wrote corridors.osm" in capsys.readouterr().out
    assert out.read_bytes() == bz2.decompress(settings.default_snapshot.read_bytes()), (
        "data/rail/corridors.osm.bz2 is not what the recipe builds: run `make snapshot`")
