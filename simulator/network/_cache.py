"""The parsed network on disk: numpy arrays plus JSON, never pickle.

A cache file is a zip of ``.npy`` arrays (numpy's ``.npz`` layout) read with
``allow_pickle=False``: it holds numbers and UTF-8 JSON text only, so a crafted file can at worst
be refused, never run code. Attribute values are dictionary-encoded (a JSON list of distinct
values plus an int32 code per node or edge). The file states the snapshot's SHA-256 and the code's
``CACHE_VERSION``; a file for another snapshot or version, of the wrong shape, or unreadable is
refused with the reason, and the caller rebuilds it.

The same format is the bundled ``data/rail/<name>.graph.npz`` that ``make snapshot`` writes next to
the XML, so that a clean checkout never parses the XML.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import shapely

from simulator._io import atomic_path
from simulator.errors import NetworkError

__all__ = ["CACHE_VERSION", "CacheError", "read_cache", "write_cache"]

#: bump when the parsed form (graph attributes or derived arrays) changes
CACHE_VERSION = "6"
MAGIC = "trainsim-network-cache"
#: fixed zip member time: the same graph gives the same bytes
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class CacheError(NetworkError):
    """A cache file is unusable (the reason says why); it is rebuilt, never trusted."""


def _encode(values: list[Any]) -> tuple[list[Any], np.ndarray]:
    """Dictionary-encode values (``_ABSENT`` → code -1)."""
    uniques: list[Any] = []
    seen: dict[str, int] = {}
    codes = np.full(len(values), -1, dtype=np.int32)
    for i, v in enumerate(values):
        if v is _ABSENT:
            continue
        key = json.dumps(_jsonable(v), sort_keys=True, ensure_ascii=False)
        if key not in seen:
            seen[key] = len(uniques)
            uniques.append(_jsonable(v))
        codes[i] = seen[key]
    return uniques, codes


_ABSENT = object()
#: edge attributes that are sets (JSON keeps them as sorted lists): read back as frozensets
_SET_ATTRS = frozenset({"gauges"})


def _jsonable(v: Any) -> Any:
    if isinstance(v, (frozenset, set)):
        return sorted(_jsonable(x) for x in v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def write_cache(path: Path, graph: nx.MultiDiGraph, *, snapshot_sha256: str,
                arrays: dict[str, np.ndarray] | None = None) -> None:
    """Write ``graph`` (and derived per-edge ``arrays``, in edge order) atomically."""
    nodes = list(graph.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    out: dict[str, np.ndarray] = {
        "node_id": np.asarray(nodes, dtype=np.int64),
        "node_x": np.asarray([graph.nodes[n]["x"] for n in nodes], dtype=np.float64),
        "node_y": np.asarray([graph.nodes[n]["y"] for n in nodes], dtype=np.float64),
    }
    node_keys = sorted({k for _, d in graph.nodes(data=True) for k in d} - {"x", "y"})
    meta_nodes: dict[str, list[Any]] = {}
    for k in node_keys:
        uniques, codes = _encode([d.get(k, _ABSENT) for _, d in graph.nodes(data=True)])
        meta_nodes[k] = uniques
        out[f"node_attr/{k}"] = codes
    edges = list(graph.edges(keys=True, data=True))
    out["edge_u"] = np.asarray([pos[u] for u, _, _, _ in edges], dtype=np.int64)
    out["edge_v"] = np.asarray([pos[v] for _, v, _, _ in edges], dtype=np.int64)
    out["edge_key"] = np.asarray([k for _, _, k, _ in edges], dtype=np.int64)
    out["edge_length"] = np.asarray([d["length"] for *_, d in edges], dtype=np.float64)
    coords: list[np.ndarray] = []
    counts = np.zeros(len(edges), dtype=np.int64)
    for i, (*_, d) in enumerate(edges):
        geom = d.get("geometry")
        if geom is not None:
            c = np.asarray(geom.coords, dtype=np.float64)[:, :2]
            coords.append(c)
            counts[i] = len(c)
    out["geom_count"] = counts
    out["geom_xy"] = np.concatenate(coords) if coords else np.zeros((0, 2))
    edge_keys = sorted({k for *_, d in edges for k in d} - {"length", "geometry"})
    meta_edges: dict[str, list[Any]] = {}
    for k in edge_keys:
        uniques, codes = _encode([d.get(k, _ABSENT) for *_, d in edges])
        meta_edges[k] = uniques
        out[f"edge_attr/{k}"] = codes
    for name, arr in (arrays or {}).items():
        if len(arr) != len(edges):
            msg = f"derived array {name} has {len(arr)} rows for {len(edges)} edges"
            raise ValueError(msg)
        out[f"derived/{name}"] = np.asarray(arr)
    meta = {
        "magic": MAGIC, "version": CACHE_VERSION, "snapshot_sha256": snapshot_sha256,
        "graph": _jsonable(dict(graph.graph)), "nodes": len(nodes), "edges": len(edges),
        "node_attrs": meta_nodes, "edge_attrs": meta_edges,
        "derived": sorted(arrays or {}),
    }
    out["meta"] = np.frombuffer(json.dumps(meta, ensure_ascii=False, sort_keys=True)
                                .encode("utf-8"), dtype=np.uint8)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(out):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(out[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=6)


def read_meta(path: Path) -> dict[str, Any]:
    """The JSON header of a cache file (raises :class:`CacheError`)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta: dict[str, Any] = json.loads(bytes(z["meta"]).decode("utf-8"))
    except Exception as exc:  # any failure to read means: not a usable cache
        msg = f"unreadable ({exc.__class__.__name__}: {exc})"
        raise CacheError(msg) from None
    if not isinstance(meta, dict) or meta.get("magic") != MAGIC:
        msg = "not a trainsim network cache"
        raise CacheError(msg)
    return meta


