"""YAML files read with line numbers, and pydantic validation errors turned into one-line messages.

A scenario author needs to know *where* a file is wrong: ``file:line: field: what was expected``.
PyYAML's node tree has the line of every key; pydantic's error has the path of the field; this
module joins the two.

Reading is bounded, so that no file can exhaust memory or the stack: a file holds at most
:data:`MAX_BYTES`, nests at most :data:`MAX_DEPTH` levels and expands (aliases included) to at most
:data:`MAX_NODES` values. The largest real input, ``scenarios/defaults/operating.yaml``, is about
6 KB, 6 levels deep and a few hundred values, so the limits leave a wide margin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from simulator._io import decode_utf8
from simulator.errors import DataFileError, ScenarioError

__all__ = ["TAG", "line_of", "load_yaml", "validate_model"]

Lines = dict[tuple[Any, ...], int]
M = TypeVar("M", bound=BaseModel)

#: prefix of the tags of pydantic's tagged unions (``Tag(TAG + "inline")``): not a field name, so
#: left out of the field path in messages
TAG = "tag:"

#: largest input file read (bytes)
MAX_BYTES = 1 << 20
#: deepest nesting of lists and mappings
MAX_DEPTH = 32
#: most values a file may expand to, counting every use of an alias (a "billion laughs" stops here)
MAX_NODES = 100_000


class _Limits:
    def __init__(self) -> None:
        self.nodes = 0


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses nesting deeper than :data:`MAX_DEPTH`.

    The composer recurses once per level, so without the bound a deeply nested file would end in
    a ``RecursionError`` instead of a message.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                msg = f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep"
                raise ScenarioError(msg)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct(node: yaml.Node, path: tuple[Any, ...], lines: Lines, limits: _Limits) -> Any:
    limits.nodes += 1
    if limits.nodes > MAX_NODES:
        msg = (f"line {node.start_mark.line + 1}: expands to more than {MAX_NODES:,} values "
               "(aliases repeated over and over?)")
        raise ScenarioError(msg)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                msg = f"line {key_node.start_mark.line + 1}: a key must be a plain value"
                raise ScenarioError(msg)
            key = _scalar(key_node)
            if key in out:
                msg = f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"
                raise ScenarioError(msg)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines, limits)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, limits) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # the safe constructor resolves ints, floats, bools, nulls and dates as PyYAML does
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.MarkedYAMLError as exc:  # an unknown tag such as !!python/object
        msg = f"line {node.start_mark.line + 1}: {exc.problem}"
        raise ScenarioError(msg) from None


def load_yaml(path: Path) -> tuple[Any, Lines]:
    """Read a YAML file; return the data and the line of every key and item.

    Raises
    ------
    DataFileError
        The file is missing, unreadable or not UTF-8 text.
    ScenarioError
        The file is larger than :data:`MAX_BYTES`, not valid YAML, nested deeper than
        :data:`MAX_DEPTH` or expands to more than :data:`MAX_NODES` values.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        msg = f"{path}: file not found"
        raise DataFileError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a folder, not a YAML file"
        raise DataFileError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read ({exc.__class__.__name__}: {exc.strerror or exc})"
        raise DataFileError(msg) from None
    if len(raw) > MAX_BYTES:
        msg = f"{path}: larger than {MAX_BYTES >> 20} MB; a scenario or data file is a few KB"
        raise ScenarioError(msg)
    text = decode_utf8(raw, path)
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
    except ScenarioError as exc:
        msg = f"{path}: {exc}"
        raise ScenarioError(msg) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        msg = f"{path}{where}: malformed YAML: {exc.problem}"
        raise ScenarioError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path}: malformed YAML: {exc}"
        raise ScenarioError(msg) from None
    finally:
        loader.dispose()
    if node is None:
        msg = f"{path}: the file is empty"
        raise ScenarioError(msg)
    lines: Lines = {}
    try:
        data = _construct(node, (), lines, _Limits())
    except ScenarioError as exc:
        msg = f"{path}: {exc}"
        raise ScenarioError(msg) from None
    return data, lines


def line_of(lines: Lines, loc: tuple[Any, ...]) -> int | None:
    """The line of the longest prefix of ``loc`` that the file has."""
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def validate_model(model: type[M], data: Any, lines: Lines, path: Path, *,
                   context: dict[str, Any] | None = None) -> M:
    """Validate ``data`` against ``model``; raise a one-line :class:`ScenarioError` on failure."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(x for x in first["loc"] if not (isinstance(x, str) and x.startswith(
            ("function-", "tagged-union", TAG))))
        line = line_of(lines, loc)
        field = ".".join(str(x) for x in loc) or "(top level)"
        text = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if first["type"] == "extra_forbidden":
            text = "unknown field"
        elif first["type"] == "missing":
            text = "required field is missing"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        where = f"{path}:{line}" if line else f"{path}"
        msg = f"{where}: field '{field}': {text}{more}"
        raise ScenarioError(msg) from None
