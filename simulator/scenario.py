"""Scenario files: YAML validated with pydantic, with errors that name the file, line and field.

A scenario states the facts of one trip (route, clock times, stops, locomotives, reported figures);
the operating rules every trip shares (speed caps, delays, night rules, procedures at borders and
gauge changes, the pilot train's headway) live in one defaults file, ``scenarios/defaults/
operating.yaml``. A scenario may override a rule, but each override must say why (``reason``).
Every number carries a ``source`` or an ``assumption``.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import (
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from simulator import settings
from simulator._io import file_problem
from simulator._provenance import Provenance, Strict, within
from simulator._yaml import TAG, line_of, load_yaml, validate_model
from simulator.errors import ScenarioError
from simulator.rolling_stock import Cars, Consist, Locomotive, Sourced

__all__ = [
    "Duration",
    "OperatingDefaults",
    "Scenario",
    "load_defaults",
    "load_scenario",
    "parse_clock_time",
]

_ZONE_RE = re.compile(r"^(?P<stamp>.+?)\s+(?P<zone>[A-Za-z]+(?:/[A-Za-z_+\-0-9]+)+|UTC)$")

#: Years a clock time may fall in. Before 1900 the tz database gives most Asian zones local mean
#: time, not a legal offset; after 2100 any offset is a guess. (Years near 1 or 9999 would also
#: overflow Python's datetime once the journey's hours are added.)
YEARS = (1900, 2100)
#: Longest duration (minutes) of a halt, wait, delay or headway: a week. The longest halts in the
#: reported trips last hours (a gauge change, a welcome ceremony); a longer stay is another trip.
MAX_DURATION_MIN = 7 * 24 * 60.0
#: Longest reported leg (hours): 30 days. The longest trip, Pyongyang → Đồng Đăng, took ~66 h.
MAX_LEG_H = 30 * 24.0


def parse_clock_time(value: Any) -> datetime:
    """Parse ``2019-02-23 17:00 +09:00`` or ``2019-02-23 17:00 Asia/Pyongyang`` (zone required).

    The year must lie within :data:`YEARS`.
    """
    stamp = _parse_clock_time(value)
    if not YEARS[0] <= stamp.year <= YEARS[1]:
        msg = (f"clock time '{value}': the year must lie in {YEARS[0]}–{YEARS[1]} "
               "(the years whose time-zone offsets are known)")
        raise ValueError(msg)
    return stamp


def _parse_clock_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"clock time '{value}' has no time zone; add an offset (+09:00) or a zone name"
            raise ValueError(msg)
        return value
    if not isinstance(value, str):
        msg = f"expected a clock time such as '2019-02-23 17:00 +09:00', got {value!r}"
        raise ValueError(msg)
    text = value.strip()
    m = _ZONE_RE.match(text)
    if m:
        try:
            zone = ZoneInfo(m["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            msg = f"unknown time zone '{m['zone']}' in '{value}' (use an IANA name or an offset)"
            raise ValueError(msg) from None
        stamp = _fromiso(m["stamp"], value)
        if stamp.tzinfo is not None:
            msg = f"clock time '{value}' gives both an offset and a zone name"
            raise ValueError(msg)
        return stamp.replace(tzinfo=zone)
    stamp = _fromiso(text.replace(" +", "+").replace(" -", "-"), value)
    if stamp.tzinfo is None:
        msg = (f"clock time '{value}' has no time zone; write it as '2019-02-23 17:00 +09:00' or "
               "'2019-02-23 17:00 Asia/Pyongyang'")
        raise ValueError(msg)
    return stamp


def _fromiso(text: str, original: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        msg = f"'{original}' is not a clock time like '2019-02-23 17:00 +09:00'"
        raise ValueError(msg) from None


ClockTime = Annotated[datetime, BeforeValidator(parse_clock_time)]


def _time_range(value: Any) -> tuple[datetime, datetime]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            msg = "a time range is a list of two clock times [earliest, latest]"
            raise ValueError(msg)
        a, b = parse_clock_time(value[0]), parse_clock_time(value[1])
    else:
        a = b = parse_clock_time(value)
    if b < a:
        msg = f"time range ends ({b.isoformat()}) before it starts ({a.isoformat()})"
        raise ValueError(msg)
    return a, b


TimeRange = Annotated[tuple[datetime, datetime], BeforeValidator(_time_range)]


def _clock(value: Any) -> Any:
    """A local clock time ``HH:MM`` (00:00–23:59)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d\d:\d\d", value):
        msg = f"expected a clock time 'HH:MM', got {value!r}"
        raise ValueError(msg)
    h, m = map(int, value.split(":"))
    if h > 23 or m > 59:
        msg = f"'{value}' is not a clock time (00:00–23:59)"
        raise ValueError(msg)
    return value


