"""YAML files read with line numbers, and pydantic validation errors turned into one-line messages.

A scenario author needs to know *where* a file is wrong: ``file:line: field: what was expected``.
PyYAML's node tree has the line of every key; pydantic's error has the path of the field; this
module joins the two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from simulator.errors import DataFileError, ScenarioError

__all__ = ["line_of", "load_yaml", "validate_model"]

Lines = dict[tuple[Any, ...], int]
M = TypeVar("M", bound=BaseModel)


def _construct(node: yaml.Node, path: tuple[Any, ...], lines: Lines) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key in out:
                msg = f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"
                raise ScenarioError(msg)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    # the safe constructor resolves ints, floats, bools, nulls and dates as PyYAML does
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


def load_yaml(path: Path) -> tuple[Any, Lines]:
    """Read a YAML file; return the data and the line of every key and item."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        msg = f"{path}: file not found"
        raise DataFileError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read ({exc.__class__.__name__}: {exc})"
        raise DataFileError(msg) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        msg = f"{path}{where}: malformed YAML: {exc.problem}"
        raise ScenarioError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path}: malformed YAML: {exc}"
        raise ScenarioError(msg) from None
    if node is None:
        msg = f"{path}: the file is empty"
        raise ScenarioError(msg)
    lines: Lines = {}
    try:
        data = _construct(node, (), lines)
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
            ("function-", "tagged-union"))))
        line = line_of(lines, loc)
        field = ".".join(str(x) for x in loc) or "(top level)"
        text = first["msg"]
        if first["type"] == "extra_forbidden":
            text = "unknown field"
        elif first["type"] == "missing":
            text = "required field is missing"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        where = f"{path}:{line}" if line else f"{path}"
        msg = f"{where}: field '{field}': {text}{more}"
        raise ScenarioError(msg) from None
