"""Results of a scenario: timeline with bands, comparison with reported figures, output files.

Reported clock times and durations are data with sources; a leg's reported elapsed time is the
range its end points allow (a claim is kept and labelled as such). Errors are the simulated median
minus the middle of the reported range, in hours and in percent of it.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from simulator._io import atomic_path
from simulator.journey import draw_parameters, format_offset, simulate_batch
from simulator.montecarlo import MonteCarloResult, summarize
from simulator.network.stations import normalize_name
from simulator.planning import Prepared, TimelineKind, TimelinePoint, Which

__all__ = ["LegComparison", "ScenarioResult", "analyse", "check_reported_legs", "write_outputs"]


@dataclass
class LegComparison:
    scenario: str
    leg: str
    kind: str  # measured | claim
    reported_h: tuple[float, float]
    sim_h: np.ndarray  # per replication
    sources: list[str]
    note: str = ""

    @property
    def median_h(self) -> float:
        return float(np.median(self.sim_h))

    @property
    def band_h(self) -> tuple[float, float]:
        lo, hi = np.quantile(self.sim_h, [0.05, 0.95])
        return float(lo), float(hi)

    @property
    def reported_mid_h(self) -> float:
        return 0.5 * (self.reported_h[0] + self.reported_h[1])

    @property
    def error_h(self) -> float:
        return self.median_h - self.reported_mid_h

    @property
    def error_pct(self) -> float:
        return 100 * self.error_h / self.reported_mid_h if self.reported_mid_h else math.nan

    @property
    def overlaps(self) -> bool:
        lo, hi = self.band_h
        return lo <= self.reported_h[1] and self.reported_h[0] <= hi

    def row(self) -> dict[str, Any]:
        lo, hi = self.band_h
        return {
            "scenario": self.scenario, "leg": self.leg, "kind": self.kind,
            "reported_h": _range_text(self.reported_h), "sim_median_h": round(self.median_h, 2),
            "sim_p05_h": round(lo, 2), "sim_p95_h": round(hi, 2),
            "error_h": round(self.error_h, 2), "error_pct": round(self.error_pct, 1),
            "reported_in_band": "yes" if self.overlaps else "no",
            "sources": "; ".join(self.sources),
        }


def _range_text(r: tuple[float, float]) -> str:
    return f"{r[0]:.2f}" if abs(r[1] - r[0]) < 1e-9 else f"{r[0]:.2f}–{r[1]:.2f}"


@dataclass
class ScenarioResult:
    prepared: Prepared
    mc: MonteCarloResult
    point_times: list[np.ndarray]  # per timeline point: (N,) seconds after epoch
    road_arrival: np.ndarray | None
    reported_times: dict[str, np.ndarray] = field(default_factory=dict)
    legs: list[LegComparison] = field(default_factory=list)
    #: the road leg's departure (the motorcade leaves the railhead)
    road_depart: np.ndarray | None = None
    #: a :class:`~simulator.sensitivity.SensitivityResult`, when the run asked for one
    sensitivity: Any = None

    @property
    def name(self) -> str:
        return self.prepared.scenario.name

    def to_datetime(self, seconds: Any) -> datetime:
        return self.prepared.plan.epoch + timedelta(seconds=float(seconds))


def _point_times(mc: MonteCarloResult, p: TimelinePoint) -> np.ndarray:
    assert p.point is not None
    if p.which == Which.DEPART:
        return mc.depart(p.point)
    if p.which == Which.HALT_START:
        return mc.halt_start_s[:, p.index]
    return mc.arrive(p.point)


def analyse(prep: Prepared, mc: MonteCarloResult) -> ScenarioResult:
    """Timeline times per point, road arrival, and the comparison with reported figures."""
    sc = prep.scenario
    times = [_point_times(mc, p) for p in prep.points]
    road = road_depart = None
    if sc.road is not None:
        # the road leg draws from its own stream of the run's seed (--seed or the scenario's)
        rng = np.random.default_rng([mc.seed, 7])
        wait = sc.road.wait.sample_s(rng, mc.n)
        speed = rng.uniform(*sc.road.speed_kmh, mc.n)
        road_depart = mc.arrive_s[:, -1] + wait
        road = road_depart + sc.road.km.value / speed * 3600
    result = ScenarioResult(prep, mc, times, road, road_depart=road_depart)
    epoch = prep.plan.epoch
    reported_bounds: dict[str, tuple[float, float]] = {}
    for rt in sc.reported.times:
        reported_bounds[rt.id] = ((rt.time[0] - epoch).total_seconds(),
                                  (rt.time[1] - epoch).total_seconds())
        result.reported_times[rt.id] = _sim_at(
            prep, result, rt.at if prep.road_to and normalize_name(rt.at) == normalize_name(
                prep.road_to) else rt.id, rt.event)
    for a, b in itertools.pairwise(sc.reported.times):
        lo = (reported_bounds[b.id][0] - reported_bounds[a.id][1]) / 3600
        hi = (reported_bounds[b.id][1] - reported_bounds[a.id][0]) / 3600
        result.legs.append(LegComparison(
            sc.name, f"{a.at} → {b.at}", "measured", (max(lo, 0.0), max(hi, 0.0)),
            (result.reported_times[b.id] - result.reported_times[a.id]) / 3600,
            [*a.sources, *b.sources]))
    for leg in sc.reported.legs:
        start = result.reported_times.get(leg.start)
        if start is None:
            start = _sim_at(prep, result, leg.start, "depart")
        end = result.reported_times.get(leg.end)
        if end is None:
            end = _sim_at(prep, result, leg.end, "arrive")
        name_a = next((t.at for t in sc.reported.times if t.id == leg.start), leg.start)
        name_b = next((t.at for t in sc.reported.times if t.id == leg.end), leg.end)
        result.legs.append(LegComparison(
            sc.name, f"{name_a} → {name_b} ({leg.id})", leg.kind, leg.hours,
            (end - start) / 3600, leg.sources, leg.note))
    return result


def check_reported_legs(prep: Prepared) -> None:
    """Each reported leg must run forwards along the route: its 'to' after its 'from'.

    (A leg may start and end at one place only from an arrival to a departure: a halt.)
    Raises a one-line :class:`~simulator.errors.ScenarioError` naming the leg's field.
    """
    sc = prep.scenario
    for i, leg in enumerate(sc.reported.legs):
        (km_a, event_a), (km_b, event_b) = _leg_end(prep, leg.start), _leg_end(prep, leg.end)
        if km_a is None or km_b is None:
            continue
        if km_b > km_a or (km_b == km_a and event_a == "arrive" and event_b == "depart"):
            continue
        msg = (f"the leg runs backwards: '{leg.end}' ({_km_text(km_b)}) does not come after "
               f"'{leg.start}' ({_km_text(km_a)}) on the route; swap 'from' and 'to'")
        raise sc.error(("reported", "legs", i, "to"), msg)


def _km_text(km: float) -> str:
    return "the end of the road leg" if math.isinf(km) else f"km {km:,.1f}"


def _leg_end(prep: Prepared, key: str) -> tuple[float | None, str]:
    """km along the route of a leg's end (a reported-time id or a place), and its event."""
    sc = prep.scenario
    rt = next((t for t in sc.reported.times if t.id == key), None)
    place = rt.at if rt is not None else key
    event = rt.event if rt is not None else ""
    if sc.road is not None and normalize_name(place) == normalize_name(sc.road.to):
        return math.inf, event
    return prep.reported_km.get(key), event


