"""Line occupation: for how long each section of line is closed to other trains by the special.

A section runs between two consecutive places of the route (stations passed, stops, borders,
halts; where the data name no station for 50 km, a point on the line). It is closed from the
moment the pilot train enters it (leaves the place at its start; the leader's train itself where
no pilot runs) until the leader's tail has left it (the leader reaches the place at its end,
plus the time its length takes to pass there at the speed of the profile, nothing where it stops
there) plus a block-clearance margin, the rule ``line_occupation.clearance_min`` of the
operating defaults, with its assumption. Every quantity is computed per replication; the outputs
give the median and the 5–95 % band.

For a line or a country two figures are given: the *window*, from the first closure of any of its
sections to the last release (the time during which some part of it is closed), and the time
*each place* is closed (the sections' closures averaged by their length). A road leg is closed
from the motorcade's departure to its arrival.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulator._io import write_csv
from simulator.energy import FuelData, TractionStretch, load_fuel, traction_plan
from simulator.journey import format_offset
from simulator.planning import Prepared
from simulator.reports import Analysis

__all__ = ["LogisticsReport", "Occupation", "OccupationGroup", "Section", "line_occupation",
           "logistics_report"]

#: lines shorter than this are folded into their country's figures only (connecting curves,
#: unnamed sidings of the OSM data)
MIN_LINE_KM = 20.0
#: lines shorter than this are left out of summary.md (they are in logistics.csv)
SUMMARY_LINE_KM = 100.0
#: the band of every figure
BAND = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class Section:
    """A stretch between two consecutive named route points."""

    start: int  # route point at its start
    end: int  # route point at its end
    km_from: float
    km_to: float
    name_from: str
    name_to: str
    country: str
    line: str

    @property
    def km(self) -> float:
        return self.km_to - self.km_from


@dataclass(frozen=True)
class OccupationGroup:
    """A line, a country or a road leg: window and closure per place, median and band (h)."""

    level: str  # "country" | "line" | "road"
    name: str
    km: float
    sections: int
    window_h: tuple[float, float, float]  # p05, median, p95
    closed_h: tuple[float, float, float]
    first_closed_s: float  # median, seconds after the plan's epoch
    reopened_s: float
    tz: str


@dataclass
class Occupation:
    """The line occupation of a simulated scenario.

    Attributes
    ----------
    sections
        The sections, in km order.
    closed_h
        ``(3, S)``: 5 %, median and 95 % of each section's closure, hours.
    entry_s, clear_s
        ``(S,)`` median time each section is closed and released (seconds after the plan's
        epoch): the windows the string-line chart shades.
    groups
        Per country, per line (of at least :data:`MIN_LINE_KM`), and the road leg.
    margin_min, margin_note
        The block-clearance margin and its provenance.
    basis
        Who closes a section: ``pilot train`` or ``leader's train`` (no pilot runs).
    """

    sections: list[Section]
    closed_h: np.ndarray
    entry_s: np.ndarray
    clear_s: np.ndarray
    groups: list[OccupationGroup]
    margin_min: float
    margin_note: str
    basis: str
    epoch: datetime
    tz: list[str]

    def windows(self) -> list[tuple[float, float, float, float]]:
        """(km from, km to, closed, released) of each section, median times."""
        return [(s.km_from, s.km_to, float(a), float(b))
                for s, a, b in zip(self.sections, self.entry_s, self.clear_s, strict=True)]

    # -- outputs --------------------------------------------------------------------------------
    def _when(self, seconds: float, tz: str) -> tuple[str, str]:
        if not math.isfinite(seconds):
            return "", ""
        t = self.epoch + timedelta(seconds=float(seconds))
        loc = t.astimezone(ZoneInfo(tz)) if tz else t
        off = loc.utcoffset() or timedelta(0)
        return (t.strftime("%Y-%m-%d %H:%M:%SZ"),
                loc.strftime("%Y-%m-%d %H:%M") + " " + format_offset(off.total_seconds()))

    def rows(self) -> list[dict[str, Any]]:
        """The rows of ``logistics.csv``: countries, lines, the road leg, then every section."""
        out = []
        for g in self.groups:
            utc0, loc0 = self._when(g.first_closed_s, g.tz)
            utc1, loc1 = self._when(g.reopened_s, g.tz)
            out.append({
                "level": g.level, "name": g.name, "from": "", "to": "", "km_from": "",
                "km_to": "", "km": round(g.km, 1), "sections": g.sections,
                "window_h_median": round(g.window_h[1], 2),
                "window_h_p05": round(g.window_h[0], 2), "window_h_p95": round(g.window_h[2], 2),
                "closed_h_median": round(g.closed_h[1], 2),
                "closed_h_p05": round(g.closed_h[0], 2), "closed_h_p95": round(g.closed_h[2], 2),
                "first_closed_utc": utc0, "reopened_utc": utc1,
                "first_closed_local": loc0, "reopened_local": loc1,
            })
        for j, s in enumerate(self.sections):
            tz = self.tz[s.start]
            utc0, loc0 = self._when(self.entry_s[j], tz)
            utc1, loc1 = self._when(self.clear_s[j], self.tz[s.end])
            lo, med, hi = (round(float(x), 2) for x in self.closed_h[:, j])
            out.append({
                "level": "section", "name": s.line, "from": s.name_from, "to": s.name_to,
                "km_from": round(s.km_from, 1), "km_to": round(s.km_to, 1),
                "km": round(s.km, 1), "sections": 1,
                "window_h_median": med, "window_h_p05": lo, "window_h_p95": hi,
                "closed_h_median": med, "closed_h_p05": lo, "closed_h_p95": hi,
                "first_closed_utc": utc0, "reopened_utc": utc1,
                "first_closed_local": loc0, "reopened_local": loc1,
            })
        return out

    def markdown(self) -> list[str]:
        """The line-occupation part of summary.md."""
        def band(x: tuple[float, float, float]) -> str:
            return f"{x[1]:.1f} h ({x[0]:.1f}–{x[2]:.1f})"

        out = ["### Line occupation", "",
               "Each section (between stations passed, or at most 50 km where the data name "
               f"none) is closed from the {self.basis}'s entry "
               "until the leader's tail has left it, plus a block-clearance margin of "
               f"{self.margin_min:g} min ({self.margin_note}). *Window*: from the first "
               "closure of any part to the last release; *each place*: how long a place on it "
               "is closed (sections averaged by length). Medians with 5–95 % bands; lines of "
               f"{SUMMARY_LINE_KM:.0f} km or more here, every line and section in "
               "logistics.csv.", "",
               "| | km | sections | window | each place closed | first closed (median) | "
               "reopened (median) |", "|---|---|---|---|---|---|---|"]
        for g in self.groups:
            if g.level == "line" and g.km < SUMMARY_LINE_KM:
                continue
            label = {"country": "country", "line": "line", "road": "road"}[g.level]
            _, loc0 = self._when(g.first_closed_s, g.tz)
            _, loc1 = self._when(g.reopened_s, g.tz)
            out.append(f"| {label} {g.name} | {g.km:,.0f} | {g.sections or '–'} | "
                       f"{band(g.window_h)} | {band(g.closed_h)} | {loc0} | {loc1} |")
        if self.sections:
            worst = np.argsort(-self.closed_h[1])[:3]
            parts = [f"{self.sections[j].name_from} → {self.sections[j].name_to} "
                     f"({self.closed_h[1, j]:.1f} h)" for j in worst]
            out += ["", "Closed the longest (median): " + "; ".join(parts) + "."]
        return out


def _sections(prep: Prepared) -> list[Section]:
    """Between consecutive route points: named places, and where the data name none for long
    (the Trans-Siberian lists few stations) the unnamed points every 50 km at most."""
    plan = prep.plan

    def name(p: int) -> str:
        return plan.place[p] or f"km {plan.km[p]:,.0f}"

    out = []
    for a, b in itertools.pairwise(range(plan.n_points)):
        mid = 0.5 * (plan.km[a] + plan.km[b])
        seg = prep.itinerary.segment_at(mid)
        out.append(Section(a, b, float(plan.km[a]), float(plan.km[b]), name(a), name(b),
                           seg.country, seg.line))
    return out


def _band(x: np.ndarray) -> tuple[float, float, float]:
    q = np.quantile(x, BAND)
    return float(q[0]), float(q[1]), float(q[2])


def line_occupation(result: Analysis) -> Occupation | None:
    """The line occupation of a simulated journey.

    Needs the pilot train's times (``run_monte_carlo(..., pilot=True)``) when a pilot runs;
    returns None without them.
    """
    prep, mc = result.prepared, result.mc
    plan = prep.plan
    if plan.has_pilot and mc.pilot_depart_s is None:
        return None
    rule = prep.scenario.rules().line_occupation
    margin_min = rule.clearance_min if rule is not None else 0.0
    note = rule.provenance if rule is not None else "no line_occupation rule: none"
    sections = _sections(prep)
    starts = np.array([s.start for s in sections], dtype=int)
    ends = np.array([s.end for s in sections], dtype=int)
    if plan.has_pilot:
        assert mc.pilot_depart_s is not None
        entry = mc.pilot_depart_s[:, starts].astype(float)
        basis = "pilot train"
    else:
        entry = np.stack([mc.depart(int(p)) for p in starts], axis=1)
        basis = "leader's train"
    # the tail leaves the end place a train length after the head, at the profile's speed
    # there (a train that stops there stands in the station, clear of the section)
    train_m = prep.traction.train_length_m
    v_end = prep.typical_day.speed_at(plan.km[ends] * 1000)
    halt_points = set(plan.halt_point.tolist()) | {plan.n_points - 1}
    tail = np.where((v_end > 1.0) & ~np.isin(ends, list(halt_points)),
                    train_m / np.maximum(v_end, 1.0), 0.0)
    clear = mc.arrive_s[:, ends] + tail[None, :] + margin_min * 60.0
    closed = (clear - entry) / 3600
    closed_h = np.quantile(closed, BAND, axis=0) if len(sections) else np.zeros((3, 0))
    groups: list[OccupationGroup] = []
    km = np.array([s.km for s in sections])

    def group(level: str, name: str, members: np.ndarray) -> None:
        idx = np.flatnonzero(members)
        if not len(idx):
            return
        window = (clear[:, idx].max(axis=1) - entry[:, idx].min(axis=1)) / 3600
        weights = km[idx] / km[idx].sum() if km[idx].sum() > 0 else np.full(len(idx), 1 / len(idx))
        each = closed[:, idx] @ weights
        groups.append(OccupationGroup(
            level, name, float(km[idx].sum()), len(idx), _band(window), _band(each),
            float(np.median(entry[:, idx].min(axis=1))),
            float(np.median(clear[:, idx].max(axis=1))), plan.tz_name[sections[idx[0]].start]))

    countries = list(dict.fromkeys(s.country for s in sections))
    for c in countries:
        group("country", c, np.array([s.country == c for s in sections]))
    line_km: dict[str, float] = {}
    for s in sections:
        line_km[s.line] = line_km.get(s.line, 0.0) + s.km
    for line, total in line_km.items():
        if total >= MIN_LINE_KM and line and line != "unnamed":
            group("line", line, np.array([s.line == line for s in sections]))
    road = prep.scenario.road
    depart = result.road_depart
    if road is not None and depart is not None and result.road_arrival is not None:
        span = (result.road_arrival - depart) / 3600
        groups.append(OccupationGroup(
            "road", f"{prep.itinerary.stops[-1]} → {road.to}", road.km.value, 0, _band(span),
            _band(span), float(np.median(depart)), float(np.median(result.road_arrival)),
            plan.tz_name[-1]))
    return Occupation(
        sections=sections, closed_h=closed_h,
        entry_s=np.median(entry, axis=0) if len(sections) else np.zeros(0),
        clear_s=np.median(clear, axis=0) if len(sections) else np.zeros(0),
        groups=groups, margin_min=margin_min, margin_note=note, basis=basis,
        epoch=plan.epoch, tz=list(plan.tz_name))


# ----------------------------------------------------------------------------------------------
# the files
# ----------------------------------------------------------------------------------------------
def traction_markdown(stretches: list[TractionStretch], fuel: FuelData, *,
                      calibrated: bool = False) -> list[str]:
    """The traction plan and its energy, for summary.md."""
    out = ["### Traction and energy", "",
           "| stretch | km | locomotives | running (h) | energy at the wheel | fuel or "
           "electricity | range |", "|---|---|---|---|---|---|---|"]
    for s in stretches:
        if s.fuel_l is not None:
            use = f"{s.fuel_l:,.0f} L diesel ({s.fuel_t:.1f} t)"
        elif s.pantograph_mwh is not None:
            use = f"{s.pantograph_mwh:.1f} MWh at the pantograph"
        else:
            use = "no efficiency stated"
        rng = "" if s.range_km is None else (
            f"{s.range_km:,.0f} km: **exceeded**" if s.over_range else f"{s.range_km:,.0f} km")
        out.append(f"| {s.from_place} → {s.to_place} | {s.km:,.0f} | {int(s.units)}× "
                   f"{s.locomotive} ({s.kind}) | {s.running_h:.1f} | "
                   f"{s.wheel_kwh / 1000:.1f} MWh | {use} | {rng} |")
    effs = "; ".join(f"{s.locomotive} {s.efficiency:.2f}" for s in stretches
                     if s.efficiency is not None)
    d = fuel.diesel
    caps = ("the calibration's posterior medians where it sets them"
            if calibrated else "the rules' own medians")
    out += ["", "Energy at the wheel: force × distance over a typical trip's speed profile "
            f"(every cap at the median of its draw: {caps}; the trip pace not applied; no "
            "regenerative braking unless the locomotive has it; standing, idling, train "
            "heating and restarts after unplanned stops not counted). Efficiencies (tank- or "
            f"pantograph-to-wheel, from the presets in data/rolling_stock): {effs}. Diesel "
            f"{d.density_kg_per_l.value:g} kg/L, {d.energy_mj_per_kg.value:g} MJ/kg "
            "(data/energy.yaml)."]
    for s in stretches:
        if s.over_range:
            out.append(f"- **{s.from_place} → {s.to_place}**: {s.notes}.")
    return out


@dataclass
class LogisticsReport:
    """The logistics of a simulated journey: the line occupation and the traction plan."""

    occupation: Occupation | None  # None: the run kept no pilot-train times
    stretches: list[TractionStretch]
    fuel: FuelData
    calibrated: bool = False  # the caps' medians are the calibration's posterior medians

    def markdown(self) -> list[str]:
        """The section of summary.md."""
        lines = ["## Logistics", ""]
        if self.occupation is not None:
            lines += [*self.occupation.markdown(), ""]
        else:
            lines += ["Line occupation: not computed (the run kept no pilot-train times).", ""]
        return [*lines, *traction_markdown(self.stretches, self.fuel,
                                                   calibrated=self.calibrated), ""]

    def write(self, out: Path) -> list[Path]:
        """Write ``logistics.csv`` (with an occupation) and ``traction.csv`` into ``out``."""
        written = []
        if self.occupation is not None:
            write_csv(out / "logistics.csv", self.occupation.rows())
            written.append(out / "logistics.csv")
        write_csv(out / "traction.csv", [s.row() for s in self.stretches])
        return [*written, out / "traction.csv"]


def logistics_report(result: Analysis) -> LogisticsReport:
    """The line occupation and the traction plan of a simulated journey."""
    fuel = load_fuel()
    return LogisticsReport(line_occupation(result), traction_plan(result.prepared, fuel=fuel),
                           fuel, calibrated=result.prepared.plan.calibration is not None)
