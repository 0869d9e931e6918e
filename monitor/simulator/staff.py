"""Ordinary staff work: log in at the start of the shift, do the role's chores, log out.

Approvals and the teller's customer look-ups belong to the transactions they serve (see
:mod:`monitor.simulator.flows`); here are the rest. A few logins fail once (a mistyped password)
before succeeding. Every action falls inside the operator's shift, hence inside business hours
on a working day.
"""

from __future__ import annotations

import random
from datetime import timedelta

from monitor.events import Action, Role
from monitor.simulator.context import SimContext, at_seconds, rng_for
from monitor.simulator.roster import BranchDay, Shift

__all__ = ["CHORES", "staff_day"]

CHORES: dict[Role, tuple[tuple[Action, int, int], ...]] = {
    # (action, fewest, most) per shift
    "teller": (("modify_account", 0, 2), ("unlock_account", 0, 1)),
    "supervisor": (("review", 1, 4), ("override", 0, 1)),
    "manager": (
        ("export_data", 1, 1),
        ("change_limit", 0, 2),
        ("override", 0, 1),
        ("review", 0, 3),
    ),
    "auditor": (("view_customer", 4, 12), ("review", 2, 6), ("export_data", 0, 1)),
    "admin": (("unlock_account", 1, 4), ("modify_account", 1, 4), ("change_limit", 0, 2)),
    "it": (("review", 0, 2),),
}
FAILED_LOGIN_RATE = 0.03


def staff_day(ctx: SimContext, today: BranchDay) -> None:
    """Log-ins, chores and log-outs of everyone on duty at one branch on one working day."""
    rng = rng_for(ctx.config, "staff", today.branch_id, today.day.isoformat())
    accounts = [c.account_id for c in ctx.bank.customers[today.branch_id]]
    for shift in today.shifts:
        _shift_work(ctx, rng, shift, accounts)


def _shift_work(ctx: SimContext, rng: random.Random, shift: Shift, accounts: list[str]) -> None:
    factory = ctx.factory
    operator = shift.operator
    login = shift.login
    if rng.random() < FAILED_LOGIN_RATE:
        factory.action(operator, login, "login", success=False)
        login = at_seconds(login, rng.randint(20, 90))
    factory.action(operator, login, "login")
    first = login + timedelta(minutes=5)
    span = (shift.logout - timedelta(minutes=5) - first).total_seconds()
    for action, fewest, most in CHORES[operator.role]:
        for _ in range(rng.randint(fewest, most)):
            at = at_seconds(first, rng.uniform(0, span))
            factory.action(operator, at, action, target_account_id=rng.choice(accounts))
    factory.action(operator, shift.logout, "logout")
