"""Parsers for the OSM rail tags trainsim uses (``maxspeed``, ``gauge``).

osmnx's ``add_edge_speeds`` only knows highways, so rail tags are parsed here.
"""

from __future__ import annotations

import re

__all__ = ["parse_gauge", "parse_maxspeed"]

MPH_TO_KPH = 1.609344
_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)\s*(km/h|kmh|kph|mph|knots)?\s*$", re.IGNORECASE)


def _one_speed(text: str) -> float | None:
    m = _NUMBER.match(text)
    if not m:
        return None
    value = float(m.group(1).replace(",", "."))
    unit = (m.group(2) or "").lower()
    if unit == "mph":
        value *= MPH_TO_KPH
    elif unit == "knots":
        value *= 1.852
    return value


def parse_maxspeed(value: object) -> float | None:
    """Parse an OSM ``maxspeed`` value into km/h.

    ``"80"`` → 80, ``"50 mph"`` → 80.47, ``"80;60"`` → 60 (the lower of several values, since a
    train must respect every limit that may apply), ``"none"``/garbage → None. Lists (from merged
    OSM ways) give their lowest parsable value.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parsed = [parse_maxspeed(v) for v in value]
        known = [p for p in parsed if p is not None]
        return min(known) if known else None
    if isinstance(value, (int, float)):
        return float(value)
    speeds = [_one_speed(part) for part in str(value).split(";")]
    known = [s for s in speeds if s is not None]
    return min(known) if known else None


def parse_gauge(value: object) -> frozenset[int]:
    """Parse an OSM ``gauge`` value into the set of track gauges in mm.

    ``"1435;1520"`` (dual gauge) → {1435, 1520}; lists from merged ways are joined; an empty set
    means the gauge is not known.
    """
    if value is None:
        return frozenset()
    if isinstance(value, (list, tuple)):
        out: set[int] = set()
        for v in value:
            out |= parse_gauge(v)
        return frozenset(out)
    gauges: set[int] = set()
    for part in re.split(r"[;,]", str(value)):
        part = part.strip()
        if part.isdigit():
            gauges.add(int(part))
    return frozenset(gauges)
