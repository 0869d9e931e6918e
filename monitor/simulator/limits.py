"""The rule lines the simulator must respect, mirrored from the shipped packs.

Each transaction falls under at most one large-value *group* (which line applies to it), exactly
as the macros of ``00_base.yaml`` and the conditions of ``10_large_transfers.yaml`` decide:

- ``cash``: a deposit or withdrawal at the counter or an ATM (any account type);
- ``individual_domestic``: an individual's transfer or payment without a foreign counterparty;
- ``individual_crossborder``: an individual's transfer or payment to a foreign counterparty;
- ``corporate``: a corporate transfer or payment.

A CNY amount is compared with the CNY line; any other currency is converted to USD. The tests
check these tables against the loaded rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from monitor.simulator.config import CNY_PER_UNIT

__all__ = [
    "DAILY_RULES",
    "GROUPS",
    "LINES",
    "REVIEW_CHANNELS",
    "REVIEW_LINE_CNY",
    "SINGLE_RULES",
    "STRUCTURING_RULES",
    "Group",
    "Line",
    "group_of",
    "measure",
    "needs_review",
    "to_cny",
]

Group = Literal["cash", "individual_domestic", "individual_crossborder", "corporate"]
GROUPS: tuple[Group, ...] = ("cash", "individual_domestic", "individual_crossborder", "corporate")

LINES: dict[Group, dict[str, Decimal]] = {
    "cash": {"CNY": Decimal(50000), "USD": Decimal(10000)},
    "individual_domestic": {"CNY": Decimal(500000), "USD": Decimal(100000)},
    "individual_crossborder": {"CNY": Decimal(200000), "USD": Decimal(10000)},
    "corporate": {"CNY": Decimal(2000000), "USD": Decimal(200000)},
}
SINGLE_RULES: dict[Group, str] = {
    "cash": "large_cash_single",
    "individual_domestic": "large_transfer_individual_domestic_single",
    "individual_crossborder": "large_transfer_individual_crossborder_single",
    "corporate": "large_transfer_corporate_single",
}
DAILY_RULES: dict[Group, str] = {
    "cash": "large_cash_daily",
    "individual_domestic": "large_transfer_individual_domestic_daily",
    "individual_crossborder": "large_transfer_individual_crossborder_daily",
    "corporate": "large_transfer_corporate_daily",
}
STRUCTURING_RULES: dict[Group, str] = {
    "cash": "structuring_cash",
    "individual_domestic": "structuring_individual_transfer",
    "individual_crossborder": "structuring_crossborder_transfer",
    "corporate": "structuring_corporate_transfer",
}
REVIEW_LINE_CNY = Decimal(50000)
REVIEW_CHANNELS = frozenset({"counter", "wire"})
_CASH_CHANNELS = frozenset({"counter", "atm"})
_CASH_TYPES = frozenset({"deposit", "withdrawal"})
_TRANSFER_TYPES = frozenset({"transfer", "payment"})

Line = tuple[str, Decimal, Decimal]
"""``(line currency, threshold, measured amount)``, as :class:`monitor.rules.money.Threshold`."""


def group_of(
    txn_type: str,
    channel: str,
    account_type: str,
    counterparty_country: str | None,
    home_country: str,
) -> Group | None:
    """The large-value group of a transaction, or ``None`` when no line applies."""
    if txn_type in _CASH_TYPES:
        return "cash" if channel in _CASH_CHANNELS else None
    if txn_type not in _TRANSFER_TYPES:
        return None
    if account_type == "corporate":
        return "corporate"
    if counterparty_country is not None and counterparty_country != home_country:
        return "individual_crossborder"
    return "individual_domestic"


def to_cny(amount: Decimal, currency: str) -> Decimal:
    """Convert to CNY with the pack's table (the dual-review rule converts to CNY)."""
    return amount if currency == "CNY" else amount * CNY_PER_UNIT[currency]


def measure(group: Group, amount: Decimal, currency: str) -> Line:
    """Which line of ``group`` applies and the amount measured against it (as the rules do)."""
    amounts = LINES[group]
    if currency in amounts:
        return currency, amounts[currency], amount
    return "USD", amounts["USD"], amount * CNY_PER_UNIT[currency] / CNY_PER_UNIT["USD"]


def needs_review(channel: str, amount: Decimal, currency: str) -> bool:
    """Whether maker-checker applies: a counter or wire transaction of CNY 50,000 or more."""
    return channel in REVIEW_CHANNELS and to_cny(amount, currency) >= REVIEW_LINE_CNY
