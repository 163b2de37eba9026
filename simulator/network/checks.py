"""How well the network's lengths agree with published line lengths (``network info --check``).

``data/rail/chainage_checks.csv`` lists pairs of stations with the published km between them
(with its source); the network's plain shortest path between the same stations should agree
within a few percent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx

from simulator import settings
from simulator._io import read_csv_rows
from simulator.errors import DataFileError
from simulator.network.graph import RailNetwork

__all__ = ["TOLERANCE_PCT", "LengthCheck", "length_checks"]

#: what "agrees" means for a published length
TOLERANCE_PCT = 3.0


@dataclass(frozen=True)
class LengthCheck:
    """A published line length against the network's plain shortest path."""

    start: str
    end: str
    published_km: float
    network_km: float
    source: str

    @property
    def error_pct(self) -> float:
        return 100 * (self.network_km - self.published_km) / self.published_km

    @property
    def agrees(self) -> bool:
        return abs(self.error_pct) <= TOLERANCE_PCT


def length_checks(network: RailNetwork) -> list[LengthCheck]:
    """Every published length of ``data/rail/chainage_checks.csv`` against the network.

    Raises
    ------
    DataFileError
        The table is missing or malformed, names an unknown station, or a pair that no track
        joins (naming the file and row).
    """
    path = settings.data_dir / "rail" / "chainage_checks.csv"
    out = []
    for r in read_csv_rows(path, ("from", "to", "published_km", "source"), check=_chainage_row):
        try:
            a, b = network.stations.find(r["from"]), network.stations.find(r["to"])
        except LookupError as exc:
            msg = f"{path}: {exc}"
            raise DataFileError(msg) from None
        try:
            m = nx.shortest_path_length(network.graph, a.node, b.node, weight="length")
        except nx.NetworkXNoPath:
            msg = f"{path}: no track joins {a.label} and {b.label} on the network"
            raise DataFileError(msg) from None
        out.append(LengthCheck(a.label, b.label, float(r["published_km"]), m / 1000,
                               r["source"]))
    return out


def _chainage_row(row: dict[str, str]) -> None:
    try:
        km = float(row["published_km"])
    except ValueError:
        km = math.nan
    if not 0 < km < 20_000:  # no railway line is longer than the Trans-Siberian's 9,289 km
        msg = f"published_km: expected a length in km, got {row['published_km']!r}"
        raise ValueError(msg)
