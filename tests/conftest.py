"""Shared fixtures: the bundled network is loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # tests never write to the user's cache
    os.environ["TRAINSIM_CACHE"] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def network(_isolated_cache: None):
    from simulator.network import load_network

    return load_network()


@pytest.fixture(scope="session")
def vladivostok_result(network):
    """A small simulated journey (Khasan → Ussuriysk → Vladivostok, 30 runs) for map and
    export tests."""
    from simulator.montecarlo import run_monte_carlo
    from simulator.planning import prepare
    from simulator.reports import analyse
    from simulator.scenario import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios"
                             / "vladivostok-2019.yaml")
    prep = prepare(scenario, network=network)
    return analyse(prep, run_monte_carlo(prep.plan, 30, seed=scenario.seed, workers=1))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    # tests never touch the network: `network fetch` skips its connection probe (tests that use
    # recorded Overpass responses replace the download itself); test_robustness tests the probe
    from simulator.network import fetch

    monkeypatch.setattr(fetch, "check_connection", lambda urls, **kwargs: None)
    monkeypatch.setattr(fetch, "_check_overpass_status", lambda url, **kwargs: None)
