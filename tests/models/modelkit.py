"""Shared data for the model tests: one seeded simulated month, simulated once per session."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from monitor.events import Event, Transaction
from monitor.simulator import SimConfig, simulate

MONTH = SimConfig(days=30, branches=8, seed=7)
"""A smaller seeded month: 8 of the default 20 branches, about 364,000 events and 15 rule-less
anomaly cases. Customers per branch and the inject rate are the simulator's defaults, so cases
come at the full month's rate per event and the default alert rate applies unchanged."""

WEEK = SimConfig(days=7, branches=2, customers_per_branch=300, seed=5, inject_rate=1.0)


@lru_cache(maxsize=2)
def simulated(config: SimConfig) -> tuple[list[Event], list[dict[str, Any]]]:
    import json

    sim = simulate(config)
    return sim.events, [json.loads(label.to_json()) for label in sim.labels]


def debit(
    n: int,
    account: str,
    day: int,
    hour: int,
    amount: str,
    *,
    channel: str = "mobile",
    counterparty: str = "6222000000000001",
    country: str | None = None,
) -> Transaction:
    """A posted debit on day ``day`` (from 2 March 2026) at ``hour`` local time."""
    from datetime import datetime, timedelta, timezone

    at = datetime(2026, 3, 2, tzinfo=timezone(timedelta(hours=8))) + timedelta(
        days=day, hours=hour, minutes=n % 60
    )
    return Transaction.model_validate(
        {
            "event_id": f"e{n}",
            "kind": "transaction",
            "occurred_at": at,
            "branch_id": "B1",
            "txn_id": f"t{n}",
            "account_id": account,
            "account_type": "individual",
            "amount": amount,
            "currency": "CNY",
            "direction": "debit",
            "channel": channel,
            "txn_type": "transfer",
            "counterparty_account": counterparty,
            "counterparty_country": country,
            "initiator_id": "c1",
            "status": "posted",
        }
    )


def routine(accounts: int = 100, days: int = 12) -> list[Transaction]:
    """Every account pays one of three known payees 100-300 CNY by mobile, daily, 10-19h."""
    events, n = [], 0
    for day in range(days):
        for a in range(accounts):
            n += 1
            amount = f"{100 + (a * 7 + day * 13) % 200}.00"
            payee = f"62220000000{a % 3:05d}"
            events.append(
                debit(n, f"A{a:04d}", day, 10 + (a + day) % 9, amount, counterparty=payee)
            )
    return events


def takeover(n: int, account: str, day: int) -> Transaction:
    """A 3am online transfer of 48,000 CNY to a new payee in a new country."""
    return debit(
        n, account, day, 3, "48000.00", channel="online", counterparty="KH0001", country="KH"
    )
