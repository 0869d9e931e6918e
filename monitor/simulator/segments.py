"""Customer behaviour as data: transaction segments and the hour-of-day profiles they follow.

A *segment* is one kind of everyday transaction (an individual's mobile payment, a corporate
payroll batch...). Each customer adopts a subset of segments when the bank is built and draws
every transaction from them, so customers differ in channels, amounts and habits. Amounts are
lognormal around ``median_cny`` times the customer's own scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

from monitor.events import Channel, TxnType

__all__ = [
    "BRANCH_CHANNELS",
    "CORPORATE_SEGMENTS",
    "FOREIGN",
    "HOUR_PROFILES",
    "INDIVIDUAL_SEGMENTS",
    "Segment",
]


BRANCH_CHANNELS = frozenset({"counter", "wire"})
"""Channels that need an open branch and a teller."""


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    adoption: float
    """Probability that a customer uses this segment at all."""
    weight: float
    """Relative frequency among the segments a customer uses."""
    channel: Channel
    txn_type: TxnType
    debit_share: float
    median_cny: float
    sigma: float
    step: int = 0
    """Rounding in currency units (100: whole hundreds, as cash); 0 means cents."""
    hours: str = "retail"
    cross_border: bool = False
    fx_only: bool = False
    """Only customers with a foreign currency use it; the amount is in that currency."""
    max_cny: float | None = None


# fmt: off
INDIVIDUAL_SEGMENTS: tuple[Segment, ...] = (
    #       name                  adopt weight channel    txn type      debit  median    sigma
    Segment("mobile_transfer",    0.80, 0.30, "mobile",  "transfer",   0.6,     400.0, 1.2,
            max_cny=200000.0),
    Segment("mobile_payment",     0.85, 0.25, "mobile",  "payment",    1.0,      80.0, 1.1,
            max_cny=50000.0),
    Segment("online_transfer",    0.30, 0.06, "online",  "transfer",   0.6,    2000.0, 1.2),
    Segment("online_payment",     0.30, 0.05, "online",  "payment",    1.0,     300.0, 1.1),
    Segment("atm_withdrawal",     0.60, 0.10, "atm",     "withdrawal", 1.0,     800.0, 0.7,
            step=100, hours="atm", max_cny=5000.0),
    Segment("atm_deposit",        0.20, 0.03, "atm",     "deposit",    0.0,    2000.0, 0.8,
            step=100, hours="atm", max_cny=20000.0),
    Segment("counter_deposit",    0.35, 0.04, "counter", "deposit",    0.0,    5000.0, 1.0,
            step=100),
    Segment("counter_withdrawal", 0.30, 0.03, "counter", "withdrawal", 1.0,    6000.0, 1.0,
            step=100),
    Segment("counter_transfer",   0.25, 0.03, "counter", "transfer",   1.0,   30000.0, 1.1),
    Segment("batch_salary",       0.60, 0.04, "batch",   "deposit",    0.0,    8000.0, 0.5,
            hours="batch"),
    Segment("batch_autopay",      0.50, 0.04, "batch",   "payment",    1.0,     150.0, 0.8,
            hours="batch"),
    Segment("wire_remittance",    0.60, 0.02, "wire",    "transfer",   1.0,   12000.0, 0.7,
            cross_border=True, fx_only=True),
    Segment("online_crossborder", 0.50, 0.02, "online",  "payment",    1.0,    3000.0, 0.9,
            cross_border=True, fx_only=True),
    Segment("counter_fx_cash",    0.30, 0.01, "counter", "deposit",    0.0,    8000.0, 0.8,
            step=100, fx_only=True),
)

CORPORATE_SEGMENTS: tuple[Segment, ...] = (
    Segment("corp_online_transfer",    0.95, 0.40, "online",  "transfer",   0.55,  60000.0, 1.3,
            hours="office"),
    Segment("corp_online_payment",     0.90, 0.20, "online",  "payment",    1.0,   20000.0, 1.2,
            hours="office"),
    Segment("corp_mobile_payment",     0.40, 0.05, "mobile",  "payment",    1.0,    5000.0, 1.0,
            hours="office", max_cny=200000.0),
    Segment("corp_batch_payroll",      0.70, 0.03, "batch",   "payment",    1.0,  300000.0, 0.8,
            hours="batch"),
    Segment("corp_batch_collection",   0.30, 0.05, "batch",   "deposit",    0.0,   50000.0, 1.0,
            hours="batch"),
    Segment("corp_counter_deposit",    0.60, 0.08, "counter", "deposit",    0.0,   15000.0, 0.8,
            step=100),
    Segment("corp_counter_withdrawal", 0.30, 0.03, "counter", "withdrawal", 1.0,   10000.0, 0.8,
            step=100),
    Segment("corp_counter_transfer",   0.50, 0.10, "counter", "transfer",   1.0,  120000.0, 1.0),
    Segment("corp_wire",               0.80, 0.06, "wire",    "transfer",   1.0,  300000.0, 1.0,
            cross_border=True, fx_only=True),
)
# fmt: on

FOREIGN: tuple[tuple[str, str, float], ...] = (
    ("USD", "US", 0.45),
    ("HKD", "HK", 0.20),
    ("EUR", "DE", 0.10),
    ("JPY", "JP", 0.06),
    ("GBP", "GB", 0.06),
    ("SGD", "SG", 0.06),
    ("AUD", "AU", 0.04),
    ("CAD", "CA", 0.03),
)
"""(currency, counterparty country, share of foreign-currency customers)."""


def _cumulative(weights: list[float]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(x / total for x in accumulate(weights))


HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    # Cumulative hour-of-day weights (local time).
    "retail": _cumulative(
        [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 4, 6, 7, 7, 8, 7, 6, 6, 6, 6, 7, 8, 8, 7, 5, 2]
    ),
    "atm": _cumulative(
        [0.5, 0.3, 0.2, 0.1, 0.1, 0.3, 1, 3, 5, 6, 6, 7, 7, 6, 6, 6, 7, 8, 8, 7, 5, 3, 2, 1]
    ),
    "office": _cumulative(
        [
            0.1,
            0.1,
            0.1,
            0.1,
            0.1,
            0.1,
            0.2,
            0.5,
            3,
            8,
            8,
            8,
            5,
            8,
            8,
            8,
            8,
            4,
            1,
            1,
            1,
            0.5,
            0.3,
            0.2,
        ]
    ),
    "batch": _cumulative([0, 3, 5, 5, 3, 1, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
}
