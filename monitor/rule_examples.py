"""Running each rule's ``examples`` through the real engine: the rule's own unit tests.

Example events are partial: unspecified fields take the defaults below (a Tuesday morning at
branch BR001), ``event_id`` defaults to ``ex-1``, ``ex-2``... in order. After the events, the
engine advances by ``advance`` (if given) and flushes, so deadlines can fire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.events import Event, decode_event
from monitor.rules.ruleset import RuleSet
from monitor.rules.schema import Example

EXAMPLE_DEFAULTS: dict[str, dict[str, Any]] = {
    "transaction": {
        "occurred_at": "2026-03-03T10:00:00+08:00",
        "branch_id": "BR001",
        "txn_id": "T1",
        "account_id": "6222020200001234",
        "account_type": "individual",
        "amount": "1000.00",
        "currency": "CNY",
        "direction": "debit",
        "channel": "mobile",
        "txn_type": "transfer",
        "initiator_id": "op-t1",
        "status": "posted",
    },
    "operator_action": {
        "occurred_at": "2026-03-03T10:00:00+08:00",
        "branch_id": "BR001",
        "operator_id": "op-s1",
        "role": "supervisor",
        "action": "login",
        "terminal_id": "TERM-01",
        "outcome": "success",
    },
}


@dataclass(frozen=True)
class ExampleResult:
    rule_id: str
    index: int
    desc: str
    passed: bool
    detail: str
    alerts: tuple[Alert, ...]
    where: str = ""
    """``file:line`` of the example in its rule file (empty if unknown)."""


def example_events(example: Example) -> list[Event]:
    """Fill an example's partial events with the defaults and validate them."""
    import json

    events = []
    for position, partial in enumerate(example.events, start=1):
        kind = partial.get("kind", "transaction")
        data = {"kind": kind, "event_id": f"ex-{position}", **EXAMPLE_DEFAULTS.get(kind, {})}
        data.update(partial)
        events.append(decode_event(json.dumps(data, default=str)))
    return events


def run_example(ruleset: RuleSet, rule_id: str, index: int, example: Example) -> ExampleResult:
    """Run one example of one rule; the result says whether the expected alerts came out."""
    try:
        events = example_events(example)
    except (ValidationError, ValueError) as exc:
        return ExampleResult(rule_id, index, example.desc, False, f"bad example event: {exc}", ())
    engine = Engine(ruleset.only(rule_id), operations=False)
    alerts: list[Alert] = []
    for event in events:
        alerts.extend(engine.process(event))
    if example.advance is not None:
        last = max(e.occurred_at for e in events)
        alerts.extend(engine.advance_to(last + example.advance))
    alerts.extend(engine.flush())
    return ExampleResult(
        rule_id, index, example.desc, *_compare(alerts, example.expect), alerts=tuple(alerts)
    )


def _compare(alerts: list[Alert], expected: list[dict[str, Any]]) -> tuple[bool, str]:
    if len(alerts) != len(expected):
        got = [f"{a.reason or a.category}:{list(a.event_ids)}" for a in alerts]
        return False, f"expected {len(expected)} alert(s), got {len(alerts)} {got}"
    for position, (alert, want) in enumerate(zip(alerts, expected, strict=True)):
        data = alert.model_dump(mode="json")
        for key, value in want.items():
            actual = data.get(key)
            if isinstance(actual, list):
                value = list(value) if isinstance(value, list | tuple) else value
            if actual != value:
                return False, f"alert {position + 1}: {key} is {actual!r}, expected {value!r}"
    return True, "ok"


def run_examples(ruleset: RuleSet) -> list[ExampleResult]:
    """Run every example of every enabled rule, in load order."""
    results = []
    for rule in ruleset.rules:
        origin = ruleset.origins.get(rule.id)
        for index, example in enumerate(ruleset.specs[rule.id].examples):
            result = run_example(ruleset, rule.id, index, example)
            if origin is not None:
                lines = origin.example_lines
                line = lines[index] if index < len(lines) else origin.line
                where = f"{origin.file}:{line}" if line is not None else origin.file
                result = replace(result, where=where)
            results.append(result)
    return results


def _reaches(ruleset: RuleSet, rule_id: str, example: Example) -> bool | None:
    """Whether any event of ``example`` passes the rule's condition (None: bad events)."""
    rule = next((r for r in ruleset.rules if r.id == rule_id), None)
    if rule is None:
        return None
    try:
        events = example_events(example)
    except (ValidationError, ValueError):
        return None
    return any(rule.accepts(e) and rule.predicate(e) for e in events)


def example_warnings(ruleset: RuleSet, baseline: RuleSet) -> list[str]:
    """Examples that no longer exercise their rule: under ``baseline`` (the shipped packs) some
    event of the example passed the rule's condition, under ``ruleset`` none does, so the
    example now passes or fails for a reason it was not written for (an exception macro, a list
    or a condition changed)."""
    out = []
    for rule in ruleset.rules:
        if rule.id not in baseline.specs:
            continue
        origin = ruleset.origins.get(rule.id)
        for index, example in enumerate(ruleset.specs[rule.id].examples):
            if (
                _reaches(baseline, rule.id, example)
                and _reaches(ruleset, rule.id, example) is False
            ):
                where = ""
                if origin is not None and index < len(origin.example_lines):
                    where = f"{origin.file}:{origin.example_lines[index]}: "
                name = example.desc or f"#{index + 1}"
                out.append(
                    f"warning: {where}rule '{rule.id}': example {index + 1} ({name}) no longer "
                    "exercises the rule: none of its events passes the rule's condition any more"
                )
    return out