def _sim_at(prep: Prepared, result: ScenarioResult, key: str, event: str) -> np.ndarray:
    """Simulated times at a reported place (a reported-time id or a place name)."""
    if prep.road_to and normalize_name(key) == normalize_name(prep.road_to):
        assert result.road_arrival is not None
        return result.road_arrival
    point = prep.reported_point[key]
    return result.mc.depart(point) if event == "depart" else result.mc.arrive(point)


# ----------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------
def _local(dt: datetime, tz: str) -> str:
    loc = dt.astimezone(ZoneInfo(tz)) if tz else dt
    off = loc.utcoffset() or timedelta(0)
    return loc.strftime("%Y-%m-%d %H:%M") + " " + format_offset(off.total_seconds())


def timeline_rows(result: ScenarioResult, *, stations: bool = True) -> list[dict[str, Any]]:
    """One row per place and event: median and 5–95 % times, local and UTC, and the reported
    time on the row it refers to (the first row of the place, or its departure)."""
    prep = result.prepared
    rows = []
    entries = list(zip(prep.points, result.point_times, strict=True))
    if prep.road_to and result.road_arrival is not None:
        entries.append((TimelinePoint(prep.road_to, TimelineKind.ROAD_ARRIVE, math.nan, None,
                                      Which.ROAD, tz=prep.plan.tz_name[-1], detail="by road"),
                        result.road_arrival))
    reported_row: dict[int, str] = {}
    for rt in prep.scenario.reported.times:
        lo, hi = rt.time
        txt = lo.strftime("%Y-%m-%d %H:%M") + ("" if lo == hi else "–" + hi.strftime("%H:%M"))
        point = prep.reported_point.get(rt.id)  # None: the road leg's destination
        same = [i for i, (p, _) in enumerate(entries) if p.kind != TimelineKind.STATION and (
            p.point == point if point is not None
            else normalize_name(p.name) == normalize_name(rt.at))]
        if same:
            reported_row[same[-1] if rt.event == "depart" else same[0]] = \
                f"{txt} ({lo.strftime('%z')})"
    for i, (p, t) in enumerate(entries):
        if p.kind == TimelineKind.STATION and not stations:
            continue
        s = summarize(t)
        med, lo, hi = (result.to_datetime(s[k]) for k in ("median", "p05", "p95"))
        rows.append({
            "place": p.name, "event": str(p.kind),
            "km": "" if math.isnan(p.km) else round(p.km, 1),
            "time_zone": p.tz, "median_local": _local(med, p.tz), "p05_local": _local(lo, p.tz),
            "p95_local": _local(hi, p.tz), "median_utc": med.strftime("%Y-%m-%d %H:%M:%SZ"),
            "p05_utc": lo.strftime("%Y-%m-%d %H:%M:%SZ"),
            "p95_utc": hi.strftime("%Y-%m-%d %H:%M:%SZ"),
            "reported": reported_row.get(i, ""),
            "detail": p.detail,
        })
    return rows


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        if rows:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


