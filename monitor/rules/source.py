"""Reading rule files: YAML to plain data, remembering the line of every node.

PyYAML's composer gives every node a start mark; we build the Python value and, beside it, a map
from the path of each node (``(3, "condition", "all", 1)``) to its 1-based line, so that any later
validation error can be reported at the right line.

Rule files are untrusted input (whoever can edit them is not necessarily whoever runs riskmon):

- a file over :data:`MAX_RULE_FILE_BYTES` is refused before it is parsed;
- anchors and aliases (``&a``/``*a``, merge keys) are refused, so a "billion laughs" file fails at
  its first alias instead of expanding without bound;
- only the plain YAML types (null, bool, int, float, str, timestamp, map, seq) are built: any
  other tag (``!!python/object``, ``!include``, ``!!binary``...) is refused, so no construct can
  import, execute or open anything;
- nesting deeper than :data:`MAX_DEPTH` is refused.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Any

import yaml

from monitor.errors import RulePackError

Path = tuple[str | int, ...]

MAX_RULE_FILE_BYTES = 256 * 1024
"""Largest rule file accepted (the shipped packs are 2-14 KB)."""
MAX_DEPTH = 32
"""Deepest nesting of maps and lists accepted in a rule file."""

_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("null", "bool", "int", "float", "str", "timestamp", "map", "seq")
)


def read_rule_file(path: FilePath) -> str:
    """The text of a rule file: size-limited, UTF-8; every failure is a :class:`RulePackError`."""
    try:
        if path.is_dir():
            raise RulePackError("is a folder, not a rule file", file=str(path))
        with path.open("rb") as handle:
            data = handle.read(MAX_RULE_FILE_BYTES + 1)
    except OSError as exc:
        raise RulePackError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    if len(data) > MAX_RULE_FILE_BYTES:
        raise RulePackError(
            f"larger than the {MAX_RULE_FILE_BYTES:,}-byte limit for rule files", file=str(path)
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RulePackError(
            f"not a UTF-8 text file (byte {exc.start}: {data[exc.start : exc.start + 1]!r})",
            file=str(path),
        ) from None


class _RuleComposer(yaml.SafeLoader):
    """The safe loader's composer, refusing anchors, aliases, foreign tags and deep nesting."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise RulePackError(f"YAML aliases (*{event.anchor}) are not allowed", line=line)
        if getattr(event, "anchor", None) is not None:
            raise RulePackError(f"YAML anchors (&{event.anchor}) are not allowed", line=line)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise RulePackError(f"nested deeper than {MAX_DEPTH} levels", line=line)
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and node.tag not in _PLAIN_TAGS:
            raise RulePackError(f"YAML tag {node.tag!r} is not allowed", line=line)
        return node


@dataclass(frozen=True)
class SourceDoc:
    """A parsed rule file: its items and the line of every node."""

    file: str
    items: list[Any]
    lines: dict[Path, int] = field(default_factory=dict)
    text: str = ""

    def line_of(self, path: Path) -> int | None:
        """The line of ``path`` or of its nearest ancestor that has one."""
        probe = path
        while True:
            if probe in self.lines:
                return self.lines[probe]
            if not probe:
                return None
            probe = probe[:-1]


def _build(node: yaml.Node, path: Path, lines: dict[Path, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise RulePackError(
                    "a key must be a plain value, not a list or map",
                    line=key_node.start_mark.line + 1,
                )
            key = _scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise RulePackError(
                    f"duplicate key '{key}'", line=key_node.start_mark.line + 1, field=key
                )
            out[key] = _build(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, i), lines) for i, child in enumerate(node.value)]
    return _scalar(node)


_SCALARS = yaml.SafeLoader("")


def _scalar(node: yaml.Node) -> Any:
    """A scalar through the safe constructor of its (already checked) plain tag."""
    try:
        return _SCALARS.construct_object(node, deep=True)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:
        # e.g. a timestamp-shaped value with month 13
        raise RulePackError(
            f"invalid value {node.value!r}: {exc}", line=node.start_mark.line + 1
        ) from None
    finally:
        _SCALARS.constructed_objects.clear()


def parse_rule_text(text: str, file: str) -> SourceDoc:
    """Parse YAML text into a :class:`SourceDoc`; errors name the file and line.

    The same text of the same file is parsed once (PyYAML's pure-Python composer is most of
    the cost of loading rules, and the shipped packs are loaded on every validation, rule test
    and hot reload); each call gets its own copy of the values.
    """
    parsed, parsed_lines = _parse_once(text, file)
    data, lines = copy.deepcopy(parsed), dict(parsed_lines)
    if data is None:
        return SourceDoc(file=file, items=[], text=text)
    if not isinstance(data, list):
        raise RulePackError(
            "a rule file is a YAML list of items (- rule:, - macro:, - list:, - pack:)",
            file=file,
            line=1,
        )
    return SourceDoc(file=file, items=data, lines=lines, text=text)


def load_safe_yaml(text: str, file: str) -> Any:
    """Any YAML document under the rule-file limits (no aliases, plain types only).

    >>> load_safe_yaml("{base: CNY, rates: {USD: 7.1}}", "rates.yaml")
    {'base': 'CNY', 'rates': {'USD': 7.1}}
    """
    return _parse(text, file)[0]


@lru_cache(maxsize=64)
def _parse_once(text: str, file: str) -> tuple[Any, dict[Path, int]]:
    """:func:`_parse`, remembered for the last 64 texts that parsed (never handed out as is)."""
    return _parse(text, file)


def _parse(text: str, file: str) -> tuple[Any, dict[Path, int]]:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_RULE_FILE_BYTES:
        raise RulePackError(
            f"larger than the {MAX_RULE_FILE_BYTES:,}-byte limit for rule files", file=file
        )
    try:
        root = yaml.compose(text, Loader=_RuleComposer)
    except RulePackError as exc:
        raise RulePackError(exc.problem, file=file, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise RulePackError(f"invalid YAML: {exc.problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise RulePackError(f"invalid YAML: {exc}", file=file) from None
    lines: dict[Path, int] = {}
    if root is None:
        return None, lines
    try:
        return _build(root, (), lines), lines
    except RulePackError as exc:
        raise RulePackError(exc.problem, file=file, line=exc.line, field=exc.field) from None
