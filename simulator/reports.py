"""What the replications of a scenario say: times with bands, comparison with reported figures.

:func:`analyse` turns a Monte Carlo run into an :class:`Analysis`: the simulated times at every
row of the timeline, the road leg's arrival, and each reported leg against its simulated
distribution. The functions below turn an analysis into tables (rows as dicts, the form of the
CSV files and of the DataFrames of :class:`simulator.results.ScenarioResult`) and Markdown.
Nothing here draws or writes files (:mod:`simulator.outputs` does).

Reported clock times and durations are data with sources; a leg's reported elapsed time is the
range its end points allow (a claim is kept and labelled as such). Errors are the simulated median
minus the middle of the reported range, in hours and in percent of it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from simulator.journey import draw_parameters, format_offset, simulate_batch
from simulator.montecarlo import MonteCarloResult, summarize
from simulator.network.stations import normalize_name
from simulator.planning import PointKind, Prepared, TimelineKind, TimelinePoint, Which

__all__ = [
    "COMPARISON_COLUMNS", "Analysis", "LegComparison", "analyse", "check_reported_legs",
    "journey_legs", "legs_markdown", "replication_events", "summary_markdown", "time_breakdown",
    "timeline_rows",
]


#: the columns of ``comparison.csv`` (:meth:`LegComparison.row`)
COMPARISON_COLUMNS = ("scenario", "leg", "kind", "reported_h", "sim_median_h", "sim_p05_h",
                      "sim_p95_h", "error_h", "error_pct", "reported_in_band", "sources")


@dataclass
class LegComparison:
    """A reported duration (a measured leg or a claim) against its simulated distribution."""

    scenario: str
    leg: str
    kind: Literal["measured", "claim"]
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
        """The leg as a row of ``comparison.csv``."""
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
class Analysis:
    """The replications of one scenario, read against its timeline and reported figures.

    Attributes
    ----------
    prepared
        The planned scenario.
    mc
        The replications' times at the route points and halts.
    point_times
        Per row of the timeline (``prepared.points``): ``(N,)`` seconds after the plan's epoch.
    road_arrival
        ``(N,)`` arrival at the end of the road leg, when the scenario has one.
    reported_times
        Simulated ``(N,)`` times at each reported time, by its id.
    comparisons
        Each reported leg (between consecutive reported times, and each reported duration)
        against the simulation.
    """

    prepared: Prepared
    mc: MonteCarloResult
    point_times: list[np.ndarray]
    road_arrival: np.ndarray | None
    reported_times: dict[str, np.ndarray] = field(default_factory=dict)
    comparisons: list[LegComparison] = field(default_factory=list)
    #: ``(N,)`` departure of the road leg (the motorcade leaves the railhead)
    road_depart: np.ndarray | None = None

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.prepared.scenario.name

    def to_datetime(self, seconds: float | np.floating | np.ndarray) -> datetime:
        """A time in seconds after the plan's epoch (a number, or a 0-d array) as a UTC
        datetime."""
        return self.prepared.plan.epoch + timedelta(seconds=float(seconds))


def _point_times(mc: MonteCarloResult, p: TimelinePoint) -> np.ndarray:
    assert p.point is not None
    if p.which == Which.DEPART:
        return mc.depart(p.point)
    if p.which == Which.HALT_START:
        return mc.halt_start_s[:, p.index]
    return mc.arrive(p.point)


def analyse(prep: Prepared, mc: MonteCarloResult) -> Analysis:
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
    result = Analysis(prep, mc, times, road, road_depart=road_depart)
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
        # two times at one place are a stand there (the welcome at Khasan), not a run
        label = (f"stand at {a.at}" if normalize_name(a.at) == normalize_name(b.at)
                 else f"{a.at} → {b.at}")
        result.comparisons.append(LegComparison(
            sc.name, label, "measured", (max(lo, 0.0), max(hi, 0.0)),
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
        result.comparisons.append(LegComparison(
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


def _sim_at(prep: Prepared, result: Analysis, key: str, event: str) -> np.ndarray:
    """Simulated times at a reported place (a reported-time id or a place name)."""
    if prep.road_to and normalize_name(key) == normalize_name(prep.road_to):
        assert result.road_arrival is not None
        return result.road_arrival
    point = prep.reported_point[key]
    return result.mc.depart(point) if event == "depart" else result.mc.arrive(point)


# ----------------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------------
def _local(dt: datetime, tz: str) -> str:
    loc = dt.astimezone(ZoneInfo(tz)) if tz else dt
    off = loc.utcoffset() or timedelta(0)
    return loc.strftime("%Y-%m-%d %H:%M") + " " + format_offset(off.total_seconds())


def timeline_rows(result: Analysis, *, stations: bool = True) -> list[dict[str, Any]]:
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


def journey_legs(result: Analysis) -> list[dict[str, Any]]:
    """One row per leg of the journey: from each stop of the route (origin, via stops) to the
    next, and the road leg; the simulated departure, arrival and hours (median, 5–95 %)."""
    prep = result.prepared
    plan = prep.plan
    stops = [i for i, p in enumerate(prep.route_points)
             if p.kind in (PointKind.ORIGIN, PointKind.STOP, PointKind.DESTINATION)]
    legs: list[tuple[str, str, float, np.ndarray, np.ndarray, str, str]] = [
        (plan.place[a], plan.place[b], float(plan.km[b] - plan.km[a]), result.mc.depart(a),
         result.mc.arrive(b), plan.tz_name[a], plan.tz_name[b])
        for a, b in itertools.pairwise(stops)]
    road = prep.scenario.road
    if road is not None and result.road_arrival is not None:
        legs.append((plan.place[-1], f"{road.to} (by road)", float(road.km.value),
                     result.mc.arrive_s[:, -1], result.road_arrival, plan.tz_name[-1],
                     plan.tz_name[-1]))
    rows = []
    for start, end, km, dep, arr, tz_a, tz_b in legs:
        hours = summarize((arr - dep) / 3600)
        rows.append({
            "from": start, "to": end, "km": round(km, 1),
            "depart_local": _local(result.to_datetime(float(np.median(dep))), tz_a),
            "arrive_local": _local(result.to_datetime(float(np.median(arr))), tz_b),
            "median_h": round(float(hours["median"]), 2), "p05_h": round(float(hours["p05"]), 2),
            "p95_h": round(float(hours["p95"]), 2),
        })
    return rows


def time_breakdown(result: Analysis) -> dict[str, float]:
    """What the rail journey's median time is made of, in hours: running at the speed profile
    (median caps, with the supplement), each kind of halt (median durations), and the rest
    (unplanned stops, waits for the pilot train, night rules)."""
    prep = result.prepared
    out = {"running": prep.typical_day.running_time_s / 3600}
    for k, h in enumerate(prep.plan.halts):
        out[str(h.kind)] = out.get(str(h.kind), 0.0) + float(np.median(
            result.mc.halt_end_s[:, k] - result.mc.halt_start_s[:, k])) / 3600
    out["other"] = float(np.median(result.mc.journey_s)) / 3600 - sum(out.values())
    return out


def replication_events(result: Analysis, replication: int = 0) -> list[dict[str, Any]]:
    """The events of one replication (both trains), replayed with its event log: the rows of
    ``events.csv`` (replication 0, the first)."""
    plan = result.prepared.plan
    params = draw_parameters(plan, result.mc.seed, 1, start=replication)
    one = simulate_batch(plan, params, record=True)
    assert one.timelines is not None
    return one.timelines[0].rows()


def legs_markdown(legs: list[LegComparison], *, with_scenario: bool = False) -> str:
    """The comparison of reported and simulated legs as a Markdown table."""
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


def summary_markdown(result: Analysis) -> str:
    """``summary.md``: route, traction, journey times, what they are made of, the comparison."""
    prep = result.prepared
    sc = prep.scenario
    route = prep.itinerary
    dep = summarize(result.mc.depart(0))
    arr = summarize(result.mc.arrive_s[:, -1])
    total = result.mc.journey_s / 3600
    s_tot = summarize(total)
    parts = time_breakdown(result)
    out = [f"# {sc.title}", "", sc.description.strip(), "",
           f"Scenario `{sc.path}`; {result.mc.n} replications, seed {result.mc.seed} "
           "(events.csv is replication 1).", "",
           defaults_line(prep), "",
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
           f"{sc.rules().supplement.value:.0%} supplement): {parts['running']:.2f}",
           ]
    for kind, hours in parts.items():
        if kind not in ("running", "other"):
            out.append(f"- {kind.replace('_', ' ')}: {hours:.2f}")
    out.append(f"- delays, waits for the pilot train, night rules (rest): {parts['other']:.2f}")
    if prep.warnings:
        out += ["", "Warnings:", ""] + [f"- {w}" for w in prep.warnings]
    out += ["", "## Reported figures against the simulation", ""]
    if result.comparisons:
        out.append(legs_markdown(result.comparisons))
        out += ["", "Errors are the simulated median minus the middle of the reported range. "
                "'Claim' rows are statements (forecasts, headline figures) rather than measured "
                "times, shown for comparison."]
    else:
        out.append("No reported times for this trip yet: the timeline is a prediction.")
    out += ["", "Map data © OpenStreetMap contributors (ODbL); see data/rail/README.md.", ""]
    return "\n".join(out)


def defaults_line(prep: Prepared) -> str:
    """Which operating parameters the runs of a prepared scenario draw, in a sentence."""
    cal = prep.plan.calibration
    if cal is None:
        return ("Operating parameters: the hand-set rules of scenarios/defaults/operating.yaml "
                "(`--defaults hand`).")
    where = cal.path.name if cal.path is not None else "a calibration"
    return (f"Operating parameters: drawn from the calibrated posterior ({where}, fitted "
            f"{cal.provenance.get('date', '?')}, seed {cal.provenance.get('seed', '?')}), with "
            "a new trip-level pace per replication.")