def read_cache(path: Path, *, snapshot_sha256: str
               ) -> tuple[nx.MultiDiGraph, dict[str, np.ndarray]]:
    """Read a cache written by :func:`write_cache` for this snapshot and code version.

    Raises
    ------
    CacheError
        Why the file cannot be used (unreadable, another snapshot or version, wrong shape).
    """
    meta = read_meta(path)
    if meta.get("version") != CACHE_VERSION:
        msg = f"written by cache version {meta.get('version')!r}, this code reads {CACHE_VERSION!r}"
        raise CacheError(msg)
    if meta.get("snapshot_sha256") != snapshot_sha256:
        msg = "made from another snapshot"
        raise CacheError(msg)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        return _build(meta, arrays)
    except CacheError:
        raise
    except Exception as exc:  # wrong shapes, codes out of range, bad JSON types …
        msg = f"wrong shape ({exc.__class__.__name__}: {exc})"
        raise CacheError(msg) from None


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise CacheError(f"wrong shape: {what}")


def _build(meta: dict[str, Any], z: dict[str, np.ndarray]
           ) -> tuple[nx.MultiDiGraph, dict[str, np.ndarray]]:
    n_nodes, n_edges = int(meta["nodes"]), int(meta["edges"])
    node_id, x, y = z["node_id"], z["node_x"], z["node_y"]
    _check(node_id.shape == (n_nodes,) and x.shape == (n_nodes,) and y.shape == (n_nodes,),
           "node arrays")
    _check(n_nodes > 0 and n_edges > 0, "an empty network")
    g = nx.MultiDiGraph(**meta["graph"])
    node_attrs: list[dict[str, Any]] = [{"x": float(a), "y": float(b)}
                                        for a, b in zip(x.tolist(), y.tolist(), strict=True)]
    for k, uniques in meta["node_attrs"].items():
        codes = z[f"node_attr/{k}"]
        _check(codes.shape == (n_nodes,) and int(codes.max(initial=-1)) < len(uniques),
               f"node attribute {k}")
        for i in np.flatnonzero(codes >= 0).tolist():
            node_attrs[i][k] = uniques[codes[i]]
    ids = node_id.tolist()
    g.add_nodes_from(zip(ids, node_attrs, strict=True))
    u, v, key, length = z["edge_u"], z["edge_v"], z["edge_key"], z["edge_length"]
    counts, xy = z["geom_count"], z["geom_xy"]
    for name, arr in (("edge_u", u), ("edge_v", v), ("edge_key", key), ("edge_length", length),
                      ("geom_count", counts)):
        _check(arr.shape == (n_edges,), name)
    _check(int(u.min()) >= 0 and int(u.max()) < n_nodes and int(v.min()) >= 0
           and int(v.max()) < n_nodes, "edge ends")
    _check(bool(np.all(np.isfinite(length))) and bool(np.all(length >= 0)), "edge lengths")
    _check(xy.ndim == 2 and xy.shape[1] == 2 and int(counts.sum()) == len(xy)
           and int(counts.min()) >= 0 and not np.any(counts == 1), "edge geometry")
    edge_attrs: list[dict[str, Any]] = [{"length": float(a)} for a in length.tolist()]
    has_geom = np.flatnonzero(counts > 0)
    if len(has_geom):
        which = np.repeat(np.arange(len(has_geom)), counts[has_geom])
        lines = shapely.linestrings(xy, indices=which)
        for i, line in zip(has_geom.tolist(), lines, strict=True):
            edge_attrs[i]["geometry"] = line
    for k, uniques in meta["edge_attrs"].items():
        if k in _SET_ATTRS:
            _check(all(isinstance(x, list) for x in uniques), f"edge attribute {k}")
            uniques = [frozenset(x) for x in uniques]
        codes = z[f"edge_attr/{k}"]
        _check(codes.shape == (n_edges,) and int(codes.max(initial=-1)) < len(uniques),
               f"edge attribute {k}")
        for i in np.flatnonzero(codes >= 0).tolist():
            edge_attrs[i][k] = uniques[codes[i]]
    g.add_edges_from(zip([ids[i] for i in u.tolist()], [ids[i] for i in v.tolist()],
                         key.tolist(), edge_attrs, strict=True))
    _check(g.number_of_edges() == n_edges, "duplicate edges")
    derived = {}
    for name in meta["derived"]:
        arr = z[f"derived/{name}"]
        _check(arr.shape[:1] == (n_edges,), f"derived array {name}")
        derived[name] = arr
    return g, derived
