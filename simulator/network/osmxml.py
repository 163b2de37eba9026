"""Write OpenStreetMap XML (the on-disk form of every rail network trainsim reads).

A small, deterministic writer: nodes and ways accumulate in an :class:`OsmXmlWriter`, and
:meth:`OsmXmlWriter.write` puts them in one (optionally bz2-compressed) ``.osm`` file that
``osmnx.graph_from_xml`` reads. The same input always gives the same bytes, so that a rebuilt
snapshot can be compared with the bundled one.
"""

from __future__ import annotations

import bz2
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

from simulator._io import atomic_path

__all__ = ["OsmNode", "OsmWay", "OsmXmlWriter"]

#: tag keys and values repeat (a network has a few thousand distinct ones in 100,000s of tags)
_quoteattr = lru_cache(maxsize=1 << 16)(quoteattr)


@dataclass
class OsmNode:
    """A node: position (WGS84 degrees) and tags."""

    lat: float
    lon: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class OsmWay:
    """A way: its id, node ids in order, and tags."""

    id: int
    nodes: list[int]
    tags: dict[str, str]


class OsmXmlWriter:
    """Accumulate nodes and ways, then write them as OSM XML.

    New elements get negative ids (``-1, -2, …``), as in JOSM files, so that they never clash with
    real OSM ids kept from a source.

    Parameters
    ----------
    generator
        The ``generator`` attribute of the ``<osm>`` element.
    """

    def __init__(self, *, generator: str = "trainsim") -> None:
        self.generator = generator
        self.nodes: dict[int, OsmNode] = {}
        self.ways: list[OsmWay] = []
        self._next_id = -1

    def new_id(self) -> int:
        """A fresh negative id."""
        i = self._next_id
        self._next_id -= 1
        return i

    def add_node(self, lat: float, lon: float, tags: dict[str, str] | None = None,
                 *, node_id: int | None = None) -> int:
        """Add a node (rounded to 1e-7 degrees, OSM's precision); return its id."""
        nid = node_id if node_id is not None else self.new_id()
        self.nodes[nid] = OsmNode(round(lat, 7), round(lon, 7), dict(tags or {}))
        return nid

    def add_way(self, nodes: Sequence[int], tags: dict[str, str], *,
                way_id: int | None = None) -> int:
        """Add a way through ``nodes`` (repeated consecutive nodes dropped).

        Returns
        -------
        int
            The way's id, or 0 when fewer than two distinct nodes remain (nothing is added).
        """
        clean = [n for i, n in enumerate(nodes) if i == 0 or n != nodes[i - 1]]
        if len(clean) < 2:
            return 0
        wid = way_id if way_id is not None else self.new_id()
        self.ways.append(OsmWay(wid, clean, dict(tags)))
        return wid

    def way_node_ids(self) -> set[int]:
        """Ids of the nodes some way uses (only these are written)."""
        return {n for w in self.ways for n in w.nodes}

    def write(self, path: Path) -> None:
        """Write the file atomically; ``.bz2``/``.gz`` names are compressed."""
        text = io.StringIO()
        self._write_to(text)
        data = text.getvalue().encode("utf-8")
        if path.suffix == ".bz2":
            data = bz2.compress(data, compresslevel=9)
        elif path.suffix == ".gz":
            data = gzip.compress(data, compresslevel=9, mtime=0)  # no time, no name: same bytes
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)

    def _write_to(self, f: IO[str]) -> None:
        quoteattr = _quoteattr
        used = self.way_node_ids()
        f.write("<?xml version='1.0' encoding='UTF-8'?>\n")
        f.write(f"<osm version=\"0.6\" generator={quoteattr(self.generator)}>\n")
        for nid in sorted(used, key=lambda n: (n < 0, abs(n))):
            n = self.nodes[nid]
            if n.tags:
                f.write(f'  <node id="{nid}" lat="{n.lat}" lon="{n.lon}">\n')
                for k, v in sorted(n.tags.items()):
                    f.write(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
                f.write("  </node>\n")
            else:
                f.write(f'  <node id="{nid}" lat="{n.lat}" lon="{n.lon}"/>\n')
        for w in self.ways:
            f.write(f'  <way id="{w.id}">\n')
            for ref in w.nodes:
                f.write(f'    <nd ref="{ref}"/>\n')
            for k, v in sorted(w.tags.items()):
                f.write(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>\n")
            f.write("  </way>\n")
        f.write("</osm>\n")
