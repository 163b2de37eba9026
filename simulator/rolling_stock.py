"""Rolling stock: the train's consist and its locomotives, read from ``data/rolling_stock/*.yaml``.

Every number in those files is a :class:`Sourced` value: the figure and either its ``source`` or
the ``assumption`` behind it, so that a reader of a result can see what it rests on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from simulator import settings
from simulator._provenance import Provenance, Strict
from simulator._yaml import load_yaml, validate_model
from simulator.errors import DataFileError

__all__ = ["Consist", "Locomotive", "Sourced", "load_consist", "load_locomotive"]


class Sourced(Provenance):
    """A number with its provenance: exactly one of ``source`` or ``assumption``."""

    value: float


def _require_positive(model: Strict, names: tuple[str, ...]) -> None:
    for name in names:
        if getattr(model, name).value <= 0:
            msg = f"{name} must be positive"
            raise ValueError(msg)


class Consist(Strict):
    """The coaches of a train (without locomotives)."""

    id: str
    name: str
    kind: Literal["consist"]
    cars: Sourced
    car_mass_t: Sourced
    car_length_m: Sourced
    max_speed_kmh: Sourced
    resistance_a_n_per_t: Sourced
    resistance_b_n_per_t_per_kmh: Sourced
    resistance_c_n_per_t_per_kmh2: Sourced
    rotating_mass_factor: Sourced
    braking_mps2: Sourced

    @model_validator(mode="after")
    def _positive(self) -> Consist:
        _require_positive(self, ("cars", "car_mass_t", "max_speed_kmh", "braking_mps2"))
        if not 1.0 <= self.rotating_mass_factor.value <= 1.5:
            msg = "rotating_mass_factor must lie between 1.0 and 1.5"
            raise ValueError(msg)
        return self

    @property
    def mass_t(self) -> float:
        return self.cars.value * self.car_mass_t.value

    @property
    def length_m(self) -> float:
        return self.cars.value * self.car_length_m.value


class Locomotive(Strict):
    """A locomotive class; ``units`` of them haul the train together."""

    id: str
    name: str
    kind: Literal["electric", "diesel"]
    units: Sourced
    power_kw: Sourced = Field(description="power at the rail per unit")
    max_tractive_effort_kn: Sourced = Field(description="starting tractive effort per unit")
    max_speed_kmh: Sourced
    mass_t: Sourced
    length_m: Sourced
    resistance_a_n_per_t: Sourced
    resistance_c_n_per_t_per_kmh2: Sourced

    @model_validator(mode="after")
    def _positive(self) -> Locomotive:
        _require_positive(self, ("units", "power_kw", "max_tractive_effort_kn", "max_speed_kmh",
                                 "mass_t"))
        return self


def _path_of(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return settings.rolling_stock_dir / f"{name_or_path}.yaml"


def _available() -> str:
    return ", ".join(sorted(p.stem for p in settings.rolling_stock_dir.glob("*.yaml")))


def _load(model: type[Consist] | type[Locomotive], name_or_path: str | Path) -> object:
    path = _path_of(name_or_path)
    if not path.exists():
        msg = f"{path}: no rolling-stock file '{name_or_path}' (available: {_available()})"
        raise DataFileError(msg)
    data, lines = load_yaml(path)
    return validate_model(model, data, lines, path)


def load_consist(name_or_path: str | Path) -> Consist:
    """Load a consist by preset name (``armored-train``) or path."""
    obj = _load(Consist, name_or_path)
    assert isinstance(obj, Consist)
    return obj


def load_locomotive(name_or_path: str | Path) -> Locomotive:
    """Load a locomotive class by preset name (``cn-df11z``) or path."""
    obj = _load(Locomotive, name_or_path)
    assert isinstance(obj, Locomotive)
    return obj
