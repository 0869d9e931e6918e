"""Injected maker-checker violations, one reason each and nothing else.

Every case is a counter or wire transfer of CNY 60,000-350,000 (an individual's) or up to 900,000
(a company's): it needs review, and it stays far below every large-value line and the
structuring band. It happens in business hours on a working day, with exactly one approval (or
none) by someone logged in, so that the dual-review rule can give only the intended reason:

- ``missing``: never approved (sometimes posted anyway);
- ``self_approval``: a supervisor initiates and approves their own transaction;
- ``unauthorised_reviewer``: another teller (or an auditor) approves;
- ``late``: a supervisor or manager approves in time, but after the transaction was posted.
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

from monitor.simulator.bank import Operator, external_account
from monitor.simulator.context import SimContext, at_seconds
from monitor.simulator.factory import Event, TxnSpec
from monitor.simulator.flows import fits
from monitor.simulator.labels import Case, DualReviewReason
from monitor.simulator.limits import Group
from monitor.simulator.roster import REVIEWER_ROLES, BranchDay
from monitor.simulator.slots import counter_time, pick_customer, pick_shift, working_slot

__all__ = ["dual_review"]

UNAUTHORISED_ROLES = frozenset({"teller", "auditor"})


def _spec(ctx: SimContext, rng: random.Random, today: BranchDay) -> TxnSpec | None:
    corporate = rng.random() < 0.3
    customer = pick_customer(ctx, rng, today.branch_id, "corporate" if corporate else "individual")
    if customer is None:
        return None
    # Over the review line (1.2-7x, corporate 18x), clear of the large-value transfer lines.
    limits = ctx.ledger.limits
    review = limits.review_line_cny
    group: Group = "corporate" if corporate else "individual_domestic"
    cap = limits.lines[group]["CNY"] * (Decimal("0.45") if corporate else Decimal("0.7"))
    high = min(review * (18 if corporate else 7), cap)
    amount = Decimal(rng.randint(int(review * Decimal("1.2")), int(high)))
    spec = TxnSpec(
        customer,
        amount,
        "CNY",
        "debit",
        "wire" if rng.random() < 0.25 else "counter",
        "transfer",
        external_account(rng, corporate),
        ctx.config.home_country,
    )
    return spec if fits(ctx.ledger, spec, today.day) else None


def dual_review(ctx: SimContext, rng: random.Random, reason: DualReviewReason) -> Case | None:
    """One injected maker-checker violation with the given reason (None if it cannot be placed)."""
    today = working_slot(ctx, rng)
    if today is None:
        return None
    if reason == "self_approval":
        makers = [s for s in today.reviewers if s.operator.role == "supervisor"]
    else:
        makers = today.tellers
    maker = pick_shift(ctx, rng, makers)
    spec = _spec(ctx, rng, today) if maker is not None else None
    if maker is None or spec is None:
        return None
    at = counter_time(rng, maker, today)
    # Within the review rule's time limit, so that the reason is the only fault.
    latest = min(1200, int(ctx.ledger.limits.review_within_seconds) - 60)
    earliest = min(300 if reason == "late" else 120, latest)
    decided = at_seconds(at, rng.randint(earliest, latest))
    checker: Operator | None = None
    if reason == "self_approval":
        checker = maker.operator
    elif reason != "missing":
        roles = UNAUTHORISED_ROLES if reason == "unauthorised_reviewer" else REVIEWER_ROLES
        others = today.others(maker.operator.operator_id, decided, roles)
        if not others:
            return None
        checker = rng.choice(others).operator
    txn_id = ctx.factory.new_txn_id()
    events = _events(ctx, rng, spec, txn_id, maker.operator, at, checker, decided, reason)
    return Case(
        category="dual_review",
        reason=reason,
        injected=True,
        entity_type="transaction",
        entity_id=txn_id,
        branch_id=today.branch_id,
        detail=f"{spec.channel} transfer {spec.currency} {spec.amount:,} initiated by "
        f"{maker.operator.operator_id} ({maker.operator.role})",
        events=events,
    )


def _events(
    ctx: SimContext,
    rng: random.Random,
    spec: TxnSpec,
    txn_id: str,
    maker: Operator,
    at: datetime,
    checker: Operator | None,
    decided: datetime,
    reason: DualReviewReason,
) -> list[Event]:
    """initiated; then (unless missing) one approval; posted after it, or before it if late."""
    factory = ctx.factory
    initiator = maker.operator_id
    events: list[Event] = [
        factory.transaction(spec, txn_id, at, "initiated", initiator, injected=True)
    ]
    if checker is None:  # missing: sometimes posted anyway, never approved
        if rng.random() < 0.5:
            posted = at_seconds(at, rng.randint(60, 300))
            events.append(
                factory.transaction(spec, txn_id, posted, "posted", initiator, injected=True)
            )
        return events
    account_id = spec.customer.account_id
    events.append(
        factory.action(
            checker, decided, "approve", target_txn_id=txn_id, target_account_id=account_id
        )
    )
    if reason == "late":
        posted = at_seconds(at, rng.randint(60, 150))  # before the approval (at least 300 s)
    else:
        posted = at_seconds(decided, rng.randint(30, 180))
    events.append(factory.transaction(spec, txn_id, posted, "posted", initiator, injected=True))
    return events