def legs_markdown(legs: list[LegComparison], *, with_scenario: bool = False) -> str:
    head = ("| " + ("scenario | " if with_scenario else "") + "leg | kind | reported (h) | "
            "simulated median (h) | 5–95 % (h) | error (h) | error (%) | reported in band |")
    sep = "|" + "---|" * (head.count("|") - 1)
    lines = [head, sep]
    for leg in legs:
        r = leg.row()
        lines.append("| " + (f"{r['scenario']} | " if with_scenario else "") +
                     f"{r['leg']} | {r['kind']} | {r['reported_h']} | {r['sim_median_h']:.2f} | "
                     f"{r['sim_p05_h']:.2f}–{r['sim_p95_h']:.2f} | {r['error_h']:+.2f} | "
                     f"{r['error_pct']:+.1f} | {r['reported_in_band']} |")
    return "\n".join(lines)


def summary_markdown(result: ScenarioResult) -> str:
    prep = result.prepared
    sc = prep.scenario
    route = prep.itinerary
    dep = summarize(result.mc.depart(0))
    arr = summarize(result.mc.arrive_s[:, -1])
    total = result.mc.journey_s / 3600
    s_tot = summarize(total)
    halts: dict[str, float] = {}
    for k, h in enumerate(prep.plan.halts):
        halts[h.kind] = halts.get(h.kind, 0.0) + float(np.median(
            result.mc.halt_end_s[:, k] - result.mc.halt_start_s[:, k])) / 3600
    running = prep.typical_day.running_time_s / 3600
    out = [f"# {sc.title}", "", sc.description.strip(), "",
           f"Scenario `{sc.path}`; {result.mc.n} replications, seed {result.mc.seed} "
           "(events.csv is replication 1).", "",
           _defaults_line(prep), "",
           "## Route", "",
           f"{' → '.join(route.stops)}: **{route.length_km:,.1f} km** "
           f"({', '.join(f'{k} {v:,.0f} km' for k, v in route.km_by('country').items())}).",
           "Traction: " + "; ".join(f"from km {s.start_km:,.0f}: {s.dynamics.label}"
                                    for s in prep.sections) + ".", "",
           "## Journey", "",
           "- departure (median): "
           f"{_local(result.to_datetime(dep['median']), prep.plan.tz_name[0])}",
           f"- arrival at {route.stops[-1]} (median): "
           f"{_local(result.to_datetime(arr['median']), prep.plan.tz_name[-1])}, 5–95 %: "
           f"{_local(result.to_datetime(arr['p05']), prep.plan.tz_name[-1])} – "
           f"{_local(result.to_datetime(arr['p95']), prep.plan.tz_name[-1])}",
           f"- rail journey time: median {s_tot['median']:.2f} h, 5–95 % "
           f"{s_tot['p05']:.2f}–{s_tot['p95']:.2f} h",
           "", "What the time is made of (medians, hours):", "",
           "- running at the speed profile (median caps, incl. "
           f"{sc.rules().supplement.value:.0%} supplement): {running:.2f}",
           ]
    for kind, hours in halts.items():
        out.append(f"- {kind.replace('_', ' ')}: {hours:.2f}")
    other = s_tot["median"] - running - sum(halts.values())
    out.append(f"- delays, waits for the pilot train, night rules (rest): {other:.2f}")
    if prep.warnings:
        out += ["", "Warnings:", ""] + [f"- {w}" for w in prep.warnings]
    out += ["", "## Reported figures against the simulation", ""]
    if result.legs:
        out.append(legs_markdown(result.legs))
        out += ["", "Errors are the simulated median minus the middle of the reported range. "
                "'Claim' rows are statements (forecasts, headline figures) rather than measured "
                "times, shown for comparison."]
    else:
        out.append("No reported times for this trip yet: the timeline is a prediction.")
    out += ["", "Map data © OpenStreetMap contributors (ODbL); see data/rail/README.md.", ""]
    return "\n".join(out)


