"""How one transaction unfolds into events, and how its amount is kept clear of the rule lines.

- Self-service (mobile, online, ATM, batch): usually one ``posted`` event; some mobile and online
  transfers show ``initiated`` a few seconds before.
- Counter and wire: a teller initiates; if the amount needs maker-checker, a supervisor or manager
  of the branch who is logged in approves 2-20 minutes later and the ``posted`` event follows the
  approval; otherwise it posts within three minutes. A small share of reviews are rejected and the
  transaction is reversed (cancelled) before the review deadline.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from decimal import ROUND_DOWN, Decimal

from monitor.events import Transaction
from monitor.simulator.context import at_seconds
from monitor.simulator.factory import Event, EventFactory, TxnSpec
from monitor.simulator.ledger import Ledger
from monitor.simulator.limits import group_of
from monitor.simulator.roster import BranchDay, Shift

__all__ = ["cny_amount", "fit_amount", "fits", "line_room", "self_service", "teller_flow"]

NORMAL_CAP = Decimal("0.78")
"""Ordinary single amounts stay below this share of their line (structuring starts at 0.8)."""
NORMAL_DAILY = Decimal("0.9")
"""Ordinary same-day totals per account and line stay below this share of the line."""
_CENTS = Decimal("0.01")
_WHOLE_UNITS = frozenset({"JPY", "KRW"})


def cny_amount(cny: float, currency: str, step: int, ledger: Ledger) -> Decimal:
    """``cny`` worth of ``currency``, rounded to ``step`` units (cents when 0), never zero.

    Converted with the currency table of the rules (``ledger.limits``).
    """
    rate = ledger.limits.cny_per_unit.get(currency)
    value = cny if rate is None else cny / float(rate)
    if currency in _WHOLE_UNITS:
        step = max(step, 1)
    if step:
        return Decimal(max(1, int(value // step)) * step)
    return Decimal(f"{max(value, 0.01):.2f}")


def line_room(
    ledger: Ledger, spec: TxnSpec, day: date, *, cap: Decimal, daily: Decimal
) -> tuple[Decimal, Decimal, Decimal] | None:
    """``(measured, room, limit)`` of ``spec`` on its line, or ``None`` when no line applies.

    ``room`` is what a single transaction may measure: below ``cap`` of the line, and below what
    keeps the day's total on that line under ``daily`` of it.
    """
    customer = spec.customer
    group = group_of(
        spec.txn_type,
        spec.channel,
        customer.account_type,
        spec.counterparty_country,
        ledger.home_country,
    )
    if group is None:
        return None
    currency, limit, measured = ledger.limits.measure(group, spec.amount, spec.currency)
    total = ledger.total((customer.account_id, group, currency, day))
    if cap == NORMAL_CAP and daily == NORMAL_DAILY:  # the common case, precomputed
        single, whole = ledger.limits.room(group, currency, cap, daily)
        return measured, min(single, whole - total), limit
    return measured, min(limit * cap, limit * daily - total), limit


def fits(
    ledger: Ledger,
    spec: TxnSpec,
    day: date,
    *,
    cap: Decimal = NORMAL_CAP,
    daily: Decimal = NORMAL_DAILY,
) -> bool:
    """Whether ``spec`` stays clear of every line (single, structuring band, same-day total)."""
    found = line_room(ledger, spec, day, cap=cap, daily=daily)
    return found is None or found[0] < found[1]


def fit_amount(
    ledger: Ledger,
    spec: TxnSpec,
    day: date,
    rng: random.Random,
    step: int,
    *,
    cap: Decimal = NORMAL_CAP,
    daily: Decimal = NORMAL_DAILY,
) -> Decimal | None:
    """``spec.amount``, shrunk if needed so that :func:`fits` holds; ``None`` if no room is left."""
    found = line_room(ledger, spec, day, cap=cap, daily=daily)
    if found is None or found[0] < found[1]:
        return spec.amount
    measured, room, limit = found
    if room <= limit / 100:
        return None
    factor = room / measured * Decimal(str(round(rng.uniform(0.3, 0.95), 3)))
    quantum = Decimal(max(step, 1)) if step or spec.currency in _WHOLE_UNITS else _CENTS
    shrunk = (spec.amount * factor / quantum).to_integral_value(ROUND_DOWN) * quantum
    return shrunk if shrunk > 0 else None


def self_service(
    factory: EventFactory,
    rng: random.Random,
    spec: TxnSpec,
    at: datetime,
    *,
    injected: bool = False,
) -> list[Transaction]:
    """A customer's own transaction: posted, sometimes seen initiated a few seconds earlier."""
    txn_id = factory.new_txn_id()
    initiator = spec.customer.customer_id
    out: list[Transaction] = []
    if spec.channel in ("mobile", "online") and rng.random() < 0.15:
        out.append(factory.transaction(spec, txn_id, at, "initiated", initiator, injected=injected))
        at = at_seconds(at, rng.randint(1, 20))
    out.append(factory.transaction(spec, txn_id, at, "posted", initiator, injected=injected))
    return out


def teller_flow(
    factory: EventFactory,
    rng: random.Random,
    spec: TxnSpec,
    teller: Shift,
    at: datetime,
    today: BranchDay,
    *,
    reject_rate: float = 0.0,
    injected: bool = False,
) -> list[Event]:
    """A counter or wire transaction with a correct maker-checker review where one is needed.

    ``at`` must lie in ``teller.counter_window``: then a reviewer is logged in for the approval.
    """
    txn_id = factory.new_txn_id()
    initiator = teller.operator.operator_id
    account_id = spec.customer.account_id
    out: list[Event] = []
    if rng.random() < 0.6:
        seen = at_seconds(at, -rng.randint(30, 180))
        out.append(
            factory.action(teller.operator, seen, "view_customer", target_account_id=account_id)
        )
    out.append(factory.transaction(spec, txn_id, at, "initiated", initiator, injected=injected))
    limits = factory.ledger.limits
    if not limits.needs_review(spec.channel, spec.amount, spec.currency):
        posted = at_seconds(at, rng.randint(20, 180))
        out.append(
            factory.transaction(spec, txn_id, posted, "posted", initiator, injected=injected)
        )
        return out
    # Approved 2-20 minutes later, always within the review rule's time limit.
    latest = min(1200, int(limits.review_within_seconds) - 60)
    decided = at_seconds(at, rng.randint(min(120, latest), latest))
    reviewer = rng.choice(today.reviewers_at(decided)).operator
    later = at_seconds(decided, rng.randint(30, 180))
    if rng.random() < reject_rate:
        out.append(
            factory.action(
                reviewer, decided, "reject", target_txn_id=txn_id, target_account_id=account_id
            )
        )
        out.append(
            factory.transaction(spec, txn_id, later, "reversed", initiator, injected=injected)
        )
        return out
    out.append(
        factory.action(
            reviewer, decided, "approve", target_txn_id=txn_id, target_account_id=account_id
        )
    )
    out.append(factory.transaction(spec, txn_id, later, "posted", initiator, injected=injected))
    return out
