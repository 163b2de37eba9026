"""YAML files read with line numbers, and pydantic validation errors turned into one-line messages.

A scenario author needs to know *where* a file is wrong: ``file:line: field: what was expected``.
PyYAML's node tree (built here from libyaml's events) has the line of every key; pydantic's error
has the path of the field; this module joins the two.

Reading is bounded, so that no file can exhaust memory or the stack: a file holds at most
:data:`MAX_BYTES`, nests lists and mappings at most :data:`MAX_DEPTH` deep (aliases expanded)
and expands to at most :data:`MAX_NODES` values. The largest real input,
``scenarios/defaults/calibrated.yaml``, is about 100 KB, 5 deep and 10,000 values
(``operating.yaml``: 6 KB, 5 deep, a few hundred values), so the limits leave a wide margin.
"""

from __future__ import annotations

import re
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
        self.constructor = yaml.constructor.SafeConstructor()


_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_FLOAT = "tag:yaml.org,2002:float"

#: libyaml's parser where PyYAML was built with it (ten times faster), else PyYAML's own
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(loader: Any) -> yaml.Node | None:
    """The document's node tree from the parser's events, built without recursion, so that
    nesting deeper than :data:`MAX_DEPTH` is a message (libyaml's own composer would recurse
    on the C stack, and PyYAML's into a ``RecursionError``)."""
    loader.get_event()  # the stream's start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # the document's start
    anchors: dict[str, yaml.Node] = {}
    # the collections open around the next node, each with a mapping's key awaiting its value
    open_: list[tuple[yaml.Node, list[yaml.Node]]] = []
    root: yaml.Node | None = None
    while root is None:
        event = loader.get_event()
        if isinstance(event, yaml.CollectionEndEvent):
            node, _ = open_.pop()
            node.end_mark = event.end_mark
            if not open_:
                root = node
            continue
        node = _node_of(loader, event, anchors)
        if isinstance(event, yaml.AliasEvent) and any(node is n for n, _ in open_):
            msg = (f"line {_line(event)}: the alias *{event.anchor} refers to the "
                   "list or mapping it is inside (a value cannot contain itself)")
            raise ScenarioError(msg)
        if open_:
            parent, key = open_[-1]
            if isinstance(parent, yaml.SequenceNode):
                parent.value.append(node)
            elif key:
                parent.value.append((key.pop(), node))
            else:
                key.append(node)
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                msg = (f"line {_line(event)}: nested more than {MAX_DEPTH} "
                       "levels deep")
                raise ScenarioError(msg)
            open_.append((node, []))
        elif not open_:
            root = node
    loader.get_event()  # the document's end
    if not loader.check_event(yaml.StreamEndEvent):
        event = loader.get_event()
        msg = f"line {_line(event)}: expected a single document in the file"
        raise ScenarioError(msg)
    return root


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _node_of(loader: Any, event: Any, anchors: dict[str, yaml.Node]) -> yaml.Node:
    """The node an event starts (PyYAML's composer, one event at a time)."""
    if isinstance(event, yaml.AliasEvent):
        if event.anchor not in anchors:
            msg = f"line {_line(event)}: found undefined alias {event.anchor!r}"
            raise ScenarioError(msg)
        return anchors[event.anchor]
    node: yaml.Node
    tag = event.tag
    start: Any = event.start_mark  # libyaml's marks or PyYAML's: the same fields
    end: Any = event.end_mark
    if isinstance(event, yaml.ScalarEvent):
        if tag is None and event.implicit[0] and _PLAIN_DECIMAL.fullmatch(event.value):
            tag = _FLOAT  # what PyYAML's resolver says, without its slow pattern (a calibration
            # file holds thousands of samples)
        elif tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, start, end, style=event.style)
    else:
        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) \
            else yaml.MappingNode
        if tag is None or tag == "!":
            tag = loader.resolve(kind, None, event.implicit)
        node = kind(tag, [], start, None, flow_style=event.flow_style)
    if event.anchor is not None:
        if event.anchor in anchors:
            msg = f"line {_line(event)}: found duplicate anchor {event.anchor!r}"
            raise ScenarioError(msg)
        anchors[event.anchor] = node
    return node


def _construct(node: yaml.Node, path: tuple[Any, ...], lines: Lines, limits: _Limits) -> Any:
    if len(path) > MAX_DEPTH:  # aliases can stack lists and mappings deeper than the file does
        msg = (f"line {node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep "
               "(through aliases)")
        raise ScenarioError(msg)
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
            key = _scalar(key_node, limits)
            if key in out:
                msg = f"line {key_node.start_mark.line + 1}: duplicate key {key!r}"
                raise ScenarioError(msg)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, (*path, key), lines, limits)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines, limits) for i, item in enumerate(node.value)]
    return _scalar(node, limits)


def _scalar(node: yaml.Node, limits: _Limits) -> Any:
    # the safe constructor resolves ints, floats, bools, nulls and dates as PyYAML does
    try:
        return limits.constructor.construct_object(node, deep=True)
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
    loader = _Loader(text)
    try:
        node = _compose(loader)
    except ScenarioError as exc:
        msg = f"{path}: {exc}"
        raise ScenarioError(msg) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if exc.problem == "exceeded maximum nesting depth" and mark is not None:
            # libyaml's own bound (1,000 levels), met before this module's
            msg = f"{path}: line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep"
            raise ScenarioError(msg) from None
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem
        if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            problem = f"{problem} (a tab: indent with spaces)"
        msg = f"{path}{where}: malformed YAML: {problem}"
        raise ScenarioError(msg) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, controls)
        line = text[:exc.position].count("\n") + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        msg = f"{path}:{line}: malformed YAML: character U+{code:04X} is not allowed"
        raise ScenarioError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path}: malformed YAML: {' '.join(str(exc).split())}"
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


def _char_at(text: str, line: int, column: int) -> str:
    rows = text.split("\n")
    return rows[line][column] if line < len(rows) and column < len(rows[line]) else ""


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
