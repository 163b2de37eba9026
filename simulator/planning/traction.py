"""Stage 2 of planning: where the train halts, and what hauls it where.

:func:`plan_traction` lists the halts (border formalities at every crossing, bogie exchange at
every gauge change, the scenario's stops, ceremonies and locomotive changes, each with its drawn
duration and whether the pilot train halts too) and the traction sections: from the origin and
from each locomotive change on, the train as one :class:`~simulator.physics.TrainDynamics`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from simulator.errors import DataFileError, ScenarioError
from simulator.physics import TrainDynamics
from simulator.plan import HaltKind, PlannedHalt
from simulator.planning.itinerary import Itinerary, MarkKind
from simulator.rolling_stock import Consist, Locomotive, load_consist, load_locomotive
from simulator.scenario import OperatingDefaults, Scenario, first_rule

__all__ = ["HaltKind", "PlannedHalt", "Traction", "TractionSection", "plan_traction"]


@dataclass(frozen=True)
class TractionSection:
    """From ``start_km`` on, the train is hauled by ``units`` × ``locomotive``."""

    start_km: float
    locomotive: Locomotive
    units: float | None
    dynamics: TrainDynamics


@dataclass
class Traction:
    halts: list[PlannedHalt]  # in km order; at one place in the order they happen
    sections: list[TractionSection]  # in km order, the first at km 0
    train_length_m: float
    #: the consist's maximum speed (where no limit or cap applies)
    max_speed_kmh: float
    warnings: list[str] = field(default_factory=list)


def plan_traction(scenario: Scenario, itinerary: Itinerary,
                  rules: OperatingDefaults) -> Traction:
    """Halts and traction sections of ``scenario`` along ``itinerary``."""
    warnings: list[str] = []
    consist = _consist(scenario)
    cars = scenario.train.cars.value if scenario.train.cars else None
    halts: list[PlannedHalt] = []
    for m in itinerary.marks_of(MarkKind.BORDER):
        assert m.countries is not None
        a, b = m.countries
        rule = next((r for r in rules.borders if set(r.between) == {a, b}), None)
        if rule is None:
            warnings.append(f"no border rule for {a}–{b}: the crossing at {m.name} takes no time")
            continue
        halts.append(PlannedHalt(m.km, HaltKind.BORDER, m.name, rule.duration, rule.pilot_halts,
                                 f"border formalities {a} → {b} ({rule.provenance})"))
    gc = rules.gauge_change
    for m in itinerary.marks_of(MarkKind.GAUGE_CHANGE):
        halts.append(PlannedHalt(m.km, HaltKind.GAUGE_CHANGE, m.name, gc.duration,
                                 gc.pilot_halts, f"bogie exchange {m.detail} ({gc.provenance})"))
    changes: list[tuple[float, Locomotive, float | None]] = [
        (0.0, _locomotive(scenario, ("train", "locomotive"), scenario.train.locomotive), None)]
    for i, (h, place) in enumerate(zip(scenario.halts, itinerary.halt_places, strict=True)):
        if h.kind == "locomotive_change":
            assert h.to is not None
            loco = _locomotive(scenario, ("halts", i, "to"), h.to)
            lc = rules.locomotive_change
            halts.append(PlannedHalt(
                place.km, HaltKind.LOCOMOTIVE_CHANGE, place.name, h.duration or lc.duration,
                lc.pilot_halts, f"locomotive change to {loco.name}" +
                (f"; {h.note}" if h.note else "")))
            changes.append((place.km, loco, h.units))
        else:
            assert h.duration is not None
            halts.append(PlannedHalt(place.km, HaltKind(h.kind), place.name, h.duration, False,
                                     f"{h.kind} ({h.duration.provenance})"))
    halts.sort(key=lambda h: h.km)
    changes.sort(key=lambda c: c[0])
    sections = []
    for at_km, loco, units in changes:
        seg = itinerary.segment_at(at_km + 0.01)
        power = first_rule([r for r in rules.traction_power if r.kind == loco.kind],
                           seg.country, seg.line)
        dyn = TrainDynamics.from_stock(consist, loco, cars=cars, units=units,
                                       power_factor=power.factor if power else 1.0)
        sections.append(TractionSection(at_km, loco, units, dyn))
        _check_electric(itinerary, at_km, loco, [c[0] for c in changes], warnings)
    train_m = consist.length_m + max(
        loco.length_m.value * (units or loco.units.value) for _, loco, units in changes)
    return Traction(halts, sections, train_m, consist.max_speed_kmh.value, warnings)


Stock = TypeVar("Stock", Consist, Locomotive)


def _stock(scenario: Scenario, loc: tuple[str | int, ...], spec: str | Stock, model: type[Stock],
           loader: Callable[[str | Path], Stock]) -> Stock:
    """Rolling stock given inline, or by preset name or path (relative to the scenario)."""
    if isinstance(spec, model):
        return spec
    assert isinstance(spec, str)
    path = Path(spec)
    if path.suffix in (".yaml", ".yml") and not path.is_absolute() and scenario.path:
        spec = str(scenario.path.parent / path)
    try:
        return loader(spec)
    except (DataFileError, ScenarioError) as exc:  # a missing or a bad preset
        raise scenario.error(loc, str(exc)) from None


def _consist(scenario: Scenario) -> Consist:
    return _stock(scenario, ("train", "consist"), scenario.train.consist, Consist, load_consist)


def _locomotive(scenario: Scenario, loc: tuple[str | int, ...], spec: str | Locomotive
                ) -> Locomotive:
    return _stock(scenario, loc, spec, Locomotive, load_locomotive)


def _check_electric(itinerary: Itinerary, km: float, loco: Locomotive, starts: list[float],
                    warnings: list[str]) -> None:
    if loco.kind != "electric":
        return
    ends = [s for s in starts if s > km]
    end = min(ends) if ends else itinerary.length_km
    bad = sum(max(0.0, min(s.km_end, end) - max(s.km_start, km))
              for s in itinerary.segments if s.electrified == "no")
    if bad > 1:
        warnings.append(f"{loco.id} is electric but {bad:.1f} km between km {km:.0f} and "
                        f"{end:.0f} are not electrified (the model lets it run on)")
