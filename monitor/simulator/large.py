"""Genuinely large transactions: ordinary business that the large-value rules must report.

A few per branch per working day (fewer on closed days, and then only online): a house purchase,
a big cash deposit, an overseas remittance, a large corporate payment. Each is at least its line,
reviewed properly when it goes through the counter or a wire, and labelled ``large_transfer``
with ``injected=False``. The helpers here are shared with the injected large transfers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from monitor.events import Channel, Direction, TxnType
from monitor.simulator.bank import Customer, external_account
from monitor.simulator.context import SimContext, at_seconds, rng_for
from monitor.simulator.factory import Event, TxnSpec
from monitor.simulator.flows import self_service, teller_flow
from monitor.simulator.labels import Case
from monitor.simulator.limits import Group, Limits
from monitor.simulator.roster import BranchDay

__all__ = [
    "LARGE_KINDS",
    "LargeKind",
    "active_customer",
    "generate_large",
    "make_large",
    "run_spec",
]


@dataclass(frozen=True)
class LargeKind:
    """A kind of genuinely large transaction: its amount is drawn between ``low`` and ``high``
    times the line of ``group`` in ``currency``, as the loaded rules draw it."""

    name: str
    account_type: str
    channel: Channel
    txn_type: TxnType
    direction: Direction
    currency: str
    group: Group
    low: Decimal
    high: Decimal
    cross_border: bool = False

    def bounds(self, limits: Limits) -> tuple[int, int]:
        """The amount range in ``currency`` for the lines of ``limits``."""
        line = limits.lines[self.group][self.currency]
        return int(line * self.low), int(line * self.high)


# fmt: off
LARGE_KINDS: tuple[LargeKind, ...] = (
    #         what                              account       channel    txn type    direction
    #         currency, line, amount from and to (times the line), cross-border
    LargeKind("individual cash deposit",        "individual", "counter", "deposit",  "credit",
              "CNY", "cash", Decimal("1.02"), Decimal("3"), False),
    LargeKind("individual house purchase",      "individual", "counter", "transfer", "debit",
              "CNY", "individual_domestic", Decimal("1.02"), Decimal("3.2")),
    LargeKind("individual online transfer",     "individual", "online",  "transfer", "debit",
              "CNY", "individual_domestic", Decimal("1.01"), Decimal("1.8")),
    LargeKind("individual overseas remittance", "individual", "wire",    "transfer", "debit",
              "USD", "individual_crossborder", Decimal("1.05"), Decimal("4"), True),
    LargeKind("corporate online transfer",      "corporate",  "online",  "transfer", "debit",
              "CNY", "corporate", Decimal("1.025"), Decimal("4")),
    LargeKind("corporate cross-border wire",    "corporate",  "wire",    "transfer", "debit",
              "USD", "corporate", Decimal("1.025"), Decimal("4.5"), True),
    LargeKind("corporate cash deposit",         "corporate",  "counter", "deposit",  "credit",
              "CNY", "cash", Decimal("1.1"), Decimal("4")),
)
# fmt: on


def active_customer(
    rng: random.Random, ctx: SimContext, branch_id: str, account_type: str
) -> Customer | None:
    """A random non-dormant customer of ``account_type`` at the branch."""
    pool = [
        c for c in ctx.bank.customers[branch_id] if c.account_type == account_type and c.rate > 0.0
    ]
    return rng.choice(pool) if pool else None


def run_spec(
    ctx: SimContext,
    rng: random.Random,
    spec: TxnSpec,
    day: date,
    today: BranchDay | None,
    *,
    injected: bool,
) -> list[Event]:
    """Put ``spec`` through a teller (counter, wire: properly reviewed) or the customer's own
    channel (at a daytime hour)."""
    if spec.channel in ("counter", "wire"):
        if today is None:
            return []
        teller = rng.choice(today.tellers)
        start, end = teller.counter_window(today.opens, today.closes)
        at = at_seconds(start, rng.uniform(0, (end - start).total_seconds()))
        return list(teller_flow(ctx.factory, rng, spec, teller, at, today, injected=injected))
    at = at_seconds(ctx.calendar.midnight(day), rng.randint(9 * 3600, 21 * 3600))
    return list(self_service(ctx.factory, rng, spec, at, injected=injected))


def make_large(
    ctx: SimContext,
    rng: random.Random,
    kind: LargeKind,
    customer: Customer,
    day: date,
    today: BranchDay | None,
    *,
    injected: bool,
) -> Case | None:
    """One transaction of ``kind`` at or above its line, as a labelled case."""
    amount = Decimal(rng.randint(*kind.bounds(ctx.ledger.limits)))
    if kind.txn_type == "deposit":
        amount = amount // 100 * 100
    country = counterparty = None
    currency = kind.currency
    if kind.cross_border:
        country = customer.fx_country or "US"
        counterparty = (customer.foreign_counterparties or (f"US{rng.randrange(10**14):014d}",))[0]
    elif kind.txn_type == "transfer":
        counterparty = external_account(rng, kind.account_type == "corporate")
        country = ctx.config.home_country
    spec = TxnSpec(
        customer,
        amount,
        currency,
        kind.direction,
        kind.channel,
        kind.txn_type,
        counterparty,
        country,
    )
    events = run_spec(ctx, rng, spec, day, today, injected=injected)
    if not events:
        return None
    txn_id = next(e.txn_id for e in events if e.kind == "transaction")
    origin = "injected" if injected else "genuine"
    return Case(
        category="large_transfer",
        reason=None,
        injected=injected,
        entity_type="transaction",
        entity_id=txn_id,
        branch_id=customer.branch_id,
        detail=f"{origin} single {kind.name}: {currency} {amount:,}",
        events=events,
    )


def generate_large(ctx: SimContext) -> None:
    """The genuinely large transactions of every branch and day."""
    rate = ctx.config.large_per_branch_day
    for index, day in enumerate(ctx.days):
        for branch_id in ctx.bank.branch_ids:
            today = ctx.rosters[index].get(branch_id)
            rng = rng_for(ctx.config, "large", branch_id, day.isoformat())
            kinds = LARGE_KINDS if today else [k for k in LARGE_KINDS if k.channel == "online"]
            for _ in range(_count(rng, rate if today else rate * 0.2)):
                kind = rng.choice(kinds)
                customer = active_customer(rng, ctx, branch_id, kind.account_type)
                if customer is None:
                    continue
                case = make_large(ctx, rng, kind, customer, day, today, injected=False)
                if case is not None:
                    ctx.cases.append(case)


def _count(rng: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)
