"""Station index: find a station by English or local name, ignoring case and diacritics."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from simulator._io import read_csv_rows
from simulator.errors import StationNotFoundError

__all__ = ["Station", "StationIndex", "normalize_name"]

_SPECIAL = str.maketrans({"đ": "d", "Đ": "D", "ı": "i", "ł": "l", "Ł": "L", "ø": "o"})
_APOSTROPHES = re.compile(r"[’'ʼ`´]")
_PUNCT = re.compile(r"[\-–—_.,/()]+")


def normalize_name(name: str) -> str:
    """Fold a station name for matching: no case, diacritics, apostrophes or punctuation.

    >>> normalize_name("Sinŭiju Ch'ŏngnyŏn") == normalize_name("sinuiju chongnyon")
    True
    """
    text = unicodedata.normalize("NFKD", name.translate(_SPECIAL))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _PUNCT.sub(" ", _APOSTROPHES.sub("", text)).lower()
    return " ".join(text.split())


#: the pinyin of the compass points in Chinese station names (北京西 Beijingxi, Beijing West)
_DIRECTIONS = {"north": "bei", "south": "nan", "east": "dong", "west": "xi"}


def _direction_forms(key: str) -> list[str]:
    """The other spellings of a normalized name with a compass point: ``beijing west`` ↔
    ``beijingxi``."""
    words = key.split(" ")
    if len(words) >= 2 and words[-1] in _DIRECTIONS:
        return ["".join(words[:-1]) + _DIRECTIONS[words[-1]]]
    return [f"{key[:-len(py)]} {en}" for en, py in _DIRECTIONS.items()
            if key.endswith(py) and len(key) > len(py) + 2 and " " not in key]


@dataclass(frozen=True)
class Station:
    """A station node of the network."""

    node: int
    name: str
    name_en: str | None
    lat: float
    lon: float
    km: float | None
    country: str | None

    @property
    def label(self) -> str:
        """English name where known, else the local one."""
        return self.name_en or self.name


class StationIndex:
    """Look stations up by any of their names or by an alias."""

    def __init__(self, stations: list[Station], aliases: dict[str, str] | None = None) -> None:
        self.stations = stations
        self._by_key: dict[str, Station] = {}
        for st in stations:
            for key in self._keys(st):
                self._by_key.setdefault(key, st)
        for alias, target in (aliases or {}).items():
            st_target = self._by_key.get(normalize_name(target))
            if st_target is not None:
                self._by_key[normalize_name(alias)] = st_target  # aliases are deliberate: they win

    @staticmethod
    def _keys(st: Station) -> list[str]:
        keys = []
        for name in (st.name_en, st.name):
            if not name:
                continue
            keys.append(normalize_name(name))
            base = name.split(" (")[0]
            keys.append(normalize_name(base))
            if "(" in name:  # 'Sŏp'yŏngyang (West P'yŏngyang)': both names work
                keys.append(normalize_name(name.split("(", 1)[1].rstrip(")")))
        return [k for k in keys if k]

    def __len__(self) -> int:
        return len(self.stations)

    def find(self, name: str) -> Station:
        """Return the station called ``name``.

        Raises
        ------
        StationNotFoundError
            With the closest known names when nothing matches.
        """
        key = normalize_name(name)
        if key in self._by_key:
            return self._by_key[key]
        # Chinese stations go by either form: 'Beijing West' is 'Beijingxi', 'Shenyangbei' is
        # 'Shenyang North'
        for other in _direction_forms(key):
            if other in self._by_key:
                return self._by_key[other]
        # a unique prefix match ('Sinuiju' for 'Sinŭiju Ch'ŏngnyŏn')
        prefixed = {st.node: st for k, st in self._by_key.items() if k.startswith(key + " ")}
        if len(prefixed) == 1:
            return next(iter(prefixed.values()))
        close = difflib.get_close_matches(key, list(self._by_key), n=5, cutoff=0.6)
        labels = sorted({self._by_key[c].label for c in close})
        hint = f"; closest: {', '.join(labels)}" if labels else ""
        # a real station may lie outside the data: say where to see what the network covers
        msg = (f"unknown station {name!r}{hint} (not in this network: data/rail/README.md says "
               "what the bundled one covers)")
        raise StationNotFoundError(msg)

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, aliases: dict[str, str] | None = None
                   ) -> StationIndex:
        """Build the index from the station nodes of a network graph."""
        stations = []
        for node, data in graph.nodes(data=True):
            if data.get("railway") != "station" or not data.get("name"):
                continue
            km = data.get("railway:position")
            stations.append(Station(
                node=node, name=str(data["name"]), name_en=data.get("name:en"),
                lat=float(data["y"]), lon=float(data["x"]),
                km=float(km) if km not in (None, "") else None,
                country=data.get("country"),
            ))
        # station-table stations first, so that their names win over OSM points
        stations.sort(key=lambda s: (graph.nodes[s.node].get("trainsim:station_priority") is None,
                                     s.node))
        return cls(stations, aliases)


def read_aliases(path: Path) -> dict[str, str]:
    """Read ``alias,station,reason`` rows."""
    return {row["alias"]: row["station"] for row in read_csv_rows(path, ("alias", "station"))}
