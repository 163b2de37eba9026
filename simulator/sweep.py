"""What-if sweeps: the arrival over a grid or a Latin hypercube of rule and scenario values.

A *variation* names a field by its path and the values to try::

    caps.KP.kmh=40:60:5           numbers from 40 to 60 in steps of 5
    caps.KP.kmh=40:60             a range: 5 values on a grid, any value in a Latin hypercube
    gauge_change.duration=60,240  a list (numbers or words)
    night.KP.mode=halt            one value (against the baseline, which every sweep includes)

The first part of a path is a field of the operating rules (``caps``, ``delays``, ``night``,
``traction_power``, ``borders``, ``gauge_change``, ``locomotive_change``, ``pilot``,
``supplement``, ``station_passing``, ``line_occupation``) or of the scenario (``halts``,
``train``, ``road``, ``route``, …). In a list, an item is chosen by its index, its country
(``KP``: every rule of that country), ``COUNTRY:line`` (rules whose line name contains it), a
border's ``KP-RU``, or a halt's place (``halts.Khasan.duration``). A rule of a country that has
none is created (a night rule as ``23:00``–``05:00``, ``halt``, unless the sweep sets its start,
end or mode; a ``slow`` one at half speed unless it sets ``speed_factor``). A duration or a
sourced number set by a sweep is fixed at that value; a cap set by a sweep is that cap, drawn
no longer (its range is dropped). A path may also be a column of the parameter table
(``pace``, ``headway_s``, ``cap:KP``, ``halt:gauge_change:Tumangang`` in seconds): every
replication then takes that value.

Every design point runs the same replications (the same seed: common random numbers), so the
differences between points are the what-if's, not noise.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from pydantic import ValidationError

from simulator import plots
from simulator._io import atomic_path, write_csv
from simulator.errors import VariationError
from simulator.journey import draw_parameters, format_offset
from simulator.montecarlo import MonteCarloResult, run_monte_carlo
from simulator.network.graph import RailNetwork
from simulator.network.stations import normalize_name
from simulator.planning import Prepared, plan_journey, prepare
from simulator.plots import literal_text
from simulator.scenario import OperatingDefaults, Overrides, Scenario

__all__ = ["DesignPoint", "SweepResult", "Variation", "apply_edits", "design_points",
           "parse_variation", "run_sweep"]

#: values of a range given without a step, on a grid
GRID_STEPS = 5
#: the most design points a sweep runs
MAX_POINTS = 400
#: the window of a night rule a sweep creates (the README's what-if), unless it sets one
NIGHT_TEMPLATE = {"start": "23:00", "end": "05:00", "mode": "halt"}
#: a chart panel draws one line per combination of the other values up to this many
MAX_LINES = 8
#: fields whose values are clock times (``22:00``, ``2023-09-10 16:00 +09:00``), not ranges
CLOCK_FIELDS = {"start", "end", "depart"}
#: sourced numbers a scenario may leave out (a sweep that sets one gives it its provenance)
_OPTIONAL_SOURCED = {"cars"}
#: rule lists whose items carry a country (a missing one can be created)
_COUNTRY_LISTS = {"caps", "delays", "night", "traction_power"}
#: paths that change the route itself: the itinerary is rebuilt on the network
_ROUTE_FIELDS = {"route", "reserved", "network"}


@dataclass(frozen=True)
class Variation:
    """A field and the values a sweep gives it.

    ``values`` are the grid's; ``low``/``high`` the range a Latin hypercube draws from (None for
    a list of values).
    """

    path: str
    values: tuple[Any, ...]
    low: float | None = None
    high: float | None = None

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, float) for v in self.values)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_variation(text: str, *, steps: int = GRID_STEPS) -> Variation:
    """Parse ``PATH=LOW:HIGH[:STEP]``, ``PATH=A,B,…`` or ``PATH=VALUE``.

    Raises
    ------
    VariationError
        A one-line message naming the option.
    """
    where = f"--vary {text!r}"
    path, sep, spec = text.partition("=")
    path = path.strip()
    if not sep or not path or not spec.strip():
        msg = f"{where}: expected PATH=LOW:HIGH[:STEP], PATH=A,B,… or PATH=VALUE"
        raise VariationError(msg)
    if ".." in path or path.startswith(".") or path.endswith("."):
        msg = f"{where}: '{path}' is not a path of dotted names (e.g. caps.KP.kmh)"
        raise VariationError(msg)
    leaf = path.rsplit(".", 1)[-1]
    if ":" in spec and "," not in spec and leaf not in CLOCK_FIELDS:
        parts = [_number(p) for p in spec.split(":")]
        if len(parts) not in (2, 3) or any(p is None for p in parts):
            msg = f"{where}: a range is LOW:HIGH or LOW:HIGH:STEP, in numbers"
            raise VariationError(msg)
        low, high = float(parts[0]), float(parts[1])  # type: ignore[arg-type]
        if high < low:
            msg = f"{where}: the range ends ({high:g}) below its start ({low:g})"
            raise VariationError(msg)
        if len(parts) == 3:
            step = float(parts[2])  # type: ignore[arg-type]
            if step <= 0:
                msg = f"{where}: the step must be > 0 (got {step:g})"
                raise VariationError(msg)
            count = math.floor((high - low) / step + 1e-9) + 1
            if count > MAX_POINTS:
                msg = f"{where}: {count} values; at most {MAX_POINTS}"
                raise VariationError(msg)
            values = tuple(round(low + k * step, 10) for k in range(count))
        else:
            values = tuple(float(v) for v in np.linspace(low, high, steps)) if high > low \
                else (low,)
        return Variation(path, values, low, high)
    items = [s.strip() for s in spec.split(",")]
    if any(not s for s in items):
        msg = f"{where}: an empty value in the list"
        raise VariationError(msg)
    parsed: list[Any] = []
    for s in items:
        num = None if leaf in CLOCK_FIELDS else _number(s)
        parsed.append(num if num is not None else _word(s))
    return Variation(path, tuple(parsed))


def _word(text: str) -> Any:
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def design_points(variations: Sequence[Variation], *, method: str = "grid",
                  samples: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The design: every combination of the values (``grid``), or ``samples`` points of a Latin
    hypercube (``lhs``: numbers anywhere in their range, a list's values in equal shares)."""
    paths = [v.path for v in variations]
    if len(set(paths)) != len(paths):
        msg = "--vary: a path is given twice"
        raise VariationError(msg)
    if method == "grid":
        count = math.prod(len(v.values) for v in variations)
        if count > MAX_POINTS:
            msg = (f"--vary: the grid has {count:,} points; at most {MAX_POINTS} (fewer values, "
                   "or --design lhs --samples N)")
            raise VariationError(msg)
        return [dict(zip(paths, combo, strict=True))
                for combo in itertools.product(*(v.values for v in variations))]
    if method != "lhs":
        msg = f"--design {method!r}: expected grid or lhs"
        raise VariationError(msg)
    if not samples or not 1 <= samples <= MAX_POINTS:
        msg = f"--design lhs needs --samples N, 1 to {MAX_POINTS}"
        raise VariationError(msg)

    from scipy.stats import qmc  # a third of a second to import: only here

    u = qmc.LatinHypercube(d=len(variations), seed=seed).random(samples)
    points = []
    for row in u:
        point = {}
        for v, x in zip(variations, row, strict=True):
            if v.low is not None and v.high is not None:
                # four significant digits: what the tables show is what was simulated
                point[v.path] = float(f"{v.low + x * (v.high - v.low):.4g}")
            else:
                point[v.path] = v.values[min(int(x * len(v.values)), len(v.values) - 1)]
        points.append(point)
    return points


