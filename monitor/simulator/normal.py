"""Ordinary customer traffic: every active customer's transactions, day by day, branch by branch.

Each customer makes a Poisson number of transactions per day (fewer on weekends and holidays,
when counter and wire segments are closed), each from one of the segments it adopted. Amounts are
lognormal and then kept clear of every rule line (:func:`~monitor.simulator.flows.fit_amount`).
Counter and wire transactions go to a teller on duty at the customer's branch, inside the
teller's counter window. A small share of self-service transactions is reversed later.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import replace
from datetime import date, timedelta
from itertools import accumulate

from monitor.simulator.bank import Customer, external_account
from monitor.simulator.context import SimContext, at_seconds, rng_for
from monitor.simulator.factory import TxnSpec
from monitor.simulator.flows import cny_amount, fit_amount, self_service, teller_flow
from monitor.simulator.roster import BranchDay
from monitor.simulator.segments import BRANCH_CHANNELS, HOUR_PROFILES, Segment

__all__ = ["customer_day", "poisson", "random_moment", "segment_spec"]

CLOSED_DAY_FACTOR = {"individual": 0.6, "corporate": 0.15}


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def random_moment(rng: random.Random, profile: str) -> float:
    """Seconds after local midnight, following an hour-of-day profile."""
    hour = min(bisect(HOUR_PROFILES[profile], rng.random()), 23)
    return hour * 3600 + int(rng.random() * 3600)


def segment_spec(rng: random.Random, ctx: SimContext, customer: Customer, seg: Segment) -> TxnSpec:
    """One transaction of ``seg`` for ``customer``, before any line is checked."""
    cny = seg.median_cny * customer.scale * math.exp(seg.sigma * rng.gauss())
    if seg.max_cny is not None and cny > seg.max_cny:
        cny = seg.max_cny * rng.uniform(0.2, 1.0)
    currency, country, counterparty = "CNY", None, None
    fx = customer.fx_currency
    if seg.fx_only and fx is not None and (not seg.cross_border or rng.random() < 0.7):
        currency = fx
    if seg.cross_border and customer.foreign_counterparties:
        country = customer.fx_country
        counterparty = rng.choice(customer.foreign_counterparties)
    elif seg.txn_type in ("transfer", "payment"):
        corporate = customer.account_type == "corporate"
        if rng.random() < 0.85:
            known = customer.counterparties
            counterparty = known[int(rng.random() * len(known))]
        else:
            counterparty = external_account(rng, corporate and rng.random() < 0.5)
        country = ctx.config.home_country if rng.random() < 0.3 else None
    elif seg.channel == "batch":
        counterparty = customer.counterparties[0]  # the employer or the card acquirer
    return TxnSpec(
        customer,
        cny_amount(cny, currency, seg.step, ctx.ledger),
        currency,
        "debit" if rng.random() < seg.debit_share else "credit",
        seg.channel,
        seg.txn_type,
        counterparty,
        country,
    )


def _activity(
    ctx: SimContext, branch_id: str, is_open: bool
) -> tuple[tuple[Customer, ...], tuple[float, ...]]:
    """Active customers of a branch and the cumulative sum of their daily rates (cached)."""
    key = (branch_id, is_open)
    found = ctx.activity.get(key)
    if found is None:
        customers, rates = [], []
        for customer in ctx.bank.customers[branch_id]:
            usable = customer.open_cum if is_open else customer.closed_cum
            rate = customer.rate * (1.0 if is_open else CLOSED_DAY_FACTOR[customer.account_type])
            if rate > 0.0 and usable:
                customers.append(customer)
                rates.append(rate)
        found = ctx.activity[key] = (tuple(customers), tuple(accumulate(rates)))
    return found


def customer_day(ctx: SimContext, branch_id: str, day: date, today: BranchDay | None) -> None:
    """Every ordinary transaction of one branch's customers on one day.

    Each customer's count is Poisson with its own rate; drawing the branch total once and
    sharing it out in proportion to the rates gives the same distribution for far fewer draws.
    """
    config = ctx.config
    rng = rng_for(config, "normal", branch_id, day.isoformat())
    midnight = ctx.calendar.midnight(day)
    tellers = today.tellers if today is not None else []
    windows = [s.counter_window(today.opens, today.closes) for s in tellers] if today else []
    factory, ledger = ctx.factory, ctx.ledger
    customers, cum_rates = _activity(ctx, branch_id, today is not None)
    if not customers:
        return
    total = cum_rates[-1]
    last = len(customers) - 1
    for _ in range(poisson(rng, total)):
        customer = customers[min(bisect(cum_rates, rng.random() * total), last)]
        cum = customer.open_cum if today is not None else customer.closed_cum
        seg = customer.segments[min(bisect(cum, rng.random() * cum[-1]), len(cum) - 1)]
        spec = segment_spec(rng, ctx, customer, seg)
        amount = fit_amount(ledger, spec, day, rng, seg.step)
        if amount is None:
            continue
        if amount != spec.amount:
            spec = replace(spec, amount=amount)
        if today is not None and seg.channel in BRANCH_CHANNELS:
            pick = int(rng.random() * len(tellers))
            start, end = windows[pick]
            at = at_seconds(start, rng.random() * (end - start).total_seconds())
            teller_flow(
                factory, rng, spec, tellers[pick], at, today, reject_rate=config.reject_rate
            )
            continue
        at = at_seconds(midnight, random_moment(rng, seg.hours))
        events = self_service(factory, rng, spec, at)
        if rng.random() < config.reversal_rate:
            later = events[-1].occurred_at + timedelta(seconds=rng.randint(600, 6 * 3600))
            factory.transaction(spec, events[-1].txn_id, later, "reversed", customer.customer_id)
