"""Same-day totals per account and line, kept so that the simulator knows which lines it crosses.

Every transaction the simulator makes passes through :meth:`Ledger.record`. Ordinary traffic asks
:meth:`Ledger.total` before choosing an amount, so that no account's below-line transactions
add up to a large-value line on one calendar day. At the end :meth:`Ledger.crossings` replays each
(account, group, line currency, day) in event order exactly as the daily aggregate rules do
(first sight of a ``txn_id`` counts, a reversal takes it out, at least two transactions, fire once
per day), so that every same-day cumulative alert the rules will raise is known and labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from monitor.events import Transaction
from monitor.simulator.limits import Group, Limits, group_of

__all__ = ["Crossing", "DayKey", "Ledger"]

DayKey = tuple[str, Group, str, date]
"""(account id, group, line currency, local calendar day)."""
DAY_SECONDS = 86400.0
MIN_COUNT = 2
_ZERO = Decimal(0)

# One ledger line: (event time, event id, txn id, measured amount or None for a reversal,
# injected). Tuples, not objects: there is one per below-line transaction.
_Entry = tuple[datetime, str, str, Decimal | None, bool]


@dataclass(frozen=True)
class Crossing:
    """A same-day cumulative total that reaches its line: the rules will alert."""

    key: DayKey
    limit: Decimal
    at: datetime
    event_ids: tuple[str, ...]
    """The event ids the alert will name: the items counted when the total crossed."""
    injected: bool
    branch_id: str


@dataclass(slots=True)
class _Day:
    """One (account, group, line currency, day): its running total and its entries."""

    total: Decimal
    limit: Decimal
    branch_id: str
    entries: list[_Entry]


@dataclass
class Ledger:
    home_country: str
    limits: Limits
    _days: dict[DayKey, _Day] = field(default_factory=dict)
    _seen: dict[str, DayKey] = field(default_factory=dict)

    def key_of(self, txn: Transaction) -> tuple[DayKey, Decimal, Decimal] | None:
        """The day key, the line and the measured amount of a below-line transaction."""
        group = group_of(
            txn.txn_type, txn.channel, txn.account_type, txn.counterparty_country, self.home_country
        )
        if group is None:
            return None
        currency, limit, measured = self.limits.measure(group, txn.amount, txn.currency)
        if measured >= limit:
            return None  # a single over the line is reported on its own, never summed
        return (txn.account_id, group, currency, txn.occurred_at.date()), limit, measured

    def total(self, key: DayKey) -> Decimal:
        """The measured total of ``key`` so far (reversals are not given back: conservative)."""
        day = self._days.get(key)
        return _ZERO if day is None else day.total

    def record(self, txn: Transaction, injected: bool) -> None:
        """Account for one transaction event (any status), in any order of creation."""
        txn_id = txn.txn_id
        key = self._seen.get(txn_id)
        if key is not None:
            if txn.status == "reversed":
                self._days[key].entries.append(
                    (txn.occurred_at, txn.event_id, txn_id, None, injected)
                )
            return
        if txn.status == "reversed":
            return
        found = self.key_of(txn)
        if found is None:
            return  # no line applies (or a single over it); a reversal will find nothing either
        key, limit, measured = found
        self._seen[txn_id] = key
        entry = (txn.occurred_at, txn.event_id, txn_id, measured, injected)
        day = self._days.get(key)
        if day is None:
            self._days[key] = _Day(measured, limit, txn.branch_id, [entry])
        else:
            day.total += measured
            day.entries.append(entry)

    def crossings(self) -> list[Crossing]:
        """Every (account, group, line currency, day) whose total the rules will see cross."""
        out: list[Crossing] = []
        for key, day in self._days.items():
            if day.total < day.limit or len(day.entries) < MIN_COUNT:
                continue
            found = _replay(day.entries, day.limit)
            if found is not None:
                at, event_ids, injected = found
                out.append(Crossing(key, day.limit, at, event_ids, injected, day.branch_id))
        return out


def _replay(entries: list[_Entry], limit: Decimal) -> tuple[datetime, tuple[str, ...], bool] | None:
    """Run one day's entries in event order as the aggregate rule does; the crossing, if any."""
    items: dict[str, _Entry] = {}
    for entry in sorted(entries, key=lambda e: (e[0], e[1])):
        at, _event_id, txn_id, measured, _injected = entry
        if measured is None:
            kept = items.get(txn_id)
            if kept is not None and (at - kept[0]).total_seconds() < DAY_SECONDS:
                del items[txn_id]
            continue
        items[txn_id] = entry
        total = sum((e[3] or _ZERO for e in items.values()), _ZERO)
        if len(items) >= MIN_COUNT and total >= limit:
            ordered = sorted(items.values(), key=lambda e: (e[0], e[2]))
            return at, tuple(e[1] for e in ordered), any(e[4] for e in ordered)
    return None