# ----------------------------------------------------------------------------------------------
# edits
# ----------------------------------------------------------------------------------------------
def _matches(item: Any, key: str) -> bool:
    if not isinstance(item, dict):
        return False
    country = item.get("country")
    if country is not None:
        if key == country:
            return True
        c, _, line = key.partition(":")
        if line and c == country and item.get("line") and (
                line.casefold() in str(item["line"]).casefold()):
            return True
    between = item.get("between")
    if between is not None and key.upper() in ("-".join(between), "-".join(between[::-1])):
        return True
    at = item.get("at")
    if at is not None:
        kind, _, place = key.partition(":")
        if normalize_name(key) == normalize_name(str(at)):
            return True
        if place and kind == item.get("kind") and normalize_name(place) == normalize_name(at):
            return True
    return False


def _describe(item: Any) -> str:
    if not isinstance(item, dict):
        return repr(item)
    if "country" in item:
        return item["country"] + (f":{item['line']}" if item.get("line") else "")
    if "between" in item:
        return "-".join(item["between"])
    if "at" in item:
        return str(item["at"])
    return "?"


def _assign(node: dict[str, Any], key: str, value: Any, path: str) -> None:
    """Set ``node[key]``: a duration or a sourced number becomes fixed at ``value``."""
    what_if = f"what-if of trainsim sweep: {path} = {value}"
    old = node.get(key)
    if isinstance(old, dict) and ({"fixed", "uniform", "triangular"} & old.keys()):
        node[key] = {"fixed": value, "assumption": what_if}
    elif isinstance(old, dict) and "value" in old:
        node[key] = {"value": value, "assumption": what_if}
    elif old is None and key in ("duration", "headway", "wait"):
        node[key] = {"fixed": value, "assumption": what_if}
    elif old is None and key in _OPTIONAL_SOURCED:
        node[key] = {"value": value, "assumption": what_if}
    else:
        node[key] = value
    if key == "kmh":
        node.pop("kmh_range", None)  # the cap is the swept value, drawn no longer


