"""Aggregate rules: a sum over a window of one account's transactions crosses a threshold.

Covers same-day cumulative large-value reporting (``window: calendar_day``) and structuring
(``window: 24h`` with a ``band``: every counted transaction lies between, say, 80% and 100% of the
threshold, and together they cross it).

Each ``txn_id`` counts once whatever its status changes; a reversal takes it back out. The rule
fires once per account, threshold line and calendar day (or, for sliding windows, once per window
length after it fired). State per account and rule, compact (a list, no keys repeated)::

    [{txn_id: [epoch, line currency, measured, event_id]}]                     # nothing fired
    [{txn_id: [epoch, line currency, measured, event_id]}, {marker: expiry}]   # something fired

The calendar day of an item is recomputed from its time (remembered per quarter hour). State
written before (``{"items": {txn_id: [..., day]}, "fired": {...}}``) is read as it is and
rewritten compactly when it next changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Literal, NamedTuple
from zoneinfo import ZoneInfo

from monitor.events import Event, Transaction, event_epoch
from monitor.findings import Finding
from monitor.rules.compiled import CompiledRule, RuleMeta, State
from monitor.rules.conditions import Predicate
from monitor.rules.money import Threshold

DAY = 86400.0


class Item(NamedTuple):
    """One counted transaction of an account (JSON: a 4-element list; state written before
    this layout has a fifth element, the calendar day, which is read when present)."""

    t: float
    """Event time, epoch seconds."""
    currency: str
    """The currency of the threshold line it is measured against."""
    measured: str
    """The amount measured against the line, a decimal string."""
    event_id: str


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
        self._days: dict[int, str] = {}  # quarter hour of UTC -> local ISO date

    def gate(self) -> tuple[Predicate, frozenset[str]] | None:
        # Without state, a reversal or an event the condition refuses changes nothing.
        if self.predicate_fields is None:
            return None
        predicate = self.predicate
        return (lambda e: e.status != "reversed" and predicate(e)), self.predicate_fields | {
            "status"
        }

    def on_event(self, state: State, key: str, event: Event) -> tuple[State, list[Finding]]:
        if not isinstance(event, Transaction):
            return state, []
        txn_id = event.txn_id
        if state:
            known, old_fired = _parts(state)
            if txn_id in known:  # counted once, whatever its status changes; a reversal leaves
                if event.status != "reversed":
                    return state, []
                kept = {k: v for k, v in known.items() if k != txn_id}
                return _pack(kept, old_fired), []
        else:
            known, old_fired = _NO_ITEMS, _NO_FIRED
        if event.status == "reversed" or not self.predicate(event):
            return state, []
        line = self.threshold.line(event.amount, event.currency)
        if line is None:
            return state, []
        currency, limit, measured = line.currency, line.limit, line.measured
        if self.only_below and measured >= limit:
            return state, []
        if self.band and not (self.band[0] * limit <= measured < self.band[1] * limit):
            return state, []
        now = event_epoch(event)
        day = self._local_day(event, now)
        items: dict[str, Sequence[Any]] = dict(known)
        items[txn_id] = Item(now, currency, str(measured), event.event_id)
        fired = old_fired
        # The window: items of this line's currency on the same local day (calendar) or within
        # the span (sliding). Windows are short (a few items), so they are summed only when
        # they hold enough items to fire.
        in_window: list[tuple[str, Sequence[Any]]] = []
        if self.calendar:
            day_at = self._day_at
            for item_id, item in items.items():
                if item[1] == currency and (item[4] if len(item) > 4 else day_at(item[0])) == day:
                    in_window.append((item_id, item))
        else:
            since = now - self.span
            for item_id, item in items.items():
                if item[1] == currency and float(item[0]) > since:
                    in_window.append((item_id, item))
        findings: list[Finding] = []
        if len(in_window) < self.min_count:
            return _pack(items, fired), findings
        total = sum((Decimal(str(item[2])) for _, item in in_window), Decimal(0))
        marker = f"{currency}:{day}" if self.calendar else currency
        if total >= limit and fired.get(marker, 0.0) <= now:
            fired = dict(fired)
            fired[marker] = now + self.span
            in_window.sort(key=lambda pair: (pair[1][0], pair[0]))
            findings.append(
                self.finding(
                    entity_id=key,
                    event_ids=tuple(str(item[3]) for _, item in in_window),
                    occurred_at=event.occurred_at,
                    branch_id=event.branch_id,
                    values={
                        "account_id": key,
                        "total": f"{currency} {total:,.2f}",
                        "count": len(in_window),
                        "threshold": f"{currency} {limit:,.2f}",
                        "window": "calendar day " + day if self.calendar else _span(self.span),
                        "txn_ids": [item_id for item_id, _ in in_window],
                        "currency": currency,
                    },
                )
            )
        return _pack(items, fired), findings

    def _day_at(self, moment: float) -> str:
        """The ISO date of the instant ``moment`` in the rule's time zone."""
        day = self._days.get(int(moment // 900.0))
        if day is None:
            day = datetime.fromtimestamp(moment, self.zone).date().isoformat()
        return day

    def _local_day(self, event: Event, now: float) -> str:
        """The ISO date of ``event`` in the rule's time zone, remembered per quarter hour of UTC
        when the whole quarter lies in one local day at one UTC offset (always so unless a
        transition or midnight falls inside it, when the date is computed each time)."""
        bucket = int(now // 900.0)
        day = self._days.get(bucket)
        if day is None:
            day = event.occurred_at.astimezone(self.zone).date().isoformat()
            try:
                start = datetime.fromtimestamp(bucket * 900.0, self.zone)
                end = datetime.fromtimestamp(bucket * 900.0 + 899.999, self.zone)
            except (OverflowError, OSError, ValueError):
                return day  # at the ends of the calendar: not remembered
            if (
                start.utcoffset() == end.utcoffset()
                and start.date() == end.date()
                and start.date().isoformat() == day
            ):
                if len(self._days) >= 65536:
                    self._days.clear()
                self._days[bucket] = day
        return day

    def on_time(self, state: State, key: str, watermark: float) -> tuple[State, list[Finding]]:
        if state is None:
            return None, []
        span = self.span
        known, old_fired = _parts(state)
        items = {k: v for k, v in known.items() if float(v[0]) + span > watermark}
        fired = {k: v for k, v in old_fired.items() if float(v) > watermark}
        if len(items) == len(known) and len(fired) == len(old_fired):
            return state, []  # nothing expired: the value is unchanged
        return _pack(items, fired), []

    def deadline(self, state: State) -> float | None:
        if state is None:
            return None
        earliest: float | None = None
        items, fired = _parts(state)
        if items:
            earliest = float(min(item[0] for item in items.values())) + self.span
        for expiry in fired.values():
            if earliest is None or float(expiry) < earliest:
                earliest = float(expiry)
        return earliest


_NO_ITEMS: dict[str, Sequence[Any]] = {}
_NO_FIRED: dict[str, float] = {}


def _parts(state: Any) -> tuple[Mapping[str, Sequence[Any]], Mapping[str, float]]:
    """The items and fired markers of a state value, compact (a list) or as written before."""
    if isinstance(state, dict):
        return state["items"], state["fired"]
    return state[0], (state[1] if len(state) > 1 else _NO_FIRED)


def _pack(items: Mapping[str, Sequence[Any]], fired: Mapping[str, float]) -> State:
    if fired:
        return [items, fired]
    return [items] if items else None


def _span(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:g}h"
