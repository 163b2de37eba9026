"""Download OSM railways online through osmnx (Overpass) into the snapshot's on-disk form.

osmnx is imported only by the functions that download (its import alone takes half a second,
which every other command would pay).
"""

from __future__ import annotations

import socket
import threading
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from shapely.geometry import box

from simulator import settings
from simulator.errors import NetworkError, NoConnectionError
from simulator.network.osmxml import OsmNode, OsmXmlWriter

__all__ = ["RAIL_FILTER", "check_connection", "fetch_railways", "overpass_json_to_osm"]

#: the Overpass filter: main-line railways only (no trams, subways or abandoned track)
RAIL_FILTER = '["railway"~"^(rail|narrow_gauge)$"]'
#: seconds to wait for a connection before saying there is no internet (osmnx itself would wait
#: 60 s for the Overpass status and then its full request timeout)
CONNECT_TIMEOUT_S = 5.0


def check_connection(urls: list[str], *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Open (and close) a TCP connection to each URL's host, or to the proxy that serves it.

    Raises
    ------
    NoConnectionError
        Within about ``timeout`` seconds when a host cannot be resolved or reached.
    """
    proxies = urllib.request.getproxies()
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        proxy = proxies.get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(host):
            p = urllib.parse.urlsplit(proxy if "//" in proxy else f"http://{proxy}")
            host, port = p.hostname or host, p.port or 8080
        problem = _probe(host, port, timeout)
        if problem:
            msg = (f"no internet: cannot reach {host} ({problem}); "
                   "`network fetch` needs a connection (the bundled snapshot works offline)")
            raise NoConnectionError(msg)


def _check_overpass_status(base_url: str, *, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Ask the Overpass status page first: osmnx, when it cannot read it, waits 60 s."""
    url = base_url.rstrip("/") + "/status"
    try:
        response = requests.get(url, timeout=(timeout, 3 * timeout))
    except (requests.ConnectionError, requests.Timeout) as exc:
        msg = (f"no internet: no answer from {url} ({exc.__class__.__name__}); `network fetch` "
               "needs a connection (the bundled snapshot works offline)")
        raise NoConnectionError(msg) from None
    if response.status_code != 200:
        msg = (f"the Overpass service at {base_url} answered HTTP {response.status_code} "
               f"{response.reason}; try again later")
        raise NoConnectionError(msg)


def _probe(host: str, port: int, timeout: float) -> str | None:
    """Why ``host:port`` cannot be connected to, or ``None``. Name resolution has no timeout of
    its own, so it runs in a thread that is given up on after ``timeout``."""
    found: list[Any] = []

    def resolve() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            found.append(exc)

    t = threading.Thread(target=resolve, daemon=True)
    t.start()
    t.join(timeout)
    if not found:
        return f"name lookup timed out after {timeout:g} s"
    if isinstance(found[0], OSError):
        return f"name lookup failed: {found[0].strerror or found[0]}"
    problem = "no address"
    for family, kind, proto, _, address in found[0]:
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(timeout)
                sock.connect(address)
            return None
        except OSError as exc:
            problem = (f"timed out after {timeout:g} s" if isinstance(exc, TimeoutError)
                       else exc.strerror or str(exc))
    return f"connection failed: {problem}"


def _responses(
    *, bbox: tuple[float, float, float, float] | None, place: str | None
) -> Iterator[dict[str, Any]]:
    import osmnx as ox
    from osmnx import _overpass

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
    import osmnx as ox

    check_connection([ox.settings.overpass_url] + ([ox.settings.nominatim_url] if place else []))
    _check_overpass_status(ox.settings.overpass_url)
    responses: list[dict[str, Any]] = []
    try:
        if progress:
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
