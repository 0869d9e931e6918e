"""Seeded per-branch traffic on the CN calendar, with silences cut out, for the ops tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays

ZONE = ZoneInfo("Asia/Shanghai")
CN = holidays.country_holidays("CN", years=range(2025, 2028))


def working(day: date) -> bool:
    """The bank's own notion, written independently of riskmon's calendar."""
    if day in CN:
        return False
    return day.weekday() < 5 or day in CN.weekend_workdays


def traffic(
    branches: tuple[str, ...],
    first: date,
    days: int,
    silences: dict[str, list[tuple[datetime, datetime]]],
    seed: int = 1,
) -> Iterator[dict[str, object]]:
    """Posted transactions in event-time order: about 1 a minute per branch in business hours
    of a working day, a fifth of that on other days' business hours, a trickle at night."""
    rng = random.Random(seed)
    start = datetime.combine(first, datetime.min.time(), ZONE)
    minute = 0
    serial = 0
    while minute < days * 1440:
        at = start + timedelta(minutes=minute)
        opened = (8 * 60 + 30) <= at.hour * 60 + at.minute < (17 * 60 + 30)
        rate = (1.0 if working(at.date()) else 0.2) if opened else 0.03
        for branch in branches:
            if any(lo <= at < hi for lo, hi in silences.get(branch, [])):
                continue
            if working(at.date()) and at.hour * 60 + at.minute in (8 * 60 + 31, 17 * 60 + 29):
                for clerk in range(4):  # four clerks a branch log in and out
                    serial += 1
                    yield {
                        "kind": "operator_action",
                        "event_id": f"e{serial}",
                        "occurred_at": (at + timedelta(seconds=clerk)).isoformat(),
                        "branch_id": branch,
                        "operator_id": f"{branch}-clerk{clerk}",
                        "role": "teller",
                        "action": "login" if at.hour < 12 else "logout",
                        "terminal_id": f"{branch}-t{clerk}",
                        "outcome": "success",
                    }
            for _ in range(_poisson(rng, rate)):
                serial += 1
                yield {
                    "kind": "transaction",
                    "event_id": f"e{serial}",
                    "occurred_at": (at + timedelta(seconds=rng.randrange(60))).isoformat(),
                    "branch_id": branch,
                    "txn_id": f"t{serial}",
                    "account_id": f"62220202{serial % 97:08d}",
                    "account_type": "individual",
                    "amount": "120.00",
                    "currency": "CNY",
                    "direction": "debit",
                    "channel": "counter" if opened else "mobile",
                    "txn_type": "payment",
                    "initiator_id": f"op-{branch}",
                    "status": "posted",
                }
        minute += 1


def _poisson(rng: random.Random, lam: float) -> int:
    n, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p < limit:
            return n
        n += 1


def local(day: str, hour: int, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=ZONE)
