"""Aggregate rules: a sum over a window of one account's transactions crosses a threshold.

Covers same-day cumulative large-value reporting (``window: calendar_day``) and structuring
(``window: 24h`` with a ``band``: every counted transaction lies between, say, 80% and 100% of the
threshold, and together they cross it).

Each ``txn_id`` counts once whatever its status changes; a reversal takes it back out. The rule
fires once per account, threshold line and calendar day (or, for sliding windows, once per window
length after it fired). State per account::

    {"items": {txn_id: Item}, "fired": {marker: expiry_epoch}}

An :class:`Item` is a named tuple, so it is stored as the JSON list
``[epoch, line currency, measured, event_id, day]`` it always was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo

from monitor.events import Event, Transaction
from monitor.findings import Finding
from monitor.rules.compiled import CompiledRule, RuleMeta, State
from monitor.rules.conditions import Predicate
from monitor.rules.money import Threshold

DAY = 86400.0


class Item(NamedTuple):
    """One counted transaction of an account (JSON: a 5-element list)."""

    t: float
    """Event time, epoch seconds."""
    currency: str
    """The currency of the threshold line it is measured against."""
    measured: str
    """The amount measured against the line, a decimal string."""
    event_id: str
    day: str
    """The calendar day (ISO date) in the rule's time zone."""

    @classmethod
    def of(cls, value: Sequence[Any]) -> Item:
        """An item as stored: a list read back from JSON, or an :class:`Item` already."""
        return value if isinstance(value, Item) else cls(*value)


class AggregateRuleRuntime(CompiledRule):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {"account_id", "total", "count", "threshold", "window", "txn_ids", "currency"}
    )
    """Message placeholders this kind adds to the event's fields (checked by the loader)."""

    def __init__(
        self,
        meta: RuleMeta,
        predicate: Predicate,
        threshold: Threshold,
        window: Literal["calendar_day"] | timedelta,
        timezone: str,
        min_count: int,
        band: tuple[float, float] | None,
        only_below_threshold: bool,
    ) -> None:
        super().__init__(meta, predicate)
        self.threshold = threshold
        self.calendar = window == "calendar_day"
        self.span = DAY if isinstance(window, str) else window.total_seconds()
        self.zone = ZoneInfo(timezone)
        self.min_count = min_count
        self.band = (Decimal(str(band[0])), Decimal(str(band[1]))) if band else None
        self.only_below = only_below_threshold or band is not None

    def on_event(self, state: State, key: str, event: Event) -> tuple[State, list[Finding]]:
        if not isinstance(event, Transaction):
            return state, []
        known = state["items"] if state else {}
        if event.status == "reversed":
            if event.txn_id not in known:
                return state, []
            items = {k: v for k, v in known.items() if k != event.txn_id}
            return _pack(items, state["fired"]), []
        if event.txn_id in known or not self.predicate(event):
            return state, []
        line = self.threshold.line(event.amount, event.currency)
        if line is None:
            return state, []
        currency, limit, measured = line.currency, line.limit, line.measured
        if self.only_below and line.reached:
            return state, []
        if self.band and not (self.band[0] * limit <= measured < self.band[1] * limit):
            return state, []
        now = event.occurred_at.timestamp()
        day = event.occurred_at.astimezone(self.zone).date().isoformat()
        items = {txn_id: Item.of(item) for txn_id, item in known.items()}
        fired: dict[str, float] = dict(state["fired"]) if state else {}
        items[event.txn_id] = Item(now, currency, str(measured), event.event_id, day)
        in_window = [
            (txn_id, item)
            for txn_id, item in items.items()
            if item.currency == currency
            and (item.day == day if self.calendar else float(item.t) > now - self.span)
        ]
        total = sum((Decimal(str(item.measured)) for _, item in in_window), Decimal(0))
        marker = f"{currency}:{day}" if self.calendar else currency
        findings: list[Finding] = []
        if len(in_window) >= self.min_count and total >= limit and fired.get(marker, 0.0) <= now:
            fired[marker] = now + self.span
            in_window.sort(key=lambda pair: (pair[1].t, pair[0]))
            findings.append(
                self.finding(
                    entity_id=key,
                    event_ids=tuple(str(item.event_id) for _, item in in_window),
                    occurred_at=event.occurred_at,
                    branch_id=event.branch_id,
                    values={
                        "account_id": key,
                        "total": f"{currency} {total:,.2f}",
                        "count": len(in_window),
                        "threshold": f"{currency} {limit:,.2f}",
                        "window": "calendar day " + day if self.calendar else _span(self.span),
                        "txn_ids": [txn_id for txn_id, _ in in_window],
                        "currency": currency,
                    },
                )
            )
        return _pack(items, fired), findings

    def on_time(self, state: State, key: str, watermark: float) -> tuple[State, list[Finding]]:
        if state is None:
            return None, []
        items = {
            k: v for k, v in state["items"].items() if float(Item.of(v).t) + self.span > watermark
        }
        fired = {k: v for k, v in state["fired"].items() if float(v) > watermark}
        return _pack(items, fired), []

    def deadline(self, state: State) -> float | None:
        if state is None:
            return None
        times = [float(Item.of(v).t) + self.span for v in state["items"].values()]
        times.extend(float(v) for v in state["fired"].values())
        return min(times) if times else None


def _pack(items: Mapping[str, Sequence[Any]], fired: dict[str, float]) -> State:
    if not items and not fired:
        return None
    return {"items": items, "fired": fired}


def _span(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g}h"
