"""Paths and defaults shared by every module (as osmnx's ``settings``)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "cache_dir", "calibrated_defaults", "data_dir", "default_snapshot", "operating_defaults",
    "outputs_dir", "repo_root", "rolling_stock_dir", "scenarios_dir", "timezones_file",
]

repo_root = Path(__file__).resolve().parents[1]
data_dir = repo_root / "data"
outputs_dir = repo_root / "outputs"
default_snapshot = data_dir / "rail" / "corridors.osm.bz2"
rolling_stock_dir = data_dir / "rolling_stock"
timezones_file = data_dir / "timezones.csv"
scenarios_dir = repo_root / "scenarios"
#: the operating rules every scenario uses unless it overrides them (with a reason)
operating_defaults = scenarios_dir / "defaults" / "operating.yaml"
#: the calibrated operating parameters (``trainsim calibrate``), used by default by every draw
calibrated_defaults = scenarios_dir / "defaults" / "calibrated.yaml"

#: OSM way tags kept on graph edges (osmnx drops the rest)
useful_tags_way = [
    "railway", "gauge", "electrified", "voltage", "frequency", "usage", "service", "tracks",
    "maxspeed", "maxspeed:forward", "maxspeed:backward", "railway:preferred_direction",
    "name", "name:en", "ref", "operator", "country", "source", "highspeed",
    "trainsim:length", "trainsim:length_scale", "trainsim:geometry", "trainsim:simplified_m",
]
#: OSM node tags kept on graph nodes
useful_tags_node = [
    "railway", "ref", "name", "name:en", "name:ko-Hani", "railway:position", "border_crossing",
    "ele", "source", "trainsim:gauge_change", "trainsim:station_priority", "public_transport",
]


def cache_dir() -> Path:
    """Where parsed networks are cached: ``$TRAINSIM_CACHE`` or the user cache folder."""
    env = os.environ.get("TRAINSIM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainsim"
