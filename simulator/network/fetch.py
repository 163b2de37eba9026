"""Download OSM railways online through osmnx (Overpass) into the snapshot's on-disk form."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simulator import settings
from simulator.errors import NetworkError, NoConnectionError
from simulator.network.osmxml import OsmNode, OsmXmlWriter

__all__ = ["RAIL_FILTER", "fetch_railways", "overpass_json_to_osm"]

#: the Overpass filter: main-line railways only (no trams, subways or abandoned track)
RAIL_FILTER = '["railway"~"^(rail|narrow_gauge)$"]'


def _responses(
    *, bbox: tuple[float, float, float, float] | None, place: str | None
) -> Iterator[dict[str, Any]]:
    import osmnx as ox
    from osmnx import _overpass
    from shapely.geometry import box

    ox.settings.useful_tags_way = list(settings.useful_tags_way)
    if bbox is not None:
        west, south, east, north = bbox
        polygon = box(west, south, east, north)
    elif place is not None:
        polygon = ox.geocode_to_gdf(place).union_all()
    else:
        msg = "give a bounding box or a place"
        raise NetworkError(msg)
    yield from _overpass._download_overpass_network(polygon, "all", RAIL_FILTER)


def overpass_json_to_osm(responses: list[dict[str, Any]], out: Path) -> tuple[int, int]:
    """Write Overpass JSON responses as compressed OSM XML; return (nodes, ways)."""
    b = OsmXmlWriter(generator="trainsim network fetch (osmnx/Overpass)")
    ways = 0
    for resp in responses:
        for el in resp.get("elements", []):
            if el.get("type") == "node":
                b.nodes[int(el["id"])] = OsmNode(el["lat"], el["lon"], dict(el.get("tags", {})))
        for el in resp.get("elements", []):
            if el.get("type") == "way" and el.get("nodes"):
                tags = dict(el.get("tags", {}))
                tags.setdefault("source", "osm:overpass")
                b.add_way([int(n) for n in el["nodes"]], tags, way_id=int(el["id"]))
                ways += 1
    if not ways:
        msg = "the download holds no railway ways (check the area)"
        raise NetworkError(msg)
    b.write(out)
    return len(b.nodes), ways


def fetch_railways(
    out: Path,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    place: str | None = None,
    progress: bool = True,
) -> tuple[int, int]:
    """Download railways in a bounding box (west, south, east, north) or a named place.

    Returns
    -------
    (nodes, ways) written to ``out`` (OSM XML, compressed when the name ends in .bz2/.gz).

    Raises
    ------
    NoConnectionError
        When Overpass (or the geocoder) cannot be reached.
    """
    import requests

    responses: list[dict[str, Any]] = []
    try:
        if progress:
            from rich.console import Console

            with Console(stderr=True).status("downloading railways from Overpass…") as status:
                for resp in _responses(bbox=bbox, place=place):
                    responses.append(resp)
                    status.update(f"downloaded {len(responses)} response(s)…")
        else:
            responses = list(_responses(bbox=bbox, place=place))
    except (requests.ConnectionError, requests.Timeout) as exc:
        msg = f"cannot reach the Overpass service ({exc.__class__.__name__}); check the connection"
        raise NoConnectionError(msg) from exc
    return overpass_json_to_osm(responses, out)
