"""Rolling stock: the train's consist and its locomotives, read from ``data/rolling_stock/*.yaml``.

Every number in those files is a :class:`Sourced` value: the figure and either its ``source`` or
the ``assumption`` behind it, so that a reader of a result can see what it rests on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from simulator import settings
from simulator._provenance import Provenance, Strict, within
from simulator._yaml import load_yaml, validate_model
from simulator.errors import DataFileError

__all__ = ["Cars", "Consist", "Locomotive", "Sourced", "Units", "load_consist", "load_locomotive"]


class Sourced(Provenance):
    """A number with its provenance: exactly one of ``source`` or ``assumption``."""

    value: float


# Physically sensible ranges. Each is far wider than any real train, so that a what-if stays
# possible, but narrow enough to stop a typo (a mass in kg, a power in W) or a sign error.
#: coaches: passenger trains in Russia and China run up to 24-25 coaches (platform lengths); the
#: leader's train was reported with 10-21 cars
Cars = Annotated[Sourced, within(1, 60, "cars", whole=True)]
#: a bogie coach weighs 40-70 t; heavy six-axle saloon cars about 130 t
CarMass = Annotated[Sourced, within(10, 150, "t")]
#: passenger coaches are 20-29.5 m long over buffers
CarLength = Annotated[Sourced, within(5, 40, "m")]
#: the fastest trains in service run at 350 km/h; operating caps stop at 400 too
MaxSpeed = Annotated[Sourced, within(5, 400, "km/h")]
#: Davis coefficients per tonne: A is 10-20 N/t for coaches and locomotives (up to ~60 N/t when
#: starting), B below 0.3 N/t per km/h, C 0.0003-0.01 N/t per (km/h)²
ResistanceA = Annotated[Sourced, within(0, 100, "N/t")]
ResistanceB = Annotated[Sourced, within(0, 5, "N/t per km/h")]
ResistanceC = Annotated[Sourced, within(0, 0.05, "N/t per (km/h)²")]
#: loco-hauled trains 1.05-1.10 (DESIGN.md); 1.5 is beyond any rolling stock
RotatingMass = Annotated[Sourced, within(1.0, 1.5)]
#: service braking of heavy passenger trains 0.3-0.5 m/s², emergency about 1.2-1.5; above 2 m/s²
#: the wheels would slide (adhesion ~0.2 g)
Braking = Annotated[Sourced, within(0.05, 2.0, "m/s²")]
#: locomotives in multiple: up to four sections/units run together
Units = Annotated[Sourced, within(1, 6, "units", whole=True)]
#: per unit: the smallest shunting locomotives give ~100-200 kW; the strongest single units
#: about 10 MW
Power = Annotated[Sourced, within(50, 15_000, "kW")]
#: per unit: a small shunter starts with ~50 kN; adhesion limits starting effort to mass·g·0.4,
#: about 1.2 MN for a 300 t unit
TractiveEffort = Annotated[Sourced, within(10, 1_500, "kN")]
#: per unit: 60-140 t for a single-section locomotive, up to ~400 t for a four-section one
LocoMass = Annotated[Sourced, within(10, 400, "t")]
#: per unit: 12-25 m for one section, up to ~70 m for a four-section locomotive
LocoLength = Annotated[Sourced, within(5, 80, "m")]
#: energy at the wheel over energy in the tank (diesels 0.25-0.35) or at the pantograph (electrics
#: 0.80-0.90); below 5 % no traction drive runs, above 1 it would make energy
Efficiency = Annotated[Sourced, within(0.05, 1.0)]
#: share of the braking energy at the wheel fed back to the line: 0 without regenerative brakes
Regeneration = Annotated[Sourced, within(0.0, 1.0)]
#: km a diesel runs between refuelling: a few hundred to a few thousand km
Range = Annotated[Sourced, within(10, 20_000, "km")]


class Consist(Strict):
    """The coaches of a train (without locomotives)."""

    id: str
    name: str
    kind: Literal["consist"]
    cars: Cars
    car_mass_t: CarMass
    car_length_m: CarLength
    max_speed_kmh: MaxSpeed
    resistance_a_n_per_t: ResistanceA
    resistance_b_n_per_t_per_kmh: ResistanceB
    resistance_c_n_per_t_per_kmh2: ResistanceC
    rotating_mass_factor: RotatingMass
    braking_mps2: Braking

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
    units: Units
    power_kw: Power = Field(description="power at the rail per unit")
    max_tractive_effort_kn: TractiveEffort = Field(description="starting tractive effort per unit")
    max_speed_kmh: MaxSpeed
    mass_t: LocoMass
    length_m: LocoLength
    resistance_a_n_per_t: ResistanceA
    resistance_c_n_per_t_per_kmh2: ResistanceC
    efficiency: Efficiency | None = Field(
        default=None, description="energy at the wheel over energy in the tank (diesel) or at "
                                  "the pantograph (electric)")
    regenerative_braking: Regeneration | None = Field(
        default=None, description="share of the braking energy at the wheel fed back (0: none)")
    range_km: Range | None = Field(default=None, description="km between refuelling (diesel)")


def _path_of(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml"):
        return p
    return settings.rolling_stock_dir / f"{name_or_path}.yaml"


def _available() -> str:
    return ", ".join(sorted(p.stem for p in settings.rolling_stock_dir.glob("*.yaml")))


def _load(model: type[Consist] | type[Locomotive], name_or_path: str | Path) -> object:
    path = _path_of(name_or_path)
    try:
        found = path.is_file()
    except (OSError, ValueError):  # a name the file system cannot hold (NUL, too long)
        found = False
    if not found:
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
