"""Rule test files, in the spirit of ``promtool test rules``: events in, alerts expected out.

A test file is a YAML list. An optional ``setup`` item gives defaults for every test after it;
each ``test`` item is one case::

    - setup:
        rules: [large_cash_single]          # rules under test (default: every enabled rule)
        start: "2026-03-03T10:00:00+08:00"  # what relative times count from (a Tuesday)
        rule_items:                         # optional extra pack items for these tests only
          - override: after_hours_access
            overtime: [{operator_id: op-7, start: ..., end: ..., ticket: OT-1}]
    - test: exactly at the threshold
      events:                               # partial events, like a rule's examples
        - {at: 0s, txn_type: withdrawal, channel: counter, amount: "50000.00"}
        - {at: +1d2h, ...}                  # or occurred_at: <ISO time>
      advance: 31m                          # optional: move event time on after the last event
      expect:                               # alerts in time order; [] means none
        - {at: 0s, rule_id: large_cash_single, severity: medium}

``at`` is a signed offset from ``start`` such as ``0s``, ``-1s``, ``+30m``, ``1d2h30m``. An expected
alert names ``at``, ``rule_id`` and any other alert field (``reason``, ``severity``,
``entity_id``, ``event_ids``, ``message``...). Actual alerts are shown with the same fields as the
expectations, so a failure reads as a diff of two short lists.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.errors import EventDecodeError, RulePackError
from monitor.events import Event, decode_event
from monitor.rule_examples import EXAMPLE_DEFAULTS
from monitor.rules.loader import load_rule_texts
from monitor.rules.ruleset import RuleSet
from monitor.rules.source import SourceDoc, parse_rule_text

_OFFSET = re.compile(r"^([+-])?((?:\d+[dhms])+)$")
_PART = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DEFAULT_START = "2026-03-03T10:00:00+08:00"


def parse_offset(value: Any) -> timedelta:
    """``"+1d2h"`` -> 26 hours; ``"-1s"`` -> minus one second; ``0`` -> zero.

    >>> parse_offset("-1s")
    datetime.timedelta(days=-1, seconds=86399)
    >>> parse_offset("1h30m") == timedelta(minutes=90)
    True
    """
    text = str(value).strip().replace(" ", "")
    if text in ("0", "+0", "-0"):
        return timedelta(0)
    match = _OFFSET.match(text)
    if not match:
        raise ValueError(f"expected a time offset like 0s, -1s, +30m or 1d2h, got {value!r}")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(match.group(2)))
    return timedelta(seconds=-seconds if match.group(1) == "-" else seconds)


def format_offset(delta: timedelta) -> str:
    """The canonical form of an offset (``+1d2h``, ``-1s``, ``0s``).

    >>> format_offset(timedelta(hours=26, seconds=1))
    '+1d2h1s'
    """
    seconds = int(delta.total_seconds())
    if seconds == 0:
        return "0s"
    sign, rest = ("-" if seconds < 0 else "+"), abs(seconds)
    out = ""
    for unit, size in _UNITS.items():
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return sign + out


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Setup(_Strict):
    rules: tuple[str, ...] | None = None
    start: AwareDatetime | None = None
    rule_items: list[dict[str, Any]] = Field(default_factory=list)


class Case(_Strict):
    test: str = Field(min_length=1)
    rules: tuple[str, ...] | None = None
    start: AwareDatetime | None = None
    events: list[dict[str, Any]] = Field(min_length=1)
    advance: timedelta | None = None
    expect: list[dict[str, Any]]

    @field_validator("advance", mode="before")
    @classmethod
    def _advance(cls, value: Any) -> Any:
        return None if value is None else parse_offset(value)


@dataclass(frozen=True)
class RuleTestResult:
    file: str
    line: int | None
    name: str
    passed: bool
    diff: str
    """A unified diff of the expected and actual alerts (empty when the test passed)."""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


@dataclass(frozen=True)
class _Prepared:
    case: Case
    line: int | None
    setup: Setup
    setup_line: int | None


def read_test_file(path: str | Path) -> tuple[SourceDoc, list[_Prepared]]:
    """Parse and validate a test file; errors name the file, line and field."""
    name = str(path)
    doc = parse_rule_text(Path(path).read_text(encoding="utf-8"), name)
    setup, setup_line = Setup(), None
    cases: list[_Prepared] = []
    for index, item in enumerate(doc.items):
        line = doc.line_of((index,))
        if not isinstance(item, dict) or len({"setup", "test"} & set(item)) != 1:
            raise RulePackError("each item is '- setup:' or '- test:'", file=name, line=line)
        try:
            if "setup" in item:
                if set(item) != {"setup"}:
                    raise RulePackError("'setup' stands alone in its item", file=name, line=line)
                setup, setup_line = Setup.model_validate(item["setup"]), line
            else:
                cases.append(_Prepared(Case.model_validate(item), line, setup, setup_line))
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            first = min(errors, key=lambda e: e["type"] != "extra_forbidden")
            loc = tuple(first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "extra_forbidden" and loc:
                model = Setup if "setup" in item else Case
                close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                message = f"unknown field {loc[-1]!r}{hint}"
            path_ = (index, "setup", *loc) if "setup" in item else (index, *loc)
            raise RulePackError(
                message,
                file=name,
                line=doc.line_of(path_),
                field=".".join(str(p) for p in loc),
            ) from None
    return doc, cases


def rule_test_files(paths: Sequence[str | Path]) -> list[Path]:
    """The test files of rule folders: ``<folder>/tests/*.yaml``, or test files given directly."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            folder = path / "tests"
            if folder.is_dir():
                out.extend(sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.exists():
            out.append(path)
    return out


def shipped_test_files() -> list[Path]:
    """The test files shipped beside the packs (``monitor/rules/packs/tests``)."""
    return rule_test_files([Path(__file__).parent / "rules" / "packs"])


def run_test_file(
    path: str | Path, texts: Sequence[tuple[str, str]], ruleset: RuleSet | None = None
) -> list[RuleTestResult]:
    """Run every test of a file against the rules loaded from ``texts`` (pack file texts)."""
    try:
        doc, cases = read_test_file(path)
    except RulePackError as exc:
        return [RuleTestResult(exc.file or str(path), exc.line, "(file)", False, str(exc))]
    base = ruleset if ruleset is not None else load_rule_texts(texts)
    cache: dict[int | None, RuleSet] = {}
    results = []
    for prepared in cases:
        try:
            rules = cache.get(prepared.setup_line)
            if rules is None:
                rules = _setup_rules(doc.file, prepared, texts, base)
                cache[prepared.setup_line] = rules
            results.append(_run_case(doc.file, prepared, rules))
        except RulePackError as exc:
            results.append(
                RuleTestResult(doc.file, prepared.line, prepared.case.test, False, str(exc))
            )
    return results


def _setup_rules(
    file: str, prepared: _Prepared, texts: Sequence[tuple[str, str]], base: RuleSet
) -> RuleSet:
    items = prepared.setup.rule_items
    if not items:
        return base
    extra = yaml.safe_dump(items, allow_unicode=True, sort_keys=False)
    return load_rule_texts([*texts, (f"{file}:{prepared.setup_line} (setup)", extra)])


def _run_case(file: str, prepared: _Prepared, ruleset: RuleSet) -> RuleTestResult:
    case = prepared.case
    wanted = case.rules or prepared.setup.rules
    if wanted:
        unknown = sorted(set(wanted) - {r.id for r in ruleset.rules})
        if unknown:
            raise RulePackError(f"no enabled rule {', '.join(unknown)} to test", line=prepared.line)
        ruleset = ruleset.subset(tuple(wanted))
    start = case.start or prepared.setup.start or datetime.fromisoformat(DEFAULT_START)
    events = _events(case, start)
    engine = Engine(ruleset, operations=False)  # the rules alone
    alerts: list[Alert] = []
    for event in events:
        alerts.extend(engine.process(event))
    if case.advance is not None:
        alerts.extend(engine.advance_to(max(e.occurred_at for e in events) + case.advance))
    alerts.extend(engine.flush())
    expected = [_expected_line(e) for e in case.expect]
    named = [k for e in case.expect for k in e if k not in ("at", "rule_id")]
    with_rule = not case.expect or any("rule_id" in e for e in case.expect)
    keys = ["at", *(["rule_id"] if with_rule else []), *dict.fromkeys(named)]
    actual = [_actual_line(a, start, keys) for a in sorted(alerts, key=_order)]
    if sorted(expected) == sorted(actual):
        return RuleTestResult(file, prepared.line, case.test, True, "")
    diff = "\n".join(
        difflib.unified_diff(
            expected, actual, fromfile="expected", tofile="got", lineterm="", n=len(expected)
        )
    )
    if not expected:
        diff += "\n(expected no alert)"
    return RuleTestResult(file, prepared.line, case.test, False, diff)


def _order(alert: Alert) -> tuple[datetime, str]:
    return alert.occurred_at, alert.rule_id


def _events(case: Case, start: datetime) -> list[Event]:
    out = []
    for position, partial in enumerate(case.events, start=1):
        kind = partial.get("kind", "transaction")
        data: dict[str, Any] = {"kind": kind, **EXAMPLE_DEFAULTS.get(kind, {})}
        data["event_id"] = f"e{position}"
        if kind == "transaction":
            data["txn_id"] = f"T{position}"
        data.update({k: v for k, v in partial.items() if k != "at"})
        if "at" in partial:
            data["occurred_at"] = (start + parse_offset(partial["at"])).isoformat()
        elif "occurred_at" not in partial:
            data["occurred_at"] = start.isoformat()
        try:
            out.append(decode_event(json.dumps(data, default=str)))
        except EventDecodeError as exc:
            raise RulePackError(f"test event {position}: {exc.detail}") from None
    return out


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _expected_line(want: dict[str, Any]) -> str:
    parts = [f"at={format_offset(parse_offset(want.get('at', 0)))}"]
    if "rule_id" in want:
        parts.append(f"rule_id={want['rule_id']}")
    parts += [f"{k}={_value(v)}" for k, v in want.items() if k not in ("at", "rule_id")]
    return " ".join(parts)


def _actual_line(alert: Alert, start: datetime, keys: list[str]) -> str:
    data = alert.model_dump(mode="json")
    parts = [f"at={format_offset(alert.occurred_at - start)}"]
    parts += [f"{k}={_value(data.get(k))}" for k in keys if k != "at"]
    return " ".join(parts)
