"""The engine: validated events in, alerts out. Pure, synchronous, deterministic in event time.

Conventions
-----------
- One *stage* per entity kind (``transaction``, ``account``, ``operator``). Each stage keys an event
  by its entity and runs the rules of that entity on that key's state value.
- State lives in a ``MutableMapping`` per stage (a dict in replay, a faust Table in the worker).
  Values are JSON-shaped and immutable by convention: always ``state[key] = new``.
- The stages and their timers are :mod:`monitor.stage`'s, shared with the worker. The watermark
  comes from :class:`monitor.watermark.BoundedLateness`: the largest event time seen minus the
  allowed lateness. Deadlines (a review that must arrive within 30 minutes) fire when the
  watermark passes them.
- Nothing here reads the wall clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from monitor.alerts import Alert, Language
from monitor.events import Event, OperatorAction, Transaction, event_epoch
from monitor.findings import Finding
from monitor.ops import OpsStage, ruleset_calendar
from monitor.render import AlertRenderer
from monitor.rules.compiled import CompiledRule
from monitor.rules.conditions import FIELDS, Predicate
from monitor.rules.ruleset import RuleSet
from monitor.stage import KeyedStage, StateMap, Timers, partition_key
from monitor.watermark import BoundedLateness, TimeBounds, TimeRejection

__all__ = [
    "META_KEY",
    "STAGES",
    "Engine",
    "Event",
    "KeyedStage",
    "Stage",
    "StateMap",
    "build_stages",
    "partition_key",
]

STAGES = ("transaction", "account", "operator")
META_KEY = "__meta__"
_EMPTY: dict[str, Any] = {}
_NEVER = float("-inf")


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


# Fields of few values (a choice of literals, a currency, a country): the rules' gates are
# remembered per combination of their values (see ``_Plan``).
_GATE_FIELDS = frozenset(
    {name for name, (_, choices) in FIELDS.items() if choices is not None}
    | {"currency", "counterparty_country"}
)
_GATE_CACHE_MAX = 4096

_Candidate = tuple[CompiledRule, bool, str]
"""A rule that may take an event class, whether its ``accepts`` must still be asked, its id."""
_Open = tuple[tuple[bool, ...], tuple[_Candidate, ...]]
"""Per candidate whether it is open, and the open candidates."""


class _Plan:
    """How a stage runs the events of one class: its candidate rules in order, and one shared
    pass over the few fields that the gated rules' conditions read (:meth:`CompiledRule.gate`).

    The values of those fields are read once per event (one ``attrgetter`` call); per
    combination of values, the plan remembers which rules are open (their gate is true, or they
    have none), so an event that no rule's condition wants costs one dictionary lookup instead
    of one condition and one call per rule. A rule whose condition reads a field of many values
    (an amount, an identifier) is not gated: it is always called, as before.
    """

    __slots__ = ("all_open", "cache", "candidates", "gates", "getter")

    def __init__(self, candidates: tuple[_Candidate, ...], kind: type) -> None:
        self.candidates = candidates
        own = set(getattr(kind, "model_fields", ()))
        gates: list[Predicate | None] = []
        fields: set[str] = set()
        for rule, ask, _ in candidates:
            gate = None if ask else rule.gate()
            if gate is not None and gate[1] and gate[1] <= _GATE_FIELDS and gate[1] <= own:
                gates.append(gate[0])
                fields |= gate[1]
            else:
                gates.append(None)
        self.gates = tuple(gates)
        self.getter: Callable[[Event], Any] | None = attrgetter(*sorted(fields)) if fields else None
        self.all_open: _Open = (tuple(True for _ in candidates), candidates)
        self.cache: dict[Any, _Open] = {}

    def open_for(self, values: Any, event: Event) -> _Open:
        """Which candidates are open for events with these field values (``event`` is one)."""
        flags = tuple(gate is None or bool(gate(event)) for gate in self.gates)
        found = flags, tuple(c for c, flag in zip(self.candidates, flags, strict=True) if flag)
        if len(self.cache) >= _GATE_CACHE_MAX:
            self.cache.clear()
        self.cache[values] = found
        return found


@dataclass
class Stage:
    """The rules of one entity kind, run on one key's state value at a time."""

    name: str
    rules: tuple[CompiledRule, ...]

    def __post_init__(self) -> None:
        self._key = KEY_FUNCTIONS[self.name]
        # Per event class, the rules that may take it, each with whether its ``accepts`` must
        # still be asked (only rules that look into the event override it) and its id: no
        # per-event isinstance test or attribute chain per rule on the hot path.
        self._candidates: dict[type, tuple[_Candidate, ...]] = {}
        self._plans: dict[type, _Plan] = {}
        # Per event class, whether no candidate needs asking (then keying is the key function).
        self._plain: dict[type, bool] = {}
        # (rule id, deadline) per rule that keeps state with a deadline, for ``next_deadline``.
        self._deadlines = tuple(
            (rule.id, rule.deadline)
            for rule in self.rules
            if type(rule).deadline is not CompiledRule.deadline
        )
        for kind in (Transaction, OperatorAction):
            self._for(kind)

    def _for(self, kind: type) -> tuple[_Candidate, ...]:
        found = self._candidates.get(kind)
        if found is None:
            found = self._candidates[kind] = tuple(
                (rule, type(rule).accepts is not CompiledRule.accepts, rule.id)
                for rule in self.rules
                if issubclass(kind, rule.consumes)
            )
            self._plain[kind] = bool(found) and not any(ask for _, ask, _ in found)
            self._plans[kind] = _Plan(found, kind)
        return found

    def key_for(self, event: Event) -> str | None:
        kind = type(event)
        if self._plain.get(kind):
            return self._key(event)
        for rule, ask, _ in self._candidates.get(kind) or self._for(kind):
            if not ask or rule.accepts(event):
                return self._key(event)
        return None

    def process(self, key: str, event: Event, state: StateMap, partition: int = 0) -> list[Finding]:
        """Run every rule of the stage on ``event``; writes the new value back (or deletes it).

        A rule without state for ``key`` whose gate refuses the event is skipped: its
        ``on_event`` would change nothing and find nothing."""
        old = state.get(key)
        kind = type(event)
        plan = self._plans.get(kind)
        if plan is None:
            self._for(kind)
            plan = self._plans[kind]
        getter = plan.getter
        if getter is None:
            flags, opened = plan.all_open
        else:
            values = getter(event)
            found = plan.cache.get(values)
            flags, opened = found if found is not None else plan.open_for(values, event)
        if not old:  # no rule has state: only the open ones can act
            if not opened:
                return []
            return self._run(key, event, state, old, opened)
        candidates = plan.candidates
        if len(opened) != len(candidates):
            candidates = tuple(
                c for c, flag in zip(candidates, flags, strict=True) if flag or c[2] in old
            )
        return self._run(key, event, state, old, candidates)

    def _run(
        self,
        key: str,
        event: Event,
        state: StateMap,
        old: Any,
        candidates: tuple[_Candidate, ...],
    ) -> list[Finding]:
        current: dict[str, Any] = old if old else _EMPTY  # read from; never written
        value: dict[str, Any] | None = None  # copied on the first change only
        findings: list[Finding] = []
        for rule, ask, rule_id in candidates:
            if ask and not rule.accepts(event):
                continue
            before = current.get(rule_id)
            rule_state, found = rule.on_event(before, key, event)
            if rule_state is not before:
                if value is None:
                    value = current = dict(old) if old else {}
                if rule_state is None:
                    value.pop(rule_id, None)
                else:
                    value[rule_id] = rule_state
            if found:
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
        earliest: float | None = None
        for rule_id, deadline in self._deadlines:
            rule_state = value.get(rule_id)
            if rule_state is not None:
                d = deadline(rule_state)
                if d is not None and (earliest is None or d < earliest):
                    earliest = d
        return earliest

    def forget(self, partition: int) -> None:
        """Rules keep nothing in memory: every value lives in the state mapping."""

    def snapshot(self, state: StateMap, partition: int | None = None) -> None:
        """Rules keep nothing in memory: there is nothing to write."""


