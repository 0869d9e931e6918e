"""The engine: validated events in, alerts out. Pure, synchronous, deterministic in event time.

Conventions
-----------
- One *stage* per entity kind (``transaction``, ``account``, ``operator``). Each stage keys an event
  by its entity and runs the rules of that entity on that key's state value.
- State lives in a ``MutableMapping`` per stage (a dict in replay, a faust Table in the worker).
  Values are JSON-shaped and immutable by convention: always ``state[key] = new``.
- Each stage keeps a watermark: the largest event time it has seen minus the allowed lateness.
  Deadlines (a review that must arrive within 30 minutes) fire when the watermark passes them.
- Nothing here reads the wall clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from monitor.alerts import Alert, Language
from monitor.deadlines import DeadlineQueue
from monitor.events import OperatorAction, Transaction
from monitor.findings import Finding
from monitor.render import AlertRenderer
from monitor.rules.compiled import CompiledRule
from monitor.rules.ruleset import RuleSet

Event = Transaction | OperatorAction
StateMap = MutableMapping[str, Any]
STAGES = ("transaction", "account", "operator")
META_KEY = "__meta__"


def _key_transaction(event: Event) -> str | None:
    if isinstance(event, Transaction):
        return event.txn_id
    return event.target_txn_id if event.action == "approve" else None


def _key_account(event: Event) -> str | None:
    return event.account_id if isinstance(event, Transaction) else None


def _key_operator(event: Event) -> str | None:
    return event.operator_id if isinstance(event, OperatorAction) else None


KEY_FUNCTIONS: dict[str, Callable[[Event], str | None]] = {
    "transaction": _key_transaction,
    "account": _key_account,
    "operator": _key_operator,
}


def partition_key(partition: int, name: str) -> str:
    """A state key that belongs to a partition rather than an entity (``#<partition>:<name>``).

    Stages that keep per-partition state (a model shared by every entity of a partition) use it;
    the worker's tables send such keys to that partition's changelog.
    """
    return f"#{partition}:{name}"


class KeyedStage(Protocol):
    """What the engine and the worker need from a stage: rules or models of one entity kind."""

    name: str

    def key_for(self, event: Event) -> str | None: ...

    def process(
        self, key: str, event: Event, state: StateMap, partition: int = 0
    ) -> list[Finding]: ...

    def expire(self, key: str, watermark: float, state: StateMap) -> list[Finding]: ...

    def next_deadline(self, value: Any) -> float | None: ...


@dataclass
class Stage:
    """The rules of one entity kind, run on one key's state value at a time."""

    name: str
    rules: tuple[CompiledRule, ...]

    def __post_init__(self) -> None:
        self._key = KEY_FUNCTIONS[self.name]

    def key_for(self, event: Event) -> str | None:
        for rule in self.rules:
            if rule.accepts(event):
                return self._key(event)
        return None

    def process(self, key: str, event: Event, state: StateMap, partition: int = 0) -> list[Finding]:
        """Run every rule of the stage on ``event``; writes the new value back (or deletes it)."""
        old = state.get(key)
        value: dict[str, Any] | None = None  # copied on the first change only
        findings: list[Finding] = []
        for rule in self.rules:
            if not rule.accepts(event):
                continue
            rule_id = rule.meta.id
            before = (value if value is not None else old or {}).get(rule_id)
            rule_state, found = rule.on_event(before, key, event)
            if rule_state is not before:
                if value is None:
                    value = dict(old) if old else {}
                _put(value, rule_id, rule_state)
            findings.extend(found)
        if value is not None:
            _write_back(state, key, old, value)
        return findings

    def expire(self, key: str, watermark: float, state: StateMap) -> list[Finding]:
        """Fire every deadline of ``key`` at or before ``watermark``."""
        old = state.get(key)
        if not old:
            return []
        value = dict(old)
        findings: list[Finding] = []
        for rule in self.rules:
            if rule.id in value:
                rule_state, found = rule.on_time(value[rule.id], key, watermark)
                _put(value, rule.id, rule_state)
                findings.extend(found)
        _write_back(state, key, old, value)
        return findings

    def next_deadline(self, value: Any) -> float | None:
        if not value:
            return None
        times = [
            d
            for rule in self.rules
            if rule.id in value and (d := rule.deadline(value[rule.id])) is not None
        ]
        return min(times) if times else None


def _put(value: dict[str, Any], rule_id: str, rule_state: Any) -> None:
    if rule_state is None:
        value.pop(rule_id, None)
    else:
        value[rule_id] = rule_state


def _write_back(state: StateMap, key: str, old: Any, value: dict[str, Any]) -> None:
    if value:
        if value != old:
            state[key] = value
    elif old is not None:
        del state[key]


class Engine:
    """Runs a :class:`RuleSet` over events with state in per-stage mappings.

    Parameters
    ----------
    ruleset
        The compiled rules.
    state
        A mapping from stage name to that stage's state mapping; a fresh dict per stage if omitted.
        Watermarks are kept under ``state["__meta__"]`` so that state carried over between runs
        continues exactly where it stopped.
    lateness
        How far behind the largest event time a stage's watermark stays.
    language, mask
        How alerts are rendered.
    extra_stages
        More keyed stages run after the rule stages, e.g. anomaly models.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        state: MutableMapping[str, StateMap] | None = None,
        *,
        lateness: timedelta = timedelta(minutes=5),
        language: Language = "en",
        mask: bool = True,
        extra_stages: Sequence[KeyedStage] = (),
    ) -> None:
        self.ruleset = ruleset
        self.stages: list[KeyedStage] = [
            Stage(n, ruleset.by_entity(n)) for n in STAGES if ruleset.by_entity(n)
        ]
        self.stages.extend(extra_stages)
        self.state: MutableMapping[str, StateMap] = state if state is not None else {}
        for stage in self.stages:
            self.state.setdefault(stage.name, {})
        meta = self.state.setdefault(META_KEY, {})
        meta.setdefault("watermark", {})
        self.lateness = lateness.total_seconds()
        self.renderer = AlertRenderer(ruleset.pack_hash, language, mask)
        self._timers = [DeadlineQueue() for _ in self.stages]
        for index, stage in enumerate(self.stages):
            for key, value in self.state[stage.name].items():
                self._schedule(index, key, value)

    @property
    def watermarks(self) -> dict[str, float]:
        return dict(self.state[META_KEY]["watermark"])

    def process(self, event: Event) -> list[Alert]:
        """Run one validated event through every stage that keys it."""
        findings: list[Finding] = []
        moment = event.occurred_at.timestamp()
        for index, stage in enumerate(self.stages):
            key = stage.key_for(event)
            if key is None:
                continue
            mapping = self.state[stage.name]
            before = mapping.get(key)
            findings.extend(stage.process(key, event, mapping))
            after = mapping.get(key)
            if after is not before:
                self._schedule(index, key, after)
            findings.extend(self._advance(index, moment - self.lateness))
        return [self.renderer.render(f) for f in findings]

    def advance_to(self, moment: datetime) -> list[Alert]:
        """Move every stage's watermark to ``moment`` (idle advance, or end of input)."""
        findings: list[Finding] = []
        for index in range(len(self.stages)):
            findings.extend(self._advance(index, moment.timestamp()))
        return [self.renderer.render(f) for f in findings]

    def flush(self) -> list[Alert]:
        """End of input: fire deadlines up to the largest event time seen, ignoring lateness."""
        marks = self.state[META_KEY]["watermark"]
        if not marks:
            return []
        last = max(marks.values()) + self.lateness
        findings: list[Finding] = []
        for index in range(len(self.stages)):
            findings.extend(self._advance(index, last))
        return [self.renderer.render(f) for f in findings]

    def pending_deadlines(self) -> dict[str, int]:
        """Keys with a pending deadline, per stage (the deadline queues' sizes; no state scan)."""
        return {
            stage.name: len(queue) for stage, queue in zip(self.stages, self._timers, strict=True)
        }

    def _schedule(self, index: int, key: str, value: Any) -> None:
        self._timers[index].schedule(key, self.stages[index].next_deadline(value))

    def _advance(self, index: int, watermark: float) -> list[Finding]:
        stage = self.stages[index]
        marks = self.state[META_KEY]["watermark"]
        if watermark <= marks.get(stage.name, float("-inf")):
            return []
        marks[stage.name] = watermark
        self.state[META_KEY]["watermark"] = marks  # written back for table-backed state
        mapping = self.state[stage.name]
        findings: list[Finding] = []
        for key in self._timers[index].pop_due(watermark):
            findings.extend(stage.expire(key, watermark, mapping))
            self._schedule(index, key, mapping.get(key))
        return findings
