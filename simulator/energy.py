"""The traction plan and the energy it takes: what hauls the train where, and how much fuel or
electricity that costs.

Energy at the wheel is integrated over the speed profile (:mod:`simulator.physics`), step by step
between its points: on a step from speed v₁ to v₂ over dx the acceleration is constant, so the
force at the wheel is ::

    F = m·ρ·(v₂² − v₁²)/(2·dx) + R̄ + m·g·i

with R̄ the Davis resistance averaged over the step (exactly: the mean speed over a distance at
constant acceleration is ⅔·(v₁² + v₁v₂ + v₂²)/(v₁ + v₂), the mean of v² is (v₁² + v₂²)/2).
Where F > 0 the locomotives do F·dx of work; where F < 0 the brakes take −F·dx, which is lost
unless the locomotive feeds a share of it back (its ``regenerative_braking``). Energy at the wheel
becomes fuel through the locomotive's tank-to-wheel efficiency and the fuel's density and energy
content (``data/energy.yaml``), or energy at the pantograph through its pantograph-to-wheel
efficiency; every one of these numbers is stated with its source or assumption.

The profile is a typical trip's (:attr:`~simulator.planning.Prepared.typical_day`): every cap at
the median of its draw, i.e. the calibration's posterior median where it sets the cap, else the
rule's own median; at the technical running speed (the running-time supplement slows the
timetable, not the physics). The trip pace factor, which stretches a trip's running times, is
not applied: the energy is the profile's. The time spent standing (idling, train heating) and
the restarts after unplanned stops are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from simulator import settings
from simulator._provenance import Strict, within
from simulator._yaml import load_yaml, validate_model
from simulator.physics import G, SpeedProfile, TrainDynamics
from simulator.planning import Prepared
from simulator.rolling_stock import Sourced

__all__ = [
    "DieselFuel", "FuelData", "TractionStretch", "WheelEnergy", "load_fuel", "traction_plan",
    "wheel_energy",
]

J_PER_KWH = 3.6e6


class DieselFuel(Strict):
    #: diesel fuels lie at 0.80–0.87 kg/L; the range stops a unit slip (kg/m³)
    density_kg_per_l: Annotated[Sourced, within(0.6, 1.0, "kg/L")]
    #: hydrocarbon fuels hold 40–46 MJ/kg (net)
    energy_mj_per_kg: Annotated[Sourced, within(30, 50, "MJ/kg")]

    @property
    def kwh_per_litre(self) -> float:
        return self.density_kg_per_l.value * self.energy_mj_per_kg.value / 3.6


class FuelData(Strict):
    """``data/energy.yaml``: the fuel properties the energy figures use."""

    diesel: DieselFuel


def load_fuel(path: Path | None = None) -> FuelData:
    """Read the fuel properties (``data/energy.yaml`` by default)."""
    path = path or settings.data_dir / "energy.yaml"
    data, lines = load_yaml(path)
    return validate_model(FuelData, data, lines, path)


@dataclass(frozen=True)
class WheelEnergy:
    """Work at the wheel over a stretch of a speed profile, joules.

    Attributes
    ----------
    traction_j
        Work done by the locomotives (positive force × distance).
    braking_j
        Work taken by the brakes (negative force × distance, as a positive number).
    """

    traction_j: float
    braking_j: float

    def net_j(self, regenerated: float = 0.0) -> float:
        """Traction less the share ``regenerated`` of the braking work fed back."""
        return self.traction_j - regenerated * self.braking_j


def wheel_energy(x_m: np.ndarray, v_ms: np.ndarray, dyn: TrainDynamics, *,
                 grade: np.ndarray | float = 0.0) -> WheelEnergy:
    """Integrate force × distance at the wheel over a speed profile.

    Parameters
    ----------
    x_m, v_ms
        Positions (metres, ascending) and the speed there (m/s).
    dyn
        The train.
    grade
        Gradient (rise/run) per step between points, or one for all; level by default.

    Returns
    -------
    WheelEnergy
        Traction and braking work, joules.
    """
    x = np.asarray(x_m, dtype=float)
    v = np.asarray(v_ms, dtype=float)
    if len(x) < 2:
        return WheelEnergy(0.0, 0.0)
    dx = np.diff(x)
    v1, v2 = v[:-1], v[1:]
    step = dx > 0
    dx, v1, v2 = dx[step], v1[step], v2[step]
    g = np.broadcast_to(np.asarray(grade, dtype=float), np.shape(step))[step]
    vsum = v1 + v2
    # mean speed and mean square speed over a step of constant acceleration (in distance)
    v_mean = np.where(vsum > 0, 2.0 / 3.0 * (v1 * v1 + v1 * v2 + v2 * v2) / np.maximum(vsum, 1e-12),
                      0.0)
    v2_mean = 0.5 * (v1 * v1 + v2 * v2)
    resistance = np.where(vsum > 0, dyn.resistance_a_n + dyn.resistance_b_n_per_ms * v_mean
                          + dyn.resistance_c_n_per_ms2 * v2_mean, 0.0)
    inertia = dyn.mass_kg * dyn.rotating_mass_factor * (v2 * v2 - v1 * v1) / (2.0 * dx)
    force = inertia + resistance + dyn.mass_kg * G * g
    work = force * dx
    return WheelEnergy(float(work[work > 0].sum()), float(-work[work < 0].sum()))


@dataclass(frozen=True)
class TractionStretch:
    """A stretch hauled by one locomotive class, and the energy it takes.

    ``fuel_l`` is set for a diesel, ``pantograph_mwh`` for an electric, when the locomotive
    states its efficiency; ``over_range`` when a diesel stretch is longer than its stated range.
    """

    from_place: str
    to_place: str
    from_km: float
    to_km: float
    locomotive: str
    name: str
    kind: str
    units: float
    power_kw: float
    running_h: float
    wheel_kwh: float
    braking_kwh: float
    regenerated: float
    efficiency: float | None
    fuel_l: float | None
    fuel_t: float | None
    pantograph_mwh: float | None
    range_km: float | None
    notes: str

    @property
    def km(self) -> float:
        return self.to_km - self.from_km

    @property
    def over_range(self) -> bool:
        return self.kind == "diesel" and self.range_km is not None and self.km > self.range_km

    def row(self) -> dict[str, Any]:
        def r(x: float | None, nd: int = 1) -> Any:
            return "" if x is None else round(x, nd)

        return {
            "from": self.from_place, "to": self.to_place, "km_from": round(self.from_km, 1),
            "km_to": round(self.to_km, 1), "km": round(self.km, 1),
            "locomotive": self.locomotive, "kind": self.kind, "units": int(self.units),
            "double_heading": "yes" if self.units > 1 else "no",
            "power_kw": round(self.power_kw), "running_h": round(self.running_h, 2),
            "wheel_kwh": round(self.wheel_kwh), "braking_kwh": round(self.braking_kwh),
            "regenerated_share": self.regenerated, "efficiency": r(self.efficiency, 2),
            "fuel_l": r(self.fuel_l, 0), "fuel_t": r(self.fuel_t, 2),
            "pantograph_mwh": r(self.pantograph_mwh, 2),
            "range_km": r(self.range_km, 0),
            "over_range": "yes" if self.over_range else ("no" if self.range_km else ""),
            "notes": self.notes,
        }


def traction_plan(prep: Prepared, *, fuel: FuelData | None = None) -> list[TractionStretch]:
    """The traction stretches of a prepared scenario with their energy.

    Parameters
    ----------
    prep
        A :class:`~simulator.planning.Prepared` scenario.
    fuel
        Fuel properties (default: ``data/energy.yaml``).
    """
    fuel = fuel or load_fuel()
    diesel = fuel.diesel
    sections = prep.traction.sections
    profile: SpeedProfile = prep.typical_day
    length = prep.itinerary.length_km
    changes = {round(h.km, 6): h.place for h in prep.plan.halts
               if h.kind == "locomotive_change"}
    out = []
    for j, sec in enumerate(sections):
        a = sec.start_km
        b = sections[j + 1].start_km if j + 1 < len(sections) else length
        inside = (profile.x_m >= a * 1000 - 1e-6) & (profile.x_m <= b * 1000 + 1e-6)
        x, v = profile.x_m[inside], profile.v_ms[inside]
        energy = wheel_energy(x, v, sec.dynamics)
        loco = sec.locomotive
        units = sec.units if sec.units is not None else loco.units.value
        regen = loco.regenerative_braking.value if loco.regenerative_braking else 0.0
        eff = loco.efficiency.value if loco.efficiency else None
        net = energy.net_j(regen)
        fuel_l = mwh = None
        notes = []
        if eff is None:
            notes.append("no efficiency stated for this locomotive: no fuel or electricity figure")
        elif loco.kind == "diesel":
            fuel_l = energy.traction_j / eff / J_PER_KWH / diesel.kwh_per_litre
        else:
            drawn = energy.traction_j / eff - regen * energy.braking_j * eff
            mwh = drawn / J_PER_KWH / 1000
        rng = loco.range_km.value if loco.range_km and loco.kind == "diesel" else None
        if rng is not None and b - a > rng:
            notes.append(f"{b - a:,.0f} km is longer than the stated range of {rng:,.0f} km: "
                         "a refuelling or a locomotive change the scenario does not have")
        if loco.kind == "diesel" and regen:
            notes.append("regenerative share ignored for a diesel")
        t = np.interp([a * 1000, b * 1000], profile.x_m, profile.t_s)
        start = changes.get(round(a, 6), prep.itinerary.stops[0] if j == 0 else f"km {a:,.0f}")
        end = (changes.get(round(b, 6), f"km {b:,.0f}") if j + 1 < len(sections)
               else prep.itinerary.stops[-1])
        stretch = TractionStretch(
            from_place=start, to_place=end, from_km=a, to_km=b, locomotive=loco.id,
            name=loco.name, kind=loco.kind, units=units,
            power_kw=sec.dynamics.power_w / 1000, running_h=float(t[1] - t[0]) / 3600,
            wheel_kwh=net / J_PER_KWH, braking_kwh=energy.braking_j / J_PER_KWH,
            regenerated=regen, efficiency=eff, fuel_l=fuel_l,
            fuel_t=None if fuel_l is None else fuel_l * diesel.density_kg_per_l.value / 1000,
            pantograph_mwh=mwh, range_km=rng, notes="; ".join(notes))
        out.append(stretch)
    return out
