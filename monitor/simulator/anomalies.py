"""Injected rule-less anomalies: cases for the anomaly models, invisible to the rules.

- ``account_takeover``: an account that only ever used a few channels suddenly sends several
  online transfers in the small hours to a new counterparty in a country it never dealt with,
  each many times its usual amount but well below every line.
- ``dormant_drain``: an account idle since the start of the period moves out most of its balance
  in a few hours through several transfers below the lines.
- ``bulk_view``: a teller or auditor opens dozens of customer records within an hour, in
  business hours, while on shift.

None may raise a rule alert: amounts stay below 78% of their line and the same-day total below
90% (checked against the ledger), operator actions stay inside business hours, and no counter or
wire transaction is involved.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from monitor.events import Channel
from monitor.simulator.bank import Customer, external_account
from monitor.simulator.context import SimContext, at_seconds
from monitor.simulator.factory import Event, TxnSpec
from monitor.simulator.flows import fit_amount, self_service
from monitor.simulator.labels import Case
from monitor.simulator.slots import pick_customer, pick_shift, working_slot

__all__ = ["account_takeover", "bulk_view", "dormant_drain"]

NEW_COUNTRIES = ("KH", "MM", "LA", "PH", "AE", "TR", "NG", "PA")


def _late_day(ctx: SimContext, rng: random.Random) -> int:
    """A day index in the second half of the period, so that the account has a history."""
    return rng.randrange(len(ctx.days) // 2, len(ctx.days))


def _transfers(
    ctx: SimContext, rng: random.Random, specs: list[TxnSpec], times: list[datetime]
) -> list[Event]:
    """Self-service transfers, each shrunk if needed to stay clear of its line."""
    events: list[Event] = []
    for spec, at in zip(specs, times, strict=True):
        amount = fit_amount(ctx.ledger, spec, at.date(), rng, 0)
        if amount is None:
            continue
        events.extend(
            self_service(ctx.factory, rng, replace(spec, amount=amount), at, injected=True)
        )
    return events


def _quiet_online_customer(customer: Customer) -> bool:
    names = {s.name for s in customer.segments}
    return (
        customer.rate > 0.2
        and customer.fx_currency is None
        and "online" not in customer.channels
        and not names & {"counter_transfer", "online_transfer"}
    )


def account_takeover(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    day = ctx.days[_late_day(ctx, rng)]
    branch_id = rng.choice(ctx.bank.branch_ids)
    customer = pick_customer(ctx, rng, branch_id, "individual", _quiet_online_customer)
    if customer is None:
        return None
    country = rng.choice(NEW_COUNTRIES)
    counterparty = f"{country}{rng.randrange(10**14):014d}"
    at = at_seconds(ctx.calendar.midnight(day), rng.randint(3600, 16200))
    times, specs = [], []
    for _ in range(rng.randint(2, 3)):
        amount = Decimal(rng.randint(250, 550) * 100)
        specs.append(
            TxnSpec(customer, amount, "CNY", "debit", "online", "transfer", counterparty, country)
        )
        times.append(at)
        at = at_seconds(at, rng.randint(180, 900))
    events = _transfers(ctx, rng, specs, times)
    if not events:
        return None
    return Case(
        category="model_anomaly",
        reason="account_takeover",
        injected=True,
        entity_type="account",
        entity_id=customer.account_id,
        branch_id=branch_id,
        detail=f"online transfers in the small hours to a new counterparty in {country}; "
        f"usual channels {', '.join(sorted(customer.channels))}",
        events=events,
    )


def dormant_drain(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    day = ctx.days[max(_late_day(ctx, rng), min(1, len(ctx.days) - 1))]
    branch_id = rng.choice(ctx.bank.branch_ids)
    customer = pick_customer(ctx, rng, branch_id, "individual", lambda c: c.rate == 0.0)
    if customer is None:
        return None
    balance = rng.randint(120_000, 420_000)
    drained = balance * rng.uniform(0.85, 0.97)
    count = rng.randint(3, 5)
    weights = [rng.uniform(0.6, 1.4) for _ in range(count)]
    receivers = [external_account(rng) for _ in range(rng.randint(1, 2))]
    at = at_seconds(ctx.calendar.midnight(day), rng.randint(10 * 3600, 19 * 3600))
    times, specs = [], []
    for weight in weights:
        amount = Decimal(f"{drained * weight / sum(weights):.2f}")
        channel: Channel = "mobile" if rng.random() < 0.5 else "online"
        country = ctx.config.home_country if rng.random() < 0.5 else None
        specs.append(
            TxnSpec(
                customer,
                amount,
                "CNY",
                "debit",
                channel,
                "transfer",
                rng.choice(receivers),
                country,
            )
        )
        times.append(at)
        at = at_seconds(at, rng.randint(300, 2400))
    events = _transfers(ctx, rng, specs, times)
    if not events:
        return None
    return Case(
        category="model_anomaly",
        reason="dormant_drain",
        injected=True,
        entity_type="account",
        entity_id=customer.account_id,
        branch_id=branch_id,
        detail=f"dormant account drained of about CNY {drained:,.0f} of a CNY {balance:,} balance "
        f"in {count} transfers",
        events=events,
    )


def bulk_view(ctx: SimContext, rng: random.Random, index: int) -> Case | None:
    today = working_slot(ctx, rng)
    if today is None:
        return None
    shift = pick_shift(
        ctx, rng, [s for s in today.shifts if s.operator.role in ("teller", "auditor")]
    )
    if shift is None:
        return None
    start = max(shift.login, today.opens) + timedelta(minutes=10)
    end = min(shift.logout, today.closes) - timedelta(minutes=62)
    if end <= start:
        return None
    first = at_seconds(start, rng.uniform(0, (end - start).total_seconds()))
    span = rng.randint(40 * 60, 58 * 60)
    population = ctx.bank.all_customers()
    count = min(rng.randint(30, 70), len(population))
    accounts = rng.sample(population, count)
    times = sorted(at_seconds(first, rng.uniform(0, span)) for _ in range(count))
    operator = shift.operator
    events: list[Event] = [
        ctx.factory.action(operator, at, "view_customer", target_account_id=c.account_id)
        for at, c in zip(times, accounts, strict=True)
    ]
    return Case(
        category="model_anomaly",
        reason="bulk_view",
        injected=True,
        entity_type="operator",
        entity_id=operator.operator_id,
        branch_id=operator.branch_id,
        detail=f"{count} customer records viewed within {span // 60} minutes by a {operator.role}",
        events=events,
    )
