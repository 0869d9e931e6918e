"""Injected rule violations other than dual review: large transfers, structuring, after hours.

- Large transfer, single: one transaction over its line (reviewed properly at the counter).
- Large transfer, cumulative: 2-4 transactions on one account and calendar day, each below 75%
  of the line (outside the structuring band), together 105-140% of it.
- Structuring: 2-4 transactions on one account within 24 hours, each 82-97% of a line. When the
  same-day rule fires too (two of them on one calendar day, or one on top of the day's ordinary
  total) the ledger finds the crossing and it gets its own ``large_transfer`` label.
- After hours: a session of sensitive actions at night, early in the morning, on a weekend or on
  a public holiday, each by a different operator (the rule is quiet for an hour after alerting).

Counter work happens in a teller's window on a working day, reviewed properly when it must be.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

from monitor.events import Action, Channel
from monitor.simulator.bank import Customer, external_account
from monitor.simulator.context import SimContext, at_seconds
from monitor.simulator.factory import Event, TxnSpec
from monitor.simulator.flows import self_service, teller_flow
from monitor.simulator.labels import Case
from monitor.simulator.large import LARGE_KINDS, make_large
from monitor.simulator.limits import GROUPS, Group
from monitor.simulator.roster import BranchDay
from monitor.simulator.slots import counter_time, pick_customer, pick_operator, working_slot

__all__ = ["after_hours", "large_cumulative", "large_single", "structuring"]

SESSION_ACTIONS: tuple[Action, ...] = (
    "view_customer",
    "view_customer",
    "export_data",
    "modify_account",
    "change_limit",
    "unlock_account",
)
SESSION_KINDS = ("night", "weekend", "holiday", "early")


def large_single(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    today = working_slot(ctx, rng)
    kinds = LARGE_KINDS if today is not None else [k for k in LARGE_KINDS if k.channel == "online"]
    kind = kinds[index % len(kinds)]
    day = today.day if today is not None else rng.choice(ctx.days)
    branch_id = today.branch_id if today is not None else rng.choice(ctx.bank.branch_ids)
    customer = pick_customer(ctx, rng, branch_id, kind.account_type)
    if customer is None:
        return None
    return make_large(ctx, rng, kind, customer, day, today, injected=True)


def _split(rng: random.Random, total: float, count: int, low: float, high: float) -> list[float]:
    """``count`` shares of ``total``, each within [low, high] (all equal if drawing fails)."""
    for _ in range(50):
        weights = [rng.uniform(0.6, 1.4) for _ in range(count)]
        parts = [total * w / sum(weights) for w in weights]
        if all(low <= p <= high for p in parts):
            return parts
    return [total / count] * count


def _spec(
    ctx: SimContext, rng: random.Random, customer: Customer, group: Group, share: float, usd: bool
) -> TxnSpec:
    """A transaction measuring ``share`` of ``group``'s CNY (or USD) line."""
    currency = "USD" if usd else "CNY"
    amount = Decimal(int(share * float(ctx.ledger.limits.lines[group][currency])))
    if group == "cash":
        deposit = rng.random() < 0.6
        return TxnSpec(
            customer,
            max(Decimal(100), amount // 100 * 100),
            currency,
            "credit" if deposit else "debit",
            "counter",
            "deposit" if deposit else "withdrawal",
        )
    corporate = group == "corporate"
    if group == "individual_crossborder":
        country = customer.fx_country or "HK"
        counterparty = f"{country}{rng.randrange(10**14):014d}"
    else:
        country, counterparty = ctx.config.home_country, external_account(rng, corporate)
    return TxnSpec(
        customer, amount, currency, "debit", "counter", "transfer", counterparty, country
    )


def _place(
    ctx: SimContext,
    rng: random.Random,
    spec: TxnSpec,
    day: date,
    today: BranchDay | None,
    at: datetime | None,
) -> list[Event]:
    """At the counter when ``at`` is None and the branch is open, else self-service at ``at``."""
    if at is None and today is not None:
        teller = rng.choice(today.tellers)
        when = counter_time(rng, teller, today)
        return teller_flow(ctx.factory, rng, spec, teller, when, today, injected=True)
    moment = (
        at
        if at is not None
        else at_seconds(ctx.calendar.midnight(day), rng.randint(8 * 3600, 22 * 3600))
    )
    channel: Channel = "online" if rng.random() < 0.5 else "mobile"
    if spec.txn_type in ("deposit", "withdrawal"):
        channel = "atm"
    self_spec = TxnSpec(
        spec.customer,
        spec.amount,
        spec.currency,
        spec.direction,
        channel,
        spec.txn_type,
        spec.counterparty_account,
        spec.counterparty_country,
    )
    return list(self_service(ctx.factory, rng, self_spec, moment, injected=True))


def _customer_for(
    ctx: SimContext, rng: random.Random, branch_id: str, group: Group
) -> Customer | None:
    account_type = "corporate" if group == "corporate" else "individual"
    return pick_customer(ctx, rng, branch_id, account_type)


def _slot(ctx: SimContext, rng: random.Random) -> tuple[date, BranchDay | None, str]:
    """A day (any), the branch's roster that day (None when closed) and the branch."""
    index = rng.randrange(len(ctx.days))
    branch_id = rng.choice(ctx.bank.branch_ids)
    return ctx.days[index], ctx.rosters[index].get(branch_id), branch_id


def large_cumulative(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    group = GROUPS[index % len(GROUPS)]
    day, today, branch_id = _slot(ctx, rng)
    customer = _customer_for(ctx, rng, branch_id, group)
    if customer is None:
        return None
    usd = group == "individual_crossborder" and rng.random() < 0.5
    count = rng.randint(2, 4)
    shares = _split(rng, rng.uniform(1.05, 1.4), count, 0.15, 0.75)
    at_counter = today is not None and rng.random() < 0.5
    events: list[Event] = []
    for share in shares:
        spec = _spec(ctx, rng, customer, group, share, usd)
        events.extend(
            _place(ctx, rng, spec, day, today, None if at_counter else _daytime(ctx, rng, day))
        )
    line = "USD" if usd else "CNY"
    case = Case(
        category="large_transfer",
        reason=None,
        injected=True,
        entity_type="account",
        entity_id=customer.account_id,
        branch_id=branch_id,
        detail=f"injected same-day cumulative {group}: {count} transactions, "
        f"{sum(shares):.0%} of the {line} line",
        events=events,
    )
    ctx.expected_crossings[(customer.account_id, group, line, day)] = case
    return case


def _daytime(ctx: SimContext, rng: random.Random, day: date) -> datetime:
    return at_seconds(ctx.calendar.midnight(day), rng.randint(8 * 3600, 22 * 3600))


def structuring(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    group = GROUPS[index % len(GROUPS)]
    day, today, branch_id = _slot(ctx, rng)
    customer = _customer_for(ctx, rng, branch_id, group)
    if customer is None:
        return None
    count = rng.randint(2, 4)
    overnight = day != ctx.days[-1] and rng.random() < 0.4
    at_counter = today is not None and not overnight and rng.random() < 0.5
    foreign = group == "individual_crossborder" or (group == "cash" and at_counter)
    usd = foreign and rng.random() < 0.3
    midnight = ctx.calendar.midnight(day)
    if overnight:  # evening of `day`, then the next morning: within 24 hours, two calendar days
        times = [at_seconds(midnight, rng.randint(19 * 3600, 23 * 3600))]
        times += sorted(
            at_seconds(midnight, rng.randint(31 * 3600, 36 * 3600)) for _ in range(count - 1)
        )
    else:
        times = sorted(at_seconds(midnight, rng.randint(8 * 3600, 22 * 3600)) for _ in range(count))
    events: list[Event] = []
    for at in times:
        spec = _spec(ctx, rng, customer, group, rng.uniform(0.82, 0.97), usd)
        events.extend(_place(ctx, rng, spec, day, today, None if at_counter else at))
    return Case(
        category="structuring",
        reason=None,
        injected=True,
        entity_type="account",
        entity_id=customer.account_id,
        branch_id=branch_id,
        detail=f"injected structuring {group}: {count} transactions of 82-97% of the "
        f"{'USD' if usd else 'CNY'} line{' across midnight' if overnight else ''}",
        events=events,
    )


def _session_start(ctx: SimContext, rng: random.Random, kind: str) -> datetime | None:
    """When an after-hours session of ``kind`` starts (None when the period has no such day)."""
    days = ctx.days
    if kind == "holiday":
        pool = [d for d in days if ctx.calendar.is_holiday(d)]
    elif kind == "weekend":
        pool = [
            d for d in days if not ctx.calendar.is_working_day(d) and not ctx.calendar.is_holiday(d)
        ]
    elif kind == "early":
        pool = [d for d in days if ctx.calendar.is_working_day(d)]
    else:
        pool = list(days)
    if not pool:
        return None
    day = rng.choice(pool)
    if kind == "early":
        return ctx.calendar.opens(day) - timedelta(seconds=rng.randint(3600, 9000))
    if kind == "night":
        return at_seconds(ctx.calendar.closes(day), rng.randint(3600, 5 * 3600 + 1800))
    return at_seconds(ctx.calendar.midnight(day), rng.randint(9 * 3600, 16 * 3600))


def after_hours(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    kind = SESSION_KINDS[index % len(SESSION_KINDS)]
    start = _session_start(ctx, rng, kind)
    if start is None:
        kind, start = "night", _session_start(ctx, rng, "night")
    operator = pick_operator(ctx, rng)
    if operator is None or start is None:
        return None
    accounts = ctx.bank.customers[operator.branch_id]
    factory = ctx.factory
    events: list[Event] = [factory.action(operator, start, "login")]
    at = start
    for _ in range(rng.randint(2, 6)):
        at = at_seconds(at, rng.randint(60, 480))
        target = rng.choice(accounts).account_id
        events.append(
            factory.action(operator, at, rng.choice(SESSION_ACTIONS), target_account_id=target)
        )
    events.append(factory.action(operator, at_seconds(at, rng.randint(60, 300)), "logout"))
    return Case(
        category="after_hours",
        reason=None,
        injected=True,
        entity_type="operator",
        entity_id=operator.operator_id,
        branch_id=operator.branch_id,
        detail=f"injected {kind} session by {operator.role}",
        events=events,
    )
