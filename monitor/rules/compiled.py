"""What every compiled rule shares, and the findings rules return.

A compiled rule is a small state machine over one entity's state value::

    on_event(state, key, event) -> (new_state, findings)   # state values are never mutated
    on_time(state, key, watermark) -> (new_state, findings)
    deadline(state) -> epoch seconds | None                 # when on_time has work to do

State values are JSON-shaped (dicts, lists, strings, numbers), so the same rule runs on a dict in
replay and on a changelog-backed faust Table in the worker. ``None`` means "no state".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from monitor.events import Event, Transaction
from monitor.findings import DetectorMeta, Finding
from monitor.rules.conditions import Predicate

State = Any
"""A JSON-shaped value: dict, list, str, int, float, bool or None."""


RuleMeta = DetectorMeta
"""A rule's :class:`~monitor.findings.DetectorMeta`."""


class CompiledRule:
    """Base class: subclasses implement the kind's state machine."""

    consumes: tuple[type, ...] = (Transaction,)
    predicate_fields: frozenset[str] | None = None
    """The event fields ``predicate`` reads, when known (the loader sets them from the compiled
    condition); ``None``: unknown, so the rule has no :meth:`gate`."""

    def __init__(self, meta: RuleMeta, predicate: Predicate) -> None:
        self.meta = meta
        self.predicate = predicate

    @property
    def id(self) -> str:
        return self.meta.id

    def accepts(self, event: Event) -> bool:
        return isinstance(event, self.consumes)

    def on_event(self, state: State, key: str, event: Event) -> tuple[State, list[Finding]]:
        raise NotImplementedError

    def on_time(self, state: State, key: str, watermark: float) -> tuple[State, list[Finding]]:
        return state, []

    def deadline(self, state: State) -> float | None:
        return None

    def gate(self) -> tuple[Predicate, frozenset[str]] | None:
        """A test of the event alone, and the event fields it reads, such that ``on_event`` on
        no state (``None``) changes nothing and finds nothing whenever the test is false; the
        stage then skips the call. ``None``: the rule has no such test (always called)."""
        return None

    def event_finding(self, key: str, event: Event, values: Mapping[str, Any]) -> Finding:
        """A finding triggered by ``event`` alone (condition and schedule rules)."""
        return self.finding(
            entity_id=key,
            event_ids=(event.event_id,),
            occurred_at=event.occurred_at,
            values=values,
            branch_id=event.branch_id,
        )

    def finding(
        self,
        *,
        entity_id: str,
        event_ids: tuple[str, ...],
        occurred_at: datetime,
        values: Mapping[str, Any],
        branch_id: str | None,
        reason: str | None = None,
    ) -> Finding:
        return Finding(self.meta, entity_id, event_ids, occurred_at, values, branch_id, reason)


class UntilRule(CompiledRule):
    """A rule whose per-key state is ``{"until": t}`` (or ``None``): kept until the watermark
    passes ``t``, then dropped (condition and schedule rules)."""

    def on_time(self, state: State, key: str, watermark: float) -> tuple[State, list[Finding]]:
        if state is not None and state["until"] <= watermark:
            return None, []
        return state, []

    def deadline(self, state: State) -> float | None:
        return None if state is None else float(state["until"])


def event_values(event: Event) -> dict[str, Any]:
    """The event's contract fields, for templates and explanations."""
    return {name: getattr(event, name) for name in type(event).model_fields}
