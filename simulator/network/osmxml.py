"""Write OpenStreetMap XML (the on-disk form of every rail network trainsim reads).

A small, deterministic writer: nodes and ways accumulate in an :class:`OsmXmlWriter`, and
:meth:`OsmXmlWriter.write` puts them in one (optionally bz2-compressed) ``.osm`` file that
``osmnx.graph_from_xml`` reads. The same input always gives the same bytes, so that a rebuilt
snapshot can be compared with the bundled one.
"""

from __future__ import annotations

import bz2
import gzip
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain, groupby, repeat
from operator import attrgetter, itemgetter
from pathlib import Path
from xml.sax.saxutils import quoteattr

from simulator._io import atomic_path

__all__ = ["OsmNode", "OsmWay", "OsmXmlWriter"]

#: tag keys and values repeat (a network has a few thousand distinct ones in 100,000s of tags)
_quoteattr = lru_cache(maxsize=1 << 16)(quoteattr)

#: a node element without tags and with tags (``_NODE[bool(tag_lines)]``)
_NODE = ('  <node id="{}" lat="{}" lon="{}"/>\n',
         '  <node id="{}" lat="{}" lon="{}">\n{}  </node>\n')
_WAY = '  <way id="{}">\n{}{}  </way>\n'
_ND = '    <nd ref="{}"/>\n'
_TAG = "    <tag k={} v={}/>\n"


@dataclass(slots=True)
class OsmNode:
    """A node: position (WGS84 degrees) and tags."""

    lat: float
    lon: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
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

    def add_nodes(self, lat: Sequence[float], lon: Sequence[float],
                  tags: Iterable[dict[str, str]] | None = None) -> list[int]:
        """Add nodes as :meth:`add_node` would one after the other (same ids, same rounding).

        For bulk input (100,000s of vertices): the nodes are made by ``map``, with no Python
        code run per node. ``lat`` and ``lon`` hold Python numbers (``ndarray.tolist()``).
        """
        ids = list(range(self._next_id, self._next_id - len(lat), -1))
        self._next_id -= len(ids)
        lats, lons = map(round, lat, repeat(7)), map(round, lon, repeat(7))
        if tags is None:
            nodes = map(OsmNode, lats, lons)
        else:
            nodes = map(OsmNode, lats, lons, map(dict, tags))
        self.nodes.update(zip(ids, nodes, strict=True))
        return ids

    def add_way(self, nodes: Sequence[int], tags: dict[str, str], *,
                way_id: int | None = None) -> int:
        """Add a way through ``nodes`` (repeated consecutive nodes dropped).

        Returns
        -------
        int
            The way's id, or 0 when fewer than two distinct nodes remain (nothing is added).
        """
        clean = list(map(itemgetter(0), groupby(nodes)))  # one of each run of equal ids
        if len(clean) < 2:
            return 0
        wid = way_id if way_id is not None else self.new_id()
        self.ways.append(OsmWay(wid, clean, dict(tags)))
        return wid

    def way_node_ids(self) -> set[int]:
        """Ids of the nodes some way uses (only these are written)."""
        return set(chain.from_iterable(map(attrgetter("nodes"), self.ways)))

    def write(self, path: Path) -> None:
        """Write the file atomically; ``.bz2``/``.gz`` names are compressed."""
        data = self._xml().encode("utf-8")
        if path.suffix == ".bz2":
            data = bz2.compress(data, compresslevel=9)
        elif path.suffix == ".gz":
            data = gzip.compress(data, compresslevel=9, mtime=0)  # no time, no name: same bytes
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)

    def _xml(self) -> str:
        used = self.way_node_ids()
        # ids kept from OSM (positive) first, ascending; then the new ones: -1, -2, …
        ids = sorted(filter((0).__le__, used)) + sorted(filter((0).__gt__, used), reverse=True)
        nodes = list(map(self.nodes.__getitem__, ids))
        # the node elements are made by map and str.format alone, no Python code per node (a
        # network has 100,000s); a template ignores the tag lines it has no place for
        node_tags = list(_tag_lines(map(attrgetter("tags"), nodes)))
        nodes_xml = map(str.format, map(_NODE.__getitem__, map(bool, node_tags)), ids,
                        map(attrgetter("lat"), nodes), map(attrgetter("lon"), nodes), node_tags)
        ways_xml = [_WAY.format(w.id, "".join(map(_ND.format, w.nodes)), tags)
                    for w, tags in zip(self.ways, _tag_lines(map(attrgetter("tags"), self.ways)),
                                       strict=True)]
        return "".join([
            "<?xml version='1.0' encoding='UTF-8'?>\n",
            f"<osm version=\"0.6\" generator={_quoteattr(self.generator)}>\n",
            *nodes_xml, *ways_xml, "</osm>\n",
        ])


def _tag_lines(tags: Iterable[dict[str, str]]) -> Iterator[str]:
    """The ``<tag>`` elements of each node or way, sorted by key."""
    return map(_tag_elements, map(tuple, map(dict.items, tags)))


@lru_cache(maxsize=1 << 14)
def _tag_elements(items: tuple[tuple[str, str], ...]) -> str:
    # cached: the ways of one line (and many nodes) carry the very same tags
    return "".join(_TAG.format(_quoteattr(k), _quoteattr(v)) for k, v in sorted(items))