Clock = Annotated[str, BeforeValidator(_clock)]
Minutes = Annotated[float, within(0, MAX_DURATION_MIN, "min")]


def _preset_or_inline(model: type, what: str) -> Discriminator:
    """How to read a rolling-stock field: a preset's name (or path), or the stock given inline.

    A tagged union, so that an error inside inline stock names its real field
    (``train.locomotive.power_kw``) rather than the string branch of the union.
    """
    def tag(value: Any) -> str | None:
        if isinstance(value, str):
            return TAG + "preset"
        if isinstance(value, dict | model):
            return TAG + "inline"
        return None

    return Discriminator(tag, custom_error_type="preset_or_inline",
                         custom_error_message=f"expected a preset name or an inline {what} "
                                              "(a mapping of its fields)")


LocomotiveSpec = Annotated[
    Annotated[str, Tag(TAG + "preset")] | Annotated[Locomotive, Tag(TAG + "inline")],
    _preset_or_inline(Locomotive, "locomotive")]
ConsistSpec = Annotated[
    Annotated[str, Tag(TAG + "preset")] | Annotated[Consist, Tag(TAG + "inline")],
    _preset_or_inline(Consist, "consist")]


class Duration(Provenance):
    """Minutes: ``fixed``, ``uniform: [a, b]`` or ``triangular: [low, mode, high]``."""

    fixed: Minutes | None = None
    uniform: tuple[Minutes, Minutes] | None = None
    triangular: tuple[Minutes, Minutes, Minutes] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Duration:
        forms = [f for f in (self.fixed, self.uniform, self.triangular) if f is not None]
        if len(forms) != 1:
            msg = "give exactly one of fixed, uniform: [a, b] or triangular: [low, mode, high]"
            raise ValueError(msg)
        if self.uniform is not None and not 0 <= self.uniform[0] <= self.uniform[1]:
            msg = "uniform: [a, b] needs 0 ≤ a ≤ b"
            raise ValueError(msg)
        if self.triangular is not None:
            lo, mode, hi = self.triangular
            if not 0 <= lo <= mode <= hi or lo == hi:
                msg = "triangular: [low, mode, high] needs 0 ≤ low ≤ mode ≤ high and low < high"
                raise ValueError(msg)
        return self

    def sample_s(self, rng: np.random.Generator, size: int | None = None) -> Any:
        """Draw durations in seconds."""
        if self.fixed is not None:
            return self.fixed * 60.0 if size is None else np.full(size, self.fixed * 60.0)
        if self.uniform is not None:
            return rng.uniform(self.uniform[0], self.uniform[1], size) * 60.0
        assert self.triangular is not None
        lo, mode, hi = self.triangular
        return rng.triangular(lo, mode, hi, size) * 60.0

    @property
    def max_min(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.uniform is not None:
            return self.uniform[1]
        assert self.triangular is not None
        return self.triangular[2]

    @property
    def mean_min(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.uniform is not None:
            return sum(self.uniform) / 2
        assert self.triangular is not None
        return sum(self.triangular) / 3

    def describe(self) -> str:
        if self.fixed is not None:
            return f"{self.fixed:g} min"
        if self.uniform is not None:
            return f"{self.uniform[0]:g}–{self.uniform[1]:g} min"
        assert self.triangular is not None
        return f"{self.triangular[0]:g}–{self.triangular[2]:g} min (mode {self.triangular[1]:g})"


# ----------------------------------------------------------------------------------------------
# operating rules (defaults file, or a scenario's overrides)
# ----------------------------------------------------------------------------------------------
class _Rule(Provenance):
    """Applies to a country (ISO code), optionally only to lines whose name contains ``line``."""

    country: str = Field(pattern=r"^[A-Z]{2}$")
    line: str | None = None
    reason: str | None = Field(default=None, description="why a scenario overrides a default")

    def matches(self, country: str, line: str) -> bool:
        return self.country == country and (
            self.line is None or self.line.casefold() in line.casefold())


#: operating speed caps: 5 km/h (a severe temporary restriction) to 400 km/h (above any line)
CapKmh = Annotated[float, within(5, 400, "km/h")]


class CapRule(_Rule):
    kmh: CapKmh
    kmh_range: tuple[CapKmh, CapKmh] | None = Field(
        default=None, description="[low, high]: the cap is uncertain; each replication draws it")

    @model_validator(mode="after")
    def _range(self) -> CapRule:
        if self.kmh_range is not None and not 0 < self.kmh_range[0] <= self.kmh <= \
                self.kmh_range[1]:
            msg = "kmh_range: [low, high] must contain kmh"
            raise ValueError(msg)
        return self

    def kmh_at(self, q: float) -> float:
        """The cap at quantile ``q`` of its range: low at 0, ``kmh`` at 0.5, high at 1."""
        if self.kmh_range is None:
            return self.kmh
        lo, hi = self.kmh_range
        if q <= 0.5:
            return lo + 2 * q * (self.kmh - lo)
        return self.kmh + (2 * q - 1) * (hi - self.kmh)


class DelayRule(_Rule):
    #: the calibrated rate on the P'yŏngra Line is 0.68; 20 would be a stop every 5 km
    per_100km: Annotated[float, within(0, 20, "per 100 km")] = Field(
        description="expected number of unplanned stops per 100 km")
    duration: Duration


class NightRule(_Rule):
    start: Clock = Field(description="local clock time HH:MM")
    end: Clock
    mode: Literal["slow", "halt"]
    #: night running at half speed is typical; below a tenth the train is in effect halted (use
    #: mode: halt), and the running-time physics is not meant for crawling
    speed_factor: Annotated[float, within(0.1, 1)] | None = None

    @model_validator(mode="after")
    def _factor(self) -> NightRule:
        if self.mode == "slow" and self.speed_factor is None:
            msg = "a 'slow' night rule needs speed_factor (0.1–1)"
            raise ValueError(msg)
        if self.start == self.end:
            msg = f"start and end are both {self.start}: the night would last no time"
            raise ValueError(msg)
        return self

    def window_minutes(self) -> tuple[int, int]:
        h1, m1 = map(int, self.start.split(":"))
        h2, m2 = map(int, self.end.split(":"))
        return h1 * 60 + m1, h2 * 60 + m2


class PowerRule(_Rule):
    kind: Literal["electric", "diesel"]
    #: a derating of traction power (weak catenary, old diesels); below a tenth nothing would run
    factor: Annotated[float, within(0.1, 1)]


class BorderRule(Provenance):
    between: tuple[str, str]
    duration: Duration
    pilot_halts: bool = True
    reason: str | None = None


class Procedure(Provenance):
    duration: Duration
    pilot_halts: bool = True
    reason: str | None = None


class PilotRule(Provenance):
    headway: Duration
    delays_apply: bool = True
    reason: str | None = None

    @model_validator(mode="after")
    def _lead(self) -> PilotRule:
        if self.headway.max_min > 360:
            msg = "the pilot train's headway may be at most 360 minutes"
            raise ValueError(msg)
        return self


class StationPassing(Provenance):
    """Speed through stations the train passes without stopping."""

    kmh: CapKmh
    #: platforms and the switches at both ends: about 0.5–2 km
    zone_m: Annotated[float, within(0, 5000, "m", above=True)] = Field(
        description="length of the station zone")
    reason: str | None = None


class LineOccupation(Provenance):
    """How long a section stays closed to other trains after the leader's tail has left it."""

    #: releasing a block and setting the next route takes minutes; two hours would be a closure
    #: of its own, not a margin
    clearance_min: Annotated[float, within(0, 120, "min")] = Field(
        description="block-clearance margin: minutes from the tail's passage to the release")
    reason: str | None = None


#: running-time supplement, a fraction: timetables add 3–10 %; half the running time is far beyond
Supplement = Annotated[Sourced, within(0, 0.5)]


class OperatingDefaults(Strict):
    """The operating rules shared by every scenario."""

    supplement: Supplement
    station_passing: StationPassing | None = None
    caps: list[CapRule]
    delays: list[DelayRule] = Field(default_factory=list)
    night: list[NightRule] = Field(default_factory=list)
    traction_power: list[PowerRule] = Field(default_factory=list)
    borders: list[BorderRule] = Field(default_factory=list)
    gauge_change: Procedure
    locomotive_change: Procedure
    pilot: PilotRule | None = None
    line_occupation: LineOccupation | None = None


class Overrides(Strict):
    """A scenario's changes to the defaults; every rule given here needs a ``reason``."""

    supplement: Supplement | None = None
    station_passing: StationPassing | None = None
    caps: list[CapRule] = Field(default_factory=list)
    delays: list[DelayRule] = Field(default_factory=list)
    night: list[NightRule] = Field(default_factory=list)
    traction_power: list[PowerRule] = Field(default_factory=list)
    borders: list[BorderRule] = Field(default_factory=list)
    gauge_change: Procedure | None = None
    locomotive_change: Procedure | None = None
    pilot: PilotRule | None = None
    line_occupation: LineOccupation | None = None

    @model_validator(mode="after")
    def _reasons(self) -> Overrides:
        for name in ("caps", "delays", "night", "traction_power", "borders"):
            for i, rule in enumerate(getattr(self, name)):
                if not rule.reason:
                    msg = f"{name}[{i}] overrides a default: say why in 'reason'"
                    raise ValueError(msg)
        for name in ("gauge_change", "locomotive_change", "pilot", "station_passing",
                     "line_occupation"):
            rule = getattr(self, name)
            if rule is not None and not rule.reason:
                msg = f"{name} overrides a default: say why in 'reason'"
                raise ValueError(msg)
        return self


# ----------------------------------------------------------------------------------------------
# the scenario
# ----------------------------------------------------------------------------------------------
class TrainSpec(Strict):
    consist: ConsistSpec = Field(
        default="armored-train",
        description="a preset in data/rolling_stock (name or path), or the consist inline")
    cars: Cars | None = None
    locomotive: LocomotiveSpec = Field(
        description="locomotive class hauling the train from the origin: preset or inline")


class RouteStop(Strict):
    at: str
    depart: TimeRange | None = Field(default=None, description="only for the origin")
    source: str | None = None


class RouteSpec(Strict):
    #: track gauges in use run from 600 mm (narrow) to 1,676 mm (Indian broad gauge)
    gauge: Annotated[int, Field(strict=True), within(600, 1700, "mm")] = 1435
    gauge_change_at: list[str] = Field(default_factory=list)
    reverse_at: list[str] = Field(default_factory=list)
    allow_detours: bool = Field(
        default=False, description="accept a route that enters a country where no stop is, "
        "crosses a border twice or passes a station twice (refused otherwise)")
    #: the flagship trips have 2-7 stops; each stop is a routing search
    stops: list[RouteStop] = Field(min_length=2, max_length=100)

    @model_validator(mode="after")
    def _origin_time(self) -> RouteSpec:
        if self.stops[0].depart is None:
            msg = "the first stop needs 'depart': a clock time or [earliest, latest]"
            raise ValueError(msg)
        if not self.stops[0].source:
            msg = "the departure time needs a 'source'"
            raise ValueError(msg)
        for s in self.stops[1:]:
            if s.depart is not None:
                msg = f"only the origin takes 'depart' (found at '{s.at}'); use reported times"
                raise ValueError(msg)
        return self


class Halt(Strict):
    """Something that stops the train at a place: a stop, a ceremony, a locomotive change."""

    at: str
    kind: Literal["stop", "ceremony", "locomotive_change"]
    duration: Duration | None = None
    to: LocomotiveSpec | None = Field(
        default=None, description="locomotive class after a change: preset or inline")
    units: Annotated[float, within(1, 6, "units", whole=True)] | None = None
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Halt:
        if self.kind == "locomotive_change" and not self.to:
            msg = "a locomotive_change needs 'to' (the locomotive class that takes over)"
            raise ValueError(msg)
        if self.kind != "locomotive_change" and self.duration is None:
            msg = f"a {self.kind} needs a duration (with its source or assumption)"
            raise ValueError(msg)
        return self


class ReservedSection(Provenance):
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RoadLeg(Strict):
    to: str
    #: a motorcade from the railhead: 170 km to Hanoi; beyond 3,000 km it is a road trip
    km: Annotated[Sourced, within(0, 3000, "km", above=True)]
    wait: Duration
    #: road speeds: from a crawl through crowds to motorway speed
    speed_kmh: tuple[Annotated[float, within(1, 200, "km/h")],
                     Annotated[float, within(1, 200, "km/h")]]
    speed_source: str

    @field_validator("speed_kmh")
    @classmethod
    def _speeds(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 < v[0] <= v[1]:
            msg = "speed_kmh: [low, high] needs 0 < low ≤ high"
            raise ValueError(msg)
        return v


class ReportedTime(Strict):
    id: str
    at: str
    event: Literal["depart", "arrive", "pass"]
    time: TimeRange
    sources: list[str] = Field(min_length=1)
    note: str = ""


class ReportedLeg(Strict):
    """A reported duration between two points (ids of reported times or place names)."""

    id: str
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    hours: tuple[Annotated[float, within(0, MAX_LEG_H, "h", above=True)],
                 Annotated[float, within(0, MAX_LEG_H, "h", above=True)]]
    kind: Literal["measured", "claim"]
    sources: list[str] = Field(min_length=1)
    note: str = ""
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("hours", mode="before")
    @classmethod
    def _range(cls, v: Any) -> Any:
        return [v, v] if isinstance(v, int | float) and not isinstance(v, bool) else v

    @field_validator("hours")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[1] < v[0]:
            msg = f"[low, high] needs low ≤ high (got [{v[0]:g}, {v[1]:g}])"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _two_places(self) -> ReportedLeg:
        if self.start == self.end:
            msg = f"the leg starts and ends at '{self.start}'"
            raise ValueError(msg)
        return self


class Reported(Strict):
    times: list[ReportedTime] = Field(default_factory=list)
    legs: list[ReportedLeg] = Field(default_factory=list)

    @field_validator("times", "legs")
    @classmethod
    def _unique_ids(cls, items: list[Any]) -> list[Any]:
        # a leg names its ends by these ids: a repeated one would silently mean the other entry
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in seen:
                msg = f"id '{item.id}' is used twice (entries {seen[item.id]} and {i})"
                raise ValueError(msg)
            seen[item.id] = i
        return items


class NowcastSettings(Strict):
    """Defaults of ``trainsim nowcast`` for this trip."""

    #: a sighting's time is good to a day at worst; below that it is a date, not a sighting
    uncertainty_min: Annotated[Sourced, within(0, 24 * 60, "min", above=True)] | None = Field(
        default=None, description="uncertainty of a sighting's time when it gives none (min)")


#: the most Monte Carlo replications a run may ask for (the file's field and ``-n`` alike)
MAX_REPLICATIONS = 100_000
#: seeds are 64-bit non-negative integers (numpy's SeedSequence takes any; CSV readers do not)
MAX_SEED = 2**63 - 1


class Scenario(Strict):
    """One trip."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    description: str = ""
    network: Path | None = None
    train: TrainSpec
    route: RouteSpec
    halts: list[Halt] = Field(default_factory=list)
    reserved: list[ReservedSection] = Field(default_factory=list)
    road: RoadLeg | None = None
    operating: Overrides = Field(default_factory=Overrides)
    #: 100,000 replications take minutes and tens of MB; the flagship scenarios use 500
    replications: int = Field(default=500, ge=1, le=MAX_REPLICATIONS, strict=True)
    seed: int = Field(default=20190223, ge=0, le=MAX_SEED, strict=True)
    reported: Reported = Field(default_factory=Reported)
    nowcast: NowcastSettings = Field(default_factory=NowcastSettings)

    #: set by :func:`load_scenario`
    path: Path | None = None
    defaults: OperatingDefaults | None = None
    _lines: dict[tuple[Any, ...], int] = PrivateAttr(default_factory=dict)

    def error(self, loc: tuple[Any, ...], text: str) -> ScenarioError:
        """A one-line error naming this file, the line of ``loc`` and the field."""
        line = line_of(self._lines, loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        field = ".".join(str(x) for x in loc)
        return ScenarioError(f"{where}: field '{field}': {text}")

    def rules(self) -> OperatingDefaults:
        """The defaults with this scenario's overrides in front (so they match first)."""
        assert self.defaults is not None
        d, o = self.defaults, self.operating
        return OperatingDefaults(
            supplement=o.supplement or d.supplement,
            station_passing=o.station_passing or d.station_passing,
            caps=[*o.caps, *d.caps], delays=[*o.delays, *d.delays], night=[*o.night, *d.night],
            traction_power=[*o.traction_power, *d.traction_power],
            borders=[*o.borders, *d.borders],
            gauge_change=o.gauge_change or d.gauge_change,
            locomotive_change=o.locomotive_change or d.locomotive_change,
            pilot=o.pilot or d.pilot,
            line_occupation=o.line_occupation or d.line_occupation,
        )


def load_defaults(path: Path | None = None) -> OperatingDefaults:
    path = path or settings.operating_defaults
    data, lines = load_yaml(path)
    return validate_model(OperatingDefaults, data, lines, path)


def load_scenario(path: Path | str, *, defaults: Path | None = None) -> Scenario:
    """Read and validate a scenario file (and the operating defaults it uses)."""
    path = Path(path)
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        msg = f"{path}:1: a scenario is a mapping of fields (name, title, train, route, ...)"
        raise ScenarioError(msg)
    for key in ("path", "defaults"):  # set below, never by the file
        if key in data:
            msg = f"{path}:{line_of(lines, (key,))}: field '{key}': unknown field"
            raise ScenarioError(msg)
    scenario = validate_model(Scenario, data, lines, path)
    network = scenario.network
    if network is not None and not network.is_absolute():
        network = Path(os.path.abspath(path.parent / network))
    out = scenario.model_copy(update={
        "path": path, "defaults": load_defaults(defaults), "network": network})
    out._lines = lines
    if network is not None:
        problem = file_problem(network)
        if problem:
            raise out.error(("network",), f"{network}: {problem}")
    return out


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)
