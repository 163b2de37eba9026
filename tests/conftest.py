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
