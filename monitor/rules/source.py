"""Reading rule files: YAML to plain data, remembering the line of every node.

PyYAML's composer gives every node a start mark; we build the Python value and, beside it, a map
from the path of each node (``(3, "condition", "all", 1)``) to its 1-based line, so that any later
validation error can be reported at the right line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from monitor.errors import RulePackError

Path = tuple[str | int, ...]


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
            key = yaml.safe_load(yaml.serialize(key_node)) if key_node.tag else key_node.value
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
    # Scalars: let the safe constructor resolve the tag (int, float, bool, null, str...).
    return yaml.SafeLoader(yaml.serialize(node)).get_single_data()


def parse_rule_text(text: str, file: str) -> SourceDoc:
    """Parse YAML text into a :class:`SourceDoc`; errors name the file and line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
        raise RulePackError(f"invalid YAML: {exc.problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise RulePackError(f"invalid YAML: {exc}", file=file) from None
    if root is None:
        return SourceDoc(file=file, items=[], text=text)
    lines: dict[Path, int] = {}
    try:
        data = _build(root, (), lines)
    except RulePackError as exc:
        raise RulePackError(exc.problem, file=file, line=exc.line, field=exc.field) from None
    if not isinstance(data, list):
        raise RulePackError(
            "a rule file is a YAML list of items (- rule:, - macro:, - list:, - pack:)",
            file=file,
            line=1,
        )
    return SourceDoc(file=file, items=data, lines=lines, text=text)
