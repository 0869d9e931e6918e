"""Picking where and when an injected case happens, and whom it involves.

Every injected case uses accounts and operators no other injected case uses (``ctx.reserved``),
so that cases never add up into alerts nobody labelled.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from monitor.simulator.bank import Customer, Operator
from monitor.simulator.context import SimContext, at_seconds
from monitor.simulator.roster import BranchDay, Shift

__all__ = ["counter_time", "pick_customer", "pick_operator", "pick_shift", "working_slot"]


def working_slot(ctx: SimContext, rng: random.Random, *, late: bool = False) -> BranchDay | None:
    """A random branch on a random working day (in the second half of the period if ``late``)."""
    work = ctx.working_days()
    if late:
        work = [i for i in work if i >= len(ctx.days) // 2] or work
    if not work:
        return None
    index = rng.choice(work)
    return ctx.rosters[index][rng.choice(ctx.bank.branch_ids)]


def counter_time(rng: random.Random, shift: Shift, today: BranchDay) -> datetime:
    """A moment in ``shift``'s counter window (a review 20 minutes later still fits the day)."""
    start, end = shift.counter_window(today.opens, today.closes)
    return at_seconds(start, rng.uniform(0, max(0.0, (end - start).total_seconds())))


def pick_shift(
    ctx: SimContext, rng: random.Random, shifts: list[Shift], *, reserve: bool = True
) -> Shift | None:
    """A shift whose operator no injected case has used yet (reserved unless told otherwise)."""
    free = [s for s in shifts if s.operator.operator_id not in ctx.reserved]
    if not free:
        return None
    shift = rng.choice(free)
    if reserve:
        ctx.reserved.add(shift.operator.operator_id)
    return shift


def pick_operator(ctx: SimContext, rng: random.Random) -> Operator | None:
    """Any operator of the bank not used by an injected case yet (and reserves them)."""
    free = [o for o in ctx.bank.all_operators() if o.operator_id not in ctx.reserved]
    if not free:
        return None
    operator = rng.choice(free)
    ctx.reserved.add(operator.operator_id)
    return operator


def pick_customer(
    ctx: SimContext,
    rng: random.Random,
    branch_id: str,
    account_type: str,
    accept: Callable[[Customer], bool] | None = None,
) -> Customer | None:
    """An unreserved customer of ``account_type`` at the branch that ``accept`` likes."""
    pool = [
        c
        for c in ctx.bank.customers[branch_id]
        if c.account_type == account_type
        and c.account_id not in ctx.reserved
        and (accept(c) if accept is not None else c.rate > 0.0)
    ]
    if not pool:
        return None
    customer = rng.choice(pool)
    ctx.reserved.add(customer.account_id)
    return customer