def _edit(data: dict[str, Any], parts: list[str], value: Any, path: str,
          created: list[tuple[str, dict[str, Any]]]) -> None:
    """Follow ``parts`` from ``data`` and set the last; a list item chosen by country may be
    several rules, each edited alike."""
    nodes: list[Any] = [data]
    name = ""
    for key in parts[:-1]:
        found: list[Any] = []
        for node in nodes:
            if isinstance(node, list):
                found += _pick(node, key, name, path, created)
            elif isinstance(node, dict) and node.get(key) is not None:
                found.append(node[key])
            else:
                have = ", ".join(sorted(node)) if isinstance(node, dict) else "nothing"
                msg = f"--vary {path}: no '{key}' here (the fields are: {have})"
                raise VariationError(msg)
        nodes, name = found, key
    leaf = parts[-1]
    for node in nodes:
        if isinstance(node, list):
            msg = f"--vary {path}: '{leaf}' chooses an item of {name}; name a field of it too"
            raise VariationError(msg)
        if not isinstance(node, dict):
            msg = f"--vary {path}: '{name}' has no fields"
            raise VariationError(msg)
        _assign(node, leaf, value, path)


def _pick(items: list[Any], key: str, list_name: str, path: str,
          created: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The items of a list a path names (every rule of a country, say); a country's rule that
    does not exist is created."""
    if key.isdigit():
        if int(key) >= len(items):
            msg = f"--vary {path}: {list_name} has {len(items)} items"
            raise VariationError(msg)
        return [items[int(key)]]
    found = [it for it in items if _matches(it, key)]
    if found:
        return found
    if list_name in _COUNTRY_LISTS:
        country, _, line = key.partition(":")
        if not re.fullmatch(r"[A-Z]{2}", country):
            msg = f"--vary {path}: '{key}' is not a country code (KP) or COUNTRY:line"
            raise VariationError(msg)
        item: dict[str, Any] = {"country": country,
                                "assumption": f"what-if of trainsim sweep ({path})"}
        if line:
            item["line"] = line
        if list_name == "night":
            item.update(NIGHT_TEMPLATE)
        items.append(item)
        created.append((list_name, item))
        return [item]
    have = ", ".join(_describe(it) for it in items) or "none"
    msg = f"--vary {path}: no item '{key}' in {list_name or 'the list'} (there are: {have})"
    raise VariationError(msg)


def _check_on_route(variations: Sequence[Variation], prep: Prepared) -> None:
    """Refuse a rule of a country or line the route never enters: the what-if would change
    nothing (``caps.XX.kmh``, ``caps.VN.kmh`` on a trip to Vladivostok)."""
    countries = set(prep.itinerary.km_by("country"))
    lines = [str(name).casefold() for name in prep.itinerary.km_by("line")]
    for v in variations:
        parts = v.path.split(".")
        if len(parts) < 2 or parts[0] not in _COUNTRY_LISTS or parts[1].isdigit():
            continue
        country, _, line = parts[1].partition(":")
        if country not in countries:
            msg = (f"--vary {v.path}: no part of the route is in {country} (it runs through "
                   f"{', '.join(sorted(countries))}): the what-if would change nothing")
            raise VariationError(msg)
        if line and not any(line.casefold() in name for name in lines):
            msg = (f"--vary {v.path}: the route runs on no line called '{line}' in {country}: "
                   "the what-if would change nothing")
            raise VariationError(msg)


def apply_edits(scenario: Scenario, edits: dict[str, Any], *,
                columns: Sequence[str] = ()) -> tuple[Scenario, dict[str, float], list[str]]:
    """A copy of ``scenario`` with ``edits`` (path → value) made.

    Returns the scenario, the parameter columns to set (paths that are a name in ``columns``),
    and notes on rules created. An operating rule the sweep changes or creates becomes one of
    the scenario's overrides (its reason: the what-if); the shared defaults stay as they are,
    so a calibration still applies to every rule the sweep leaves alone (an override is never
    calibrated: the swept value holds), as in the baseline run.

    Raises
    ------
    VariationError
        A path that names nothing, or a value its field refuses (one line).
    """
    before = scenario.rules().model_dump(mode="python", by_alias=True, exclude_none=True)
    rules = copy.deepcopy(before)
    data = scenario.model_dump(mode="python", by_alias=True, exclude_none=True,
                               exclude={"path", "defaults", "operating"})
    params: dict[str, float] = {}
    created: list[tuple[str, dict[str, Any]]] = []
    rule_fields = set(OperatingDefaults.model_fields)
    for path, value in edits.items():
        if path in columns:
            if not isinstance(value, int | float) or isinstance(value, bool):
                msg = f"--vary {path}: a parameter column takes numbers (got {value!r})"
                raise VariationError(msg)
            params[path] = float(value)
            continue
        parts = path.split(".")
        if parts[0] in rule_fields:
            _edit(rules, parts, value, path, created)
        elif parts[0] in Scenario.model_fields and parts[0] not in ("path", "defaults"):
            if parts[0] == "operating":
                msg = (f"--vary {path}: name the rule itself ({'.'.join(parts[1:])}): a sweep "
                       "changes the rules as the scenario applies them")
                raise VariationError(msg)
            _edit(data, parts, value, path, created)
        else:
            known = sorted(rule_fields | set(Scenario.model_fields) - {"path", "defaults"})
            msg = (f"--vary {path}: '{parts[0]}' is neither an operating rule nor a scenario "
                   f"field nor a parameter column (rules and fields: {', '.join(known)}; "
                   f"columns: {', '.join(columns) or 'none'})")
            raise VariationError(msg)
    for item in rules.get("night", []):  # a slow night rule a sweep made needs its factor
        if item.get("mode") == "slow" and "speed_factor" not in item:
            item["speed_factor"] = 0.5
    desc = ", ".join(f"{k}={v}" for k, v in edits.items())
    try:
        OperatingDefaults.model_validate(rules)  # every rule as the scenario will apply it
        new = Scenario.model_validate(data)
        overrides = Overrides.model_validate(
            _overrides(scenario, before, rules, f"what-if of trainsim sweep: {desc}"))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"] if not str(x).startswith("tagged"))
        msg = f"--vary {desc}: field '{loc}': {err['msg']}"
        raise VariationError(msg) from None
    out = new.model_copy(update={"path": scenario.path, "defaults": scenario.defaults,
                                 "operating": overrides})
    out._lines = scenario._lines
    return out, params, [_created(name, item) for name, item in created]


def _overrides(scenario: Scenario, before: dict[str, Any], after: dict[str, Any],
               reason: str) -> dict[str, Any]:
    """The scenario's overrides after a sweep's edits: its own (as edited), then every default
    rule the sweep changed or created (ahead of the defaults, so it matches first)."""
    own = scenario.operating.model_dump(mode="python", by_alias=True, exclude_none=True)
    out: dict[str, Any] = {}
    for name in OperatingDefaults.model_fields:
        new, old = after.get(name), before.get(name)
        if isinstance(new, list):
            n_own = len(getattr(scenario.operating, name))
            old = old or []
            items = list(new[:n_own])
            items += [dict(item, reason=reason) for i, item in enumerate(new)
                      if i >= n_own and (i >= len(old) or item != old[i])]
            if items:
                out[name] = items
        elif new != old:
            # a supplement is a plain sourced number: it has no reason to give
            out[name] = new if name == "supplement" or not isinstance(new, dict) else {
                **new, "reason": new.get("reason") or reason}
        elif own.get(name) is not None:
            out[name] = own[name]
    return out


def _created(list_name: str, item: dict[str, Any]) -> str:
    """A note on a rule a sweep created, as it finally is."""
    where = item["country"] + (f":{item['line']}" if item.get("line") else "")
    if list_name == "night":
        how = item["mode"] + (f" ×{item['speed_factor']:g}" if item["mode"] == "slow" else "")
        return f"night rule {where} created: {item['start']}–{item['end']} {how}"
    fields = ", ".join(f"{k}={v}" for k, v in item.items()
                       if k not in ("country", "line", "assumption"))
    return f"{list_name} rule {where} created: {fields}"


def _touches_route(edits: dict[str, Any]) -> bool:
    return any(p.split(".")[0] in _ROUTE_FIELDS or (p.startswith("halts.") and p.endswith(".at"))
               for p in edits)


# ----------------------------------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------------------------------
@dataclass
class DesignPoint:
    """One point of a sweep and its arrival (seconds after the plan's epoch) and journey (h)."""

    values: dict[str, Any]
    arrival_s: tuple[float, float, float]  # p05, median, p95
    journey_h: tuple[float, float, float]
    epoch: datetime
    notes: list[str] = field(default_factory=list)

    def arrival(self, k: int = 1) -> datetime:
        return self.epoch + timedelta(seconds=self.arrival_s[k])


@dataclass
class SweepResult:
    """A sweep: the baseline and every design point."""

    scenario: str
    title: str
    destination: str
    tz: str
    variations: list[Variation]
    method: str
    baseline: DesignPoint
    points: list[DesignPoint]
    replications: int
    seed: int
    #: reported arrivals (or passages) at that place: (earliest, latest, what)
    reported: list[tuple[datetime, datetime, str]] = field(default_factory=list)

    def __repr__(self) -> str:
        # short, as ScenarioResult's: a notebook cell's last line should not print every point
        what = ", ".join(v.path for v in self.variations)
        return (f"<SweepResult {self.scenario}: {what}; {len(self.points)} point(s) "
                f"({self.method}), {self.replications} replications each, seed {self.seed}>")

    def _local(self, t: datetime) -> str:
        loc = t.astimezone(ZoneInfo(self.tz)) if self.tz else t
        off = loc.utcoffset() or timedelta(0)
        return loc.strftime("%Y-%m-%d %H:%M") + " " + format_offset(off.total_seconds())

    def rows(self) -> list[dict[str, Any]]:
        out = []
        base = self.baseline.journey_h[1]
        for i, p in enumerate([self.baseline, *self.points]):
            row: dict[str, Any] = {"point": "baseline" if i == 0 else i}
            for v in self.variations:
                row[v.path] = "" if i == 0 else p.values.get(v.path)
            row.update({
                "arrival_median_local": self._local(p.arrival(1)),
                "arrival_p05_local": self._local(p.arrival(0)),
                "arrival_p95_local": self._local(p.arrival(2)),
                "journey_h_median": round(p.journey_h[1], 2),
                "journey_h_p05": round(p.journey_h[0], 2),
                "journey_h_p95": round(p.journey_h[2], 2),
                "change_h": round(p.journey_h[1] - base, 2),
                "notes": "; ".join(p.notes),
            })
            out.append(row)
        return out

    def markdown(self) -> str:
        rows = self.rows()
        head = list(rows[0])
        lines = [f"# What-if sweep: {self.title}", "",
                 f"Arrival at {self.destination} and the time to it from the departure "
                 "(journey_h) for each design point "
                 f"({self.method}; {self.replications} replications each, seed {self.seed}, the "
                 "same replications at every point). Medians with 5–95 % bands; change: median "
                 "journey time minus the baseline's.", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(str(r[k]) for k in head) + " |" for r in rows]
        for lo, hi, what in self.reported:
            span = self._local(lo) + ("" if hi == lo else " – " + self._local(hi))
            lines += ["", f"{what.capitalize()} at {self.destination}: {span}."]
        return "\n".join(lines) + "\n"

    def write(self, out: Path) -> list[Path]:

        write_csv(out / "sweep.csv", self.rows())
        with atomic_path(out / "sweep.md") as tmp:
            tmp.write_text(self.markdown(), encoding="utf-8")
        plot(self, out / "sweep.png")
        return [out / "sweep.csv", out / "sweep.md", out / "sweep.png"]


def _point(prep: Prepared, at: str | None) -> int:
    """The route point of the place ``at`` (the destination when None)."""
    plan = prep.plan
    if at is None:
        return plan.n_points - 1
    key = normalize_name(at)
    hits = [p for p, name in enumerate(plan.place) if name and normalize_name(name) == key]
    if key in {normalize_name(k) for k in prep.reported_point}:
        hits += [p for k, p in prep.reported_point.items() if normalize_name(k) == key]
    if not hits:
        named = [n for n, k in zip(plan.place, plan.point_kind, strict=True)
                 if n and k not in ("station", "filler")]
        msg = f"--at {at!r}: not a place of the route (its places: {', '.join(named)})"
        raise VariationError(msg)
    return min(hits)


def _summary(prep: Prepared, mc: MonteCarloResult, point: int
             ) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    arrive = mc.arrive(point)
    journey = (arrive - mc.depart(0)) / 3600
    a = np.quantile(arrive, [0.05, 0.5, 0.95])
    j = np.quantile(journey, [0.05, 0.5, 0.95])
    return (float(a[0]), float(a[1]), float(a[2])), (float(j[0]), float(j[1]), float(j[2]))


def run_sweep(scenario: Scenario, variations: Sequence[Variation], *, method: str = "grid",
              samples: int | None = None, replications: int | None = None,
              seed: int | None = None, network: RailNetwork | None = None,
              base: Prepared | None = None,
              at: str | None = None, workers: int | None = None,
              scheduler: str | None = None,
              progress: Callable[[int], Any] | None = None) -> SweepResult:
    """Run ``scenario`` at every point of the design over ``variations``, and its baseline.

    Every edit of every point is checked before anything is simulated. ``base`` is the
    scenario already prepared (:class:`~simulator.planning.Prepared`; by default it is
    prepared on ``network``): points that leave the route as it is are planned on its
    itinerary. ``at`` names the place whose arrival the sweep reports (default: the
    destination).

    Raises
    ------
    VariationError
        A bad path or value (one line).
    """

    n = replications or scenario.replications
    seed = scenario.seed if seed is None else seed
    base = base if base is not None else prepare(scenario, network=network)
    _point(base, at)  # a bad place fails before anything runs
    _check_on_route(variations, base)
    columns = [s.name for s in base.plan.parameters]
    design = design_points(variations, method=method, samples=samples, seed=seed)
    edited = [apply_edits(scenario, point, columns=columns) for point in design]
    plans: dict[str, Any] = {}
    done = 0

    def tick(k: int) -> None:
        if progress:
            progress(done + k)

    def simulate(prep: Any, params: dict[str, float], values: dict[str, Any],
                 notes: list[str]) -> DesignPoint:
        nonlocal done
        table = draw_parameters(prep.plan, seed, n)
        for name, value in params.items():
            table[name] = value
        try:
            mc = run_monte_carlo(prep.plan, params=table, workers=workers, scheduler=scheduler,
                                 progress=tick)
        except ValueError as exc:  # a value the engine refuses (a cap beyond the plan's grid)
            desc = ", ".join(f"{k}={v}" for k, v in values.items())
            raise VariationError(f"--vary {desc}: {exc}") from None
        done += n
        arrival, journey = _summary(prep, mc, _point(prep, at))
        return DesignPoint(values, arrival, journey, prep.plan.epoch, notes)

    baseline = simulate(base, {}, {}, [])
    points = []
    for values, (sc, params, created) in zip(design, edited, strict=True):
        structural = {k: v for k, v in values.items() if k not in params}
        key = repr(sorted(structural.items()))
        if key not in plans:
            if not structural:
                plans[key] = base
            elif _touches_route(structural):
                plans[key] = prepare(sc, network=network)
            else:
                plans[key] = plan_journey(sc, base.itinerary)
        points.append(simulate(plans[key], params, values, created))
    where = _point(base, at)
    reported = [(rt.time[0], rt.time[1], f"reported ({rt.event})")
                for rt in scenario.reported.times
                if base.reported_point.get(rt.id) == where and rt.event != "depart"]
    return SweepResult(
        scenario=scenario.name, title=scenario.title, destination=base.plan.place[where],
        tz=base.plan.tz_name[where], variations=list(variations), method=method,
        baseline=baseline, points=points, replications=n, seed=seed, reported=reported)


# ----------------------------------------------------------------------------------------------
@literal_text
def plot(result: SweepResult, path: Path) -> None:
    """The arrival (median and 5–95 %) against each varied value; the baseline as a band."""

    k = len(result.variations)
    fig, axes = plots.subplots(1, k, figsize=(max(6.0, 4.6 * k), 4.8), dpi=110, squeeze=False,
                             sharey=True)
    zone = ZoneInfo(result.tz) if result.tz else None

    def num(t: datetime) -> float:
        local = t.astimezone(zone).replace(tzinfo=None) if zone else t.replace(tzinfo=None)
        return float(mdates.date2num(local))

    base = result.baseline
    for ax, var in zip(axes[0], result.variations, strict=True):
        ax.axhspan(num(base.arrival(0)), num(base.arrival(2)), color="#d5d8dc", alpha=0.6,
                   lw=0, label="baseline 5–95 %")
        ax.axhline(num(base.arrival(1)), color="#566573", lw=1.2, ls="--",
                   label="baseline median")
        for lo_t, hi_t, what in result.reported:
            if hi_t > lo_t:
                ax.axhspan(num(lo_t), num(hi_t), color="#c0392b", alpha=0.25, lw=0, label=what)
            else:
                ax.axhline(num(lo_t), color="#c0392b", lw=1.5, label=what)
        xs_all = [p.values[var.path] for p in result.points]
        categorical = not all(isinstance(x, int | float) and not isinstance(x, bool)
                              for x in xs_all)
        cats = list(dict.fromkeys(str(x) for x in xs_all))

        def pos(x: Any, cats: list[str] = cats, categorical: bool = categorical) -> float:
            return float(cats.index(str(x))) if categorical else float(x)

        xs = np.array([pos(x) for x in xs_all])
        med = np.array([num(p.arrival(1)) for p in result.points])
        lo = np.array([num(p.arrival(0)) for p in result.points])
        hi = np.array([num(p.arrival(2)) for p in result.points])
        others = [v.path for v in result.variations if v.path != var.path]
        keys = [tuple(p.values[o] for o in others) for p in result.points]
        groups = list(dict.fromkeys(keys))
        if others and len(groups) <= MAX_LINES and len(groups) < len(keys):
            # a grid: one line per combination of the other values, dodged sideways
            span = (np.ptp(xs) or 1.0) / max(len(np.unique(xs)), 2)
            colours = matplotlib.colormaps["tab10"]
            for g, key in enumerate(groups):
                sel = np.array([k == key for k in keys])
                shift = (g - (len(groups) - 1) / 2) * 0.12 * span
                order = np.argsort(xs[sel])
                x = xs[sel][order] + shift
                c = colours(g % 10)
                ax.vlines(x, lo[sel][order], hi[sel][order], color=c, lw=2.2, alpha=0.45)
                ax.plot(x, med[sel][order], "o-", color=c, ms=4, lw=1.2,
                        label=", ".join(f"{o}={v}" for o, v in zip(others, key, strict=True)))
        else:
            ax.vlines(xs, lo, hi, color="#5dade2", lw=2.5, alpha=0.7, label="5–95 %")
            ax.plot(xs, med, "o", color="#1b4f72", ms=5, label="median")
            ux = np.unique(xs)
            if len(ux) > 1:
                mean = [med[xs == x].mean() for x in ux]
                ax.plot(ux, mean, "-", color="#1b4f72", lw=1.2, alpha=0.8,
                        label="mean of medians" if len(ux) < len(xs) else None)
        ax.legend(fontsize=7, loc="best")
        if categorical:
            ax.set_xticks(range(len(cats)), cats)
            ax.set_xlim(-0.6, len(cats) - 0.4)
        ax.set_xlabel(var.path)
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
    axes[0][0].set_ylabel(f"arrival at {result.destination} (local time)")
    fig.suptitle(f"{result.title}: what-if sweep ({result.method}, {len(result.points)} points, "
                 f"{result.replications} replications each)", fontsize=10)
    fig.tight_layout()
    plots.save_figure(fig, path)
