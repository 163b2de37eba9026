"""Rolling-stock files: every preset loads, and every number says where it comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import settings
from simulator.errors import DataFileError, ScenarioError
from simulator.rolling_stock import load_consist, load_locomotive


def test_consist_loads() -> None:
    train = load_consist("armored-train")
    assert 10 <= train.cars.value <= 21
    assert train.mass_t == pytest.approx(train.cars.value * train.car_mass_t.value)


def test_every_preset_is_valid() -> None:
    files = sorted(settings.rolling_stock_dir.glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        (load_consist if "train" in f.stem else load_locomotive)(f)


def test_number_without_provenance_is_refused(tmp_path: Path) -> None:
    text = (settings.rolling_stock_dir / "ru-ep1.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace('  source: "EP1 mass 132 t (Wikipedia \'EP1\', recalled, not '
                                'checked offline)"\n', ""), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"bad.yaml:\d+: field 'mass_t'"):
        load_locomotive(bad)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(DataFileError, match=r"available: .*cn-df11z"):
        load_locomotive("df4")
