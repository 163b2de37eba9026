"""The rail network: offline snapshot, osmnx loading, tag parsing, station index, download."""

from simulator.network.graph import RailNetwork, load_network
from simulator.network.stations import Station, StationIndex, normalize_name
from simulator.network.tags import parse_gauge, parse_maxspeed

__all__ = [
    "RailNetwork",
    "Station",
    "StationIndex",
    "load_network",
    "normalize_name",
    "parse_gauge",
    "parse_maxspeed",
]