def build_stages(
    ruleset: RuleSet, extra_stages: Sequence[KeyedStage] = (), operations: bool = True
) -> list[KeyedStage]:
    """The stage list replay and the worker both run: one rule stage per entity kind that has
    rules, in :data:`STAGES` order, then ``extra_stages`` (anomaly models), then (unless
    ``operations`` is off) the per-branch KPI stage, on the after-hours rule's calendar."""
    stages: list[KeyedStage] = [
        Stage(name, ruleset.by_entity(name)) for name in STAGES if ruleset.by_entity(name)
    ]
    stages.extend(extra_stages)
    if operations:
        stages.append(OpsStage(ruleset_calendar(ruleset.rules)))
    return stages


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
        Watermarks and source progress are kept under ``state["__meta__"]`` so that state carried
        over between runs continues exactly where it stopped.
    lateness
        How far behind the largest event time the watermark stays.
    language, mask
        How alerts are rendered.
    extra_stages
        More keyed stages run after the rule stages, e.g. anomaly models.
    bounds
        Event-time bounds checked by :meth:`admit` (``None``: every event is admitted).
    operations
        Keep per-branch KPIs and raise ``operations`` alerts (:mod:`monitor.ops`).
    sources
        The input's sources (replay: the Kafka partitions the worker would read each event
        from). Events name theirs in :meth:`process`; the watermark is the slowest source's
        progress minus the lateness, and waits until every source has been seen. ``None``: one
        source, the whole input.
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
        bounds: TimeBounds | None = None,
        sources: Collection[str] | None = None,
        operations: bool = True,
    ) -> None:
        self.ruleset = ruleset
        self.stages = build_stages(ruleset, extra_stages, operations)
        self.state: MutableMapping[str, StateMap] = state if state is not None else {}
        for stage in self.stages:
            self.state.setdefault(stage.name, {})
        meta = self.state.setdefault(META_KEY, {})
        marks: dict[str, float] = meta.setdefault("watermark", {})
        self.lateness = lateness.total_seconds()
        self.bounds = bounds
        if "sources" not in meta:
            # State saved before sources were kept: the watermark was progress minus lateness.
            meta["sources"] = {"": max(marks.values()) + self.lateness} if marks else {}
        self.clock = BoundedLateness(self.lateness, meta["sources"], sources)
        self.renderer = AlertRenderer(ruleset.pack_hash, language, mask)
        self._marks = marks  # per stage, the saved-state layout: __meta__.watermark[<stage>]
        self._timers = [Timers(stage) for stage in self.stages]
        for stage, timers in zip(self.stages, self._timers, strict=True):
            if stage.name in marks:
                timers.watermarks[0] = marks[stage.name]
            timers.rebuild(self.state[stage.name])
        self._advanced = float("-inf")  # the last watermark every stage was advanced to

    @property
    def watermarks(self) -> dict[str, float]:
        return dict(self.state[META_KEY]["watermark"])

    def admit(self, event: Event, source: str = "") -> TimeRejection | None:
        """Why ``event`` must be dead-lettered instead of processed (its time is out of range,
        or later than the allowed lateness), or ``None``. Always ``None`` without bounds."""
        if self.bounds is None:
            return None
        return self.bounds.check(
            event_epoch(event),
            progress=self.clock.source_progress(source),
            reference=self.clock.stream_progress(),
        )

    def replace_stages(
        self, stages: Sequence[KeyedStage], ruleset: RuleSet, renderer: AlertRenderer
    ) -> None:
        """Hot reload between two events: the same stages (state, timers and watermark kept) with
        the rules of ``ruleset``, and a renderer stamping its pack."""
        if [s.name for s in stages] != [s.name for s in self.stages]:
            raise ValueError("a rule swap keeps the stages; a new stage needs a restart")
        self.stages[:] = list(stages)
        for timers, stage in zip(self._timers, self.stages, strict=True):
            timers.stage = stage
        self.ruleset = ruleset
        self.renderer = renderer

    def process(self, event: Event, source: str = "") -> list[Alert]:
        """Run one validated event through every stage that keys it, then move the watermark."""
        findings: list[Finding] = []
        clock = self.clock
        clock.on_event(event_epoch(event), source)
        watermark = clock.current()
        at: float = _NEVER if watermark is None else watermark
        moved = at > self._advanced
        state = self.state
        marks = self._marks
        for stage, timers in zip(self.stages, self._timers, strict=True):
            mapping = state[stage.name]
            key = stage.key_for(event)
            if key is not None:
                found = timers.process(0, key, event, mapping)
                if found:
                    findings.extend(found)
            if moved:
                # The timer service only when a deadline may be due; else the watermark alone.
                queue = timers.queues.get(0)
                if queue is not None and queue.due(at):
                    found = timers.advance(0, at, mapping)
                    if found:
                        findings.extend(found)
                else:
                    held = timers.watermarks
                    if at > held.get(0, _NEVER):
                        held[0] = at
                marks[stage.name] = timers.watermarks[0]
        if moved:
            self._advanced = at
        self._store_meta()
        if not findings:
            return []
        render = self.renderer.render
        return [render(f) for f in findings]

    def dead_letter(self, key: str, moment: float | None = None) -> None:
        """Count a dead letter for the KPI stage: ``key`` is the branch it names (else its
        source), ``moment`` its event time (default: the stream's progress so far)."""
        moment = self.clock.stream_progress() if moment is None else moment
        for stage, timers in zip(self.stages, self._timers, strict=True):
            if isinstance(stage, OpsStage) and moment is not None:
                mapping = self.state[stage.name]
                stage.dead_letter(key, moment, mapping)
                timers.queue(0).schedule(key, stage.next_deadline(mapping.get(key)))

    def advance_to(self, moment: datetime) -> list[Alert]:
        """Move every stage's watermark to ``moment`` (idle advance, or end of input)."""
        return self._advance_all(moment.timestamp())

    def flush(self) -> list[Alert]:
        """End of input: fire deadlines up to the largest event time seen, ignoring lateness."""
        last = self.clock.end_of_input()
        return [] if last is None else self._advance_all(last)

    def pending_deadlines(self) -> dict[str, int]:
        """Keys with a pending deadline, per stage (the deadline queues' sizes; no state scan)."""
        return {
            stage.name: timers.pending()
            for stage, timers in zip(self.stages, self._timers, strict=True)
        }

    def _advance_all(self, watermark: float) -> list[Alert]:
        findings: list[Finding] = []
        for stage, timers in zip(self.stages, self._timers, strict=True):
            findings.extend(timers.advance(0, watermark, self.state[stage.name]))
        self._store_marks()
        self._store_meta()
        return [self.renderer.render(f) for f in findings]

    def _store_marks(self) -> None:
        for stage, timers in zip(self.stages, self._timers, strict=True):
            if 0 in timers.watermarks:
                self._marks[stage.name] = timers.watermarks[0]

    def _store_meta(self) -> None:
        meta = self.state[META_KEY]
        self.state[META_KEY] = meta  # written back for table-backed state
