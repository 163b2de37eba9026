"""A small synthetic journey for engine tests: a straight line in one made-up country, planned
through the real planning stages from an itinerary and a defaults file written here (no network).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from simulator.planning import Itinerary, MarkKind, Place, Prepared, RouteMark, plan_journey
from simulator.planning.itinerary import ItinerarySegment
from simulator.scenario import load_scenario

FIXED = {"assumption": "test"}


def rules(*, cap: float = 60.0, cap_range: tuple[float, float] | None = None,
          delays: float = 0.0, delay_minutes: Any = None, headway: Any = None,
          pilot_delays: bool = True, night: list[dict[str, Any]] | None = None,
          supplement: float = 0.0, clearance_min: float | None = None) -> dict[str, Any]:
    """Operating rules for country AA (one cap, optional delays, pilot and night rules)."""
    out: dict[str, Any] = {
        "supplement": {"value": supplement, **FIXED},
        "caps": [{"country": "AA", "kmh": cap, **FIXED,
                  **({"kmh_range": list(cap_range)} if cap_range else {})}],
        "delays": [], "night": night or [], "borders": [],
        "gauge_change": {"duration": {"fixed": 60, **FIXED}, **FIXED},
        "locomotive_change": {"duration": {"fixed": 20, **FIXED}, **FIXED},
    }
    if delays:
        out["delays"].append({"country": "AA", "per_100km": delays,
                              "duration": delay_minutes or {"fixed": 30, **FIXED}, **FIXED})
    if headway is not None:
        out["pilot"] = {"headway": headway, "delays_apply": pilot_delays, **FIXED}
    if clearance_min is not None:
        out["line_occupation"] = {"clearance_min": clearance_min, **FIXED}
    return out


def journey(tmp: Path, *, km: float = 200.0, halts: list[tuple[float, dict[str, Any]]] = (),
            depart: str = "2019-02-23 12:00 +00:00", stations: int = 0,
            **rule_options: Any) -> Prepared:
    """A journey A → Z of ``km`` km; ``halts`` are (km, halt entry of the scenario)."""
    tmp.mkdir(parents=True, exist_ok=True)
    defaults = tmp / "operating.yaml"
    defaults.write_text(yaml.safe_dump(rules(**rule_options)), encoding="utf-8")
    scenario = {
        "name": "synthetic", "title": "A to Z",
        "train": {"consist": "armored-train", "locomotive": "ru-tep70"},
        "route": {"stops": [{"at": "A", "depart": depart, "source": "test"}, {"at": "Z"}]},
        "halts": [h for _, h in halts], "replications": 10, "seed": 1,
    }
    path = tmp / "synthetic.yaml"
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    marks = [RouteMark(0.0, MarkKind.STOP, "A"), RouteMark(km, MarkKind.STOP, "Z")]
    for i in range(stations):
        marks.append(RouteMark(km * (i + 1) / (stations + 1), MarkKind.STATION, f"S{i + 1}"))
    marks.sort(key=lambda m: m.km)
    itinerary = Itinerary(
        stops=["A", "Z"], length_km=km,
        segments=[ItinerarySegment(0.0, km, "AA", "Test Line", None, None, "UTC")],
        marks=marks, halt_places=[Place(h["at"], at) for at, h in halts])
    return plan_journey(load_scenario(path, defaults=defaults), itinerary)
