"""Paths and defaults shared by every module (as osmnx's ``settings``).

Where the bundled files are: the rail data (``data/``) and the flagship scenarios with the shared
operating rules (``scenarios/``) are top-level folders of the source checkout. A wheel installs
them inside the package, as ``simulator/data`` and ``simulator/scenarios`` (``pyproject.toml``
maps the folders there), where :mod:`importlib.resources` finds them; a checkout (an editable
install, or the source tree itself) has no such folders in the package and uses its own top-level
ones. Paths a user gives (scenario files, output folders) are taken relative to the folder the
user runs trainsim in: the default output folder is ``outputs/`` there.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = [
    "bundled_scenarios", "cache_dir", "calibrated_defaults", "data_dir", "default_snapshot",
    "installed", "operating_defaults", "outputs_dir", "rolling_stock_dir", "root",
    "scenarios_dir", "timezones_file",
]

_PACKAGE = Path(str(files("simulator")))
#: whether trainsim runs from an installed wheel (True) or from a source checkout (False)
installed = (_PACKAGE / "data").is_dir()
#: the installed package's folder, or the top of the source checkout: never an output folder
root = _PACKAGE if installed else _PACKAGE.parent

data_dir = root / "data"
scenarios_dir = root / "scenarios"
#: the default output folder: ``outputs/`` under the folder the user runs in
outputs_dir = Path("outputs")
default_snapshot = data_dir / "rail" / "corridors.osm.bz2"
rolling_stock_dir = data_dir / "rolling_stock"
timezones_file = data_dir / "timezones.csv"
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


def bundled_scenarios() -> dict[str, Path]:
    """The flagship scenarios that ship with trainsim.

    Returns
    -------
    dict of str to Path
        Each scenario file by name (``hanoi-2019``, ...); the names work wherever a scenario
        file does (``run_scenario("hanoi-2019")``, ``trainsim run hanoi-2019``).
    """
    return {p.stem: p for p in sorted(scenarios_dir.glob("*.yaml"))}


def cache_dir() -> Path:
    """Where parsed networks are cached: ``$TRAINSIM_CACHE`` or the user cache folder."""
    env = os.environ.get("TRAINSIM_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trainsim"