def _defaults_line(prep: Prepared) -> str:
    cal = prep.plan.calibration
    if cal is None:
        return ("Operating parameters: the hand-set rules of scenarios/defaults/operating.yaml "
                "(`--defaults hand`).")
    where = cal.path.name if cal.path is not None else "a calibration"
    return (f"Operating parameters: drawn from the calibrated posterior ({where}, fitted "
            f"{cal.provenance.get('date', '?')}, seed {cal.provenance.get('seed', '?')}), with "
            "a new trip-level pace per replication.")


def write_outputs(result: ScenarioResult, out: Path) -> list[Path]:
    """Write every per-scenario output into ``out``; return the paths written."""
    from simulator import exports, maps, plots
    from simulator.logistics import write_logistics

    prep = result.prepared
    out.mkdir(parents=True, exist_ok=True)
    written = []
    write_csv(out / "timeline.csv", timeline_rows(result))
    written.append(out / "timeline.csv")
    # replication 1 of the Monte Carlo (row 0 of its parameters) again, recording its events
    one = simulate_batch(prep.plan, draw_parameters(prep.plan, result.mc.seed, 1), record=True)
    assert one.timelines is not None
    events = one.timelines[0].rows()
    write_csv(out / "events.csv", events)
    written.append(out / "events.csv")
    prep.route.write_geojson(out / "route.geojson")
    written.append(out / "route.geojson")
    maps.plot_route(prep.route, out / "map.png", title=prep.scenario.title)
    written.append(out / "map.png")
    maps.write_html_map(result, out / "map.html")
    written.append(out / "map.html")
    exports.write_geopackage(result, out / "journey.gpkg", events=events)
    written.append(out / "journey.gpkg")
    exports.write_kml(result, out / "journey.kml")
    written.append(out / "journey.kml")
    paths, extra, occupation = write_logistics(result, out)
    written += paths
    if result.sensitivity is not None:
        paths, lines = result.sensitivity.write(out)
        written += paths
        extra += lines
    plots.time_distance(result, out / "timedistance.png",
                        occupied=None if occupation is None else occupation.windows())
    written.append(out / "timedistance.png")
    plots.comparison([result], out / "comparison.png")
    written.append(out / "comparison.png")
    with atomic_path(out / "summary.md") as tmp:
        text = summary_markdown(result)
        foot = text.rfind("Map data ©")  # the logistics go before the credits
        foot = len(text) if foot < 0 else foot
        text = text[:foot] + "\n".join(extra) + "\n" + text[foot:]
        tmp.write_text(text, encoding="utf-8")
    written.append(out / "summary.md")
    return written
