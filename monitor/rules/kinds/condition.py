"""Condition rules: one event matches a structured condition (and optionally a threshold).

On the ``transaction`` entity a rule fires once per ``txn_id`` even though a transaction appears
once per status change; the "already fired" marker expires after ``retention`` of event time.
Reversed transactions never match.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from monitor.events import Event, OperatorAction, Transaction, event_epoch
from monitor.findings import Finding
from monitor.rules.compiled import RuleMeta, State, UntilRule, event_values
from monitor.rules.conditions import Predicate
from monitor.rules.money import Threshold

RETENTION = timedelta(days=2).total_seconds()


class ConditionRuleRuntime(UntilRule):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset({"threshold", "measured"})
    """Message placeholders this kind adds to the event's fields (checked by the loader)."""

    def __init__(self, meta: RuleMeta, predicate: Predicate, threshold: Threshold | None) -> None:
        super().__init__(meta, predicate)
        self.threshold = threshold
        self.consumes = (OperatorAction,) if meta.entity == "operator" else (Transaction,)

    def gate(self) -> tuple[Predicate, frozenset[str]] | None:
        # Without state, an event the condition refuses changes nothing.
        if self.predicate_fields is None:
            return None
        return self.predicate, self.predicate_fields

    def on_event(self, state: State, key: str, event: Event) -> tuple[State, list[Finding]]:
        if state is not None or not self.predicate(event):
            return state, []
        line = None
        if isinstance(event, Transaction):
            if event.status == "reversed":
                return state, []
            if self.threshold is not None:
                line = self.threshold.line(event.amount, event.currency)
                if line is None or not line.reached:
                    return state, []
        values = event_values(event)  # only once the rule fires
        if line is not None:
            values |= {
                "threshold": f"{line.currency} {line.limit:,.2f}",
                "measured": f"{line.currency} {line.measured:,.2f}",
            }
        finding = self.event_finding(key, event, values)
        if self.meta.entity != "transaction":
            return state, [finding]
        return {"until": event_epoch(event) + RETENTION}, [finding]
