"""The simulated bank: branches, staff with roles, and customers with one account each.

Identifiers look like a bank's: branches ``BR001``; staff ``BR001-T03`` (T teller, S supervisor,
M manager, A auditor, D admin, I IT) on workstation ``BR001-WS03``; individual customers
``C001000123`` with 19-digit card accounts ``622202...``; corporate customers ``CO00100012`` with
16-digit settlement accounts. Nothing here depends on the day: the roster does that.
"""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from itertools import accumulate

from monitor.events import AccountType, Role
from monitor.simulator.config import SimConfig
from monitor.simulator.segments import (
    BRANCH_CHANNELS,
    CORPORATE_SEGMENTS,
    FOREIGN,
    INDIVIDUAL_SEGMENTS,
    Segment,
)

__all__ = ["Bank", "Customer", "Operator", "build_bank", "external_account"]

ROLE_LETTERS: dict[Role, str] = {
    "teller": "T",
    "supervisor": "S",
    "manager": "M",
    "auditor": "A",
    "admin": "D",
    "it": "I",
}
_FOREIGN_CUM = tuple(accumulate(share for _, _, share in FOREIGN))


@dataclass(frozen=True, slots=True)
class Operator:
    operator_id: str
    role: Role
    branch_id: str
    terminal_id: str


@dataclass(frozen=True, slots=True)
class Customer:
    customer_id: str
    account_id: str
    account_type: AccountType
    branch_id: str
    rate: float
    """Expected transactions per working day; 0 for a dormant account."""
    scale: float
    """Multiplies every segment's median amount: some customers are richer than others."""
    segments: tuple[Segment, ...]
    open_cum: tuple[float, ...]
    """Cumulative (unnormalised) weights over ``segments`` on working days."""
    closed_cum: tuple[float, ...]
    """The same with counter and wire segments removed (weekends, holidays); may be empty."""
    counterparties: tuple[str, ...]
    fx_currency: str | None
    fx_country: str | None
    foreign_counterparties: tuple[str, ...]

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(s.channel for s in self.segments)

    @property
    def dormant(self) -> bool:
        return self.rate == 0.0


@dataclass
class Bank:
    branch_ids: list[str]
    operators: dict[str, list[Operator]] = field(default_factory=dict)
    """Staff by branch (branch staff first, then bank-wide staff assigned to it)."""
    customers: dict[str, list[Customer]] = field(default_factory=dict)

    def all_customers(self) -> list[Customer]:
        return [c for b in self.branch_ids for c in self.customers[b]]

    def all_operators(self) -> list[Operator]:
        return [o for b in self.branch_ids for o in self.operators[b]]


_CARD_PREFIXES = ("6217", "6228", "6230", "6214", "6212", "6225")
_CORPORATE_PREFIXES = ("1100", "3100", "4400", "1200")
_CARD_DIGITS = (12, 13, 15)


def external_account(rng: random.Random, corporate: bool = False) -> str:
    """An account number at another bank (16-19 digits), from a single 64-bit draw."""
    bits = rng.getrandbits(64)
    if corporate:
        return f"{_CORPORATE_PREFIXES[bits & 3]}{(bits >> 8) % 10**12:012d}"
    digits = _CARD_DIGITS[(bits >> 3) % 3]
    return f"{_CARD_PREFIXES[bits % 6]}{(bits >> 8) % 10**digits:0{digits}d}"


def build_bank(config: SimConfig) -> Bank:
    """Build branches, staff and customers from ``config`` (deterministic in ``config.seed``)."""
    rng = random.Random(f"{config.seed}:bank")
    bank = Bank(branch_ids=[f"BR{i:03d}" for i in range(1, config.branches + 1)])
    for index, branch_id in enumerate(bank.branch_ids, start=1):
        bank.operators[branch_id] = _branch_staff(config, branch_id)
        bank.customers[branch_id] = _customers(config, rng, branch_id, index)
    bank_wide: list[tuple[Role, int]] = [
        ("auditor", config.auditors),
        ("admin", config.admins),
        ("it", config.it_staff),
    ]
    slot = 0
    for role, count in bank_wide:
        for number in range(1, count + 1):
            branch_id = bank.branch_ids[slot % len(bank.branch_ids)]
            slot += 1
            staff = bank.operators[branch_id]
            staff.append(_operator(branch_id, role, number, len(staff) + 1))
    return bank


def _operator(branch_id: str, role: Role, number: int, terminal: int) -> Operator:
    return Operator(
        f"{branch_id}-{ROLE_LETTERS[role]}{number:02d}",
        role,
        branch_id,
        f"{branch_id}-WS{terminal:02d}",
    )


def _branch_staff(config: SimConfig, branch_id: str) -> list[Operator]:
    counts: list[tuple[Role, int]] = [
        ("teller", config.tellers_per_branch),
        ("supervisor", config.supervisors_per_branch),
        ("manager", config.managers_per_branch),
    ]
    staff: list[Operator] = []
    for role, count in counts:
        for number in range(1, count + 1):
            staff.append(_operator(branch_id, role, number, len(staff) + 1))
    return staff


def _customers(config: SimConfig, rng: random.Random, branch_id: str, index: int) -> list[Customer]:
    corporate = round(config.customers_per_branch * config.corporate_share)
    out: list[Customer] = []
    for seq in range(config.customers_per_branch):
        is_corporate = seq >= config.customers_per_branch - corporate
        out.append(_customer(config, rng, branch_id, index, seq, is_corporate))
    return out


def _customer(
    config: SimConfig,
    rng: random.Random,
    branch_id: str,
    index: int,
    seq: int,
    corporate: bool,
) -> Customer:
    fx_share = min(0.5, config.fx_share * 4) if corporate else config.fx_share
    fx_currency = fx_country = None
    if rng.random() < fx_share:
        pick = bisect(_FOREIGN_CUM, rng.random() * _FOREIGN_CUM[-1])
        fx_currency, fx_country, _ = FOREIGN[min(pick, len(FOREIGN) - 1)]
    pool = CORPORATE_SEGMENTS if corporate else INDIVIDUAL_SEGMENTS
    segments = tuple(
        s for s in pool if (fx_currency or not s.fx_only) and rng.random() < s.adoption
    ) or (pool[1],)
    weights = [s.weight * (0.25 + 1.5 * rng.random()) for s in segments]
    closed = [
        0.0 if s.channel in BRANCH_CHANNELS else w for s, w in zip(segments, weights, strict=True)
    ]
    dormant = rng.random() < config.dormant_share
    if corporate:
        rate = 0.0 if dormant else config.corporate_daily_rate * math.exp(0.8 * rng.gauss() - 0.3)
        customer_id = f"CO{index:03d}{seq:05d}"
        account_id = f"3100{index:03d}{seq:05d}{int(rng.random() * 10000):04d}"
    else:
        rate = 0.0 if dormant else config.individual_daily_rate * math.exp(0.9 * rng.gauss() - 0.4)
        customer_id = f"C{index:03d}{seq:06d}"
        account_id = f"622202{index:03d}{seq:06d}{int(rng.random() * 10000):04d}"
    return Customer(
        customer_id=customer_id,
        account_id=account_id,
        account_type="corporate" if corporate else "individual",
        branch_id=branch_id,
        rate=rate,
        scale=math.exp(0.5 * rng.gauss()),
        segments=segments,
        open_cum=tuple(accumulate(weights)),
        closed_cum=tuple(accumulate(closed)) if any(closed) else (),
        counterparties=tuple(
            external_account(rng, corporate) for _ in range(2 + int(rng.random() * 4))
        ),
        fx_currency=fx_currency,
        fx_country=fx_country,
        foreign_counterparties=tuple(
            f"{fx_country}{rng.getrandbits(46) % 10**14:014d}" for _ in range(2) if fx_country
        ),
    )
