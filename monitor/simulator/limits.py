"""The rule lines the simulator must respect, read from the loaded rule set.

Each transaction falls under at most one large-value *group* (which line applies to it), exactly
as the macros of ``00_base.yaml`` and the conditions of ``10_large_transfers.yaml`` decide:

- ``cash``: a deposit or withdrawal at the counter or an ATM (any account type);
- ``individual_domestic``: an individual's transfer or payment without a foreign counterparty;
- ``individual_crossborder``: an individual's transfer or payment to a foreign counterparty;
- ``corporate``: a corporate transfer or payment.

The amounts of each line, the currency table, the dual-review line and its time limit are not
copied here: :func:`limits_from_rules` reads them from the rules that will judge the output, so
an auditor who raises a threshold gets a simulator that tests the new one. What stays here is
which rule ids speak for which group (ids are stable; renaming one is a major pack version).
A CNY amount is compared with the CNY line; any other currency is converted to USD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Literal

from monitor.rules.kinds.condition import ConditionRuleRuntime
from monitor.rules.kinds.sequence import SequenceRuleRuntime
from monitor.rules.ruleset import RuleSet
from monitor.rules.schema import AggregateRule, ConditionRule, SequenceRule

__all__ = [
    "DAILY_RULES",
    "GROUPS",
    "REVIEW_CHANNELS_LIST",
    "REVIEW_RULE",
    "SINGLE_RULES",
    "STRUCTURING_RULES",
    "Group",
    "Limits",
    "Line",
    "group_of",
    "limits_from_rules",
    "shipped_limits",
]

Group = Literal["cash", "individual_domestic", "individual_crossborder", "corporate"]
GROUPS: tuple[Group, ...] = ("cash", "individual_domestic", "individual_crossborder", "corporate")

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
REVIEW_RULE = "dual_review"
REVIEW_CHANNELS_LIST = "dual_review_channels"
"""The list of the rule set that names the channels maker-checker applies to."""
_CASH_CHANNELS = frozenset({"counter", "atm"})
_CASH_TYPES = frozenset({"deposit", "withdrawal"})
_TRANSFER_TYPES = frozenset({"transfer", "payment"})

Line = tuple[str, Decimal, Decimal]
"""``(line currency, threshold, measured amount)``, as :class:`monitor.rules.money.Threshold`."""


class LimitsError(ValueError):
    """The rule set lacks a rule or a line the simulator needs."""


@dataclass(frozen=True)
class Limits:
    """The lines of one rule set, as the simulator reads them.

    ``lines`` maps each group to its per-currency amounts (the single-transaction rule's; the
    daily and structuring rules must agree), ``cny_per_unit`` is the currency table,
    ``review_line_cny`` the dual-review amount, ``review_within_seconds`` its time limit and
    ``review_channels`` the channels it applies to.
    """

    lines: Mapping[Group, Mapping[str, Decimal]]
    cny_per_unit: Mapping[str, Decimal]
    review_line_cny: Decimal
    review_within_seconds: float
    review_channels: frozenset[str]
    _room: dict[tuple[Group, str, Decimal, Decimal], tuple[Decimal, Decimal]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def to_cny(self, amount: Decimal, currency: str) -> Decimal:
        """Convert to CNY with the pack's table (the dual-review rule converts to CNY)."""
        return amount if currency == "CNY" else amount * self.cny_per_unit[currency]

    def measure(self, group: Group, amount: Decimal, currency: str) -> Line:
        """Which line of ``group`` applies and the amount measured against it (as the rules do)."""
        amounts = self.lines[group]
        if currency in amounts:
            return currency, amounts[currency], amount
        usd = amount * self.cny_per_unit[currency] / self.cny_per_unit["USD"]
        return "USD", amounts["USD"], usd

    def needs_review(self, channel: str, amount: Decimal, currency: str) -> bool:
        """Whether maker-checker applies: a review channel's transaction at the review line."""
        if channel not in self.review_channels:
            return False
        return self.to_cny(amount, currency) >= self.review_line_cny

    def room(
        self, group: Group, currency: str, cap: Decimal, daily: Decimal
    ) -> tuple[Decimal, Decimal]:
        """``(cap, daily)`` shares of the line of ``group`` in ``currency``, computed once."""
        key = (group, currency, cap, daily)
        found = self._room.get(key)
        if found is None:
            limit = self.lines[group][currency]
            found = self._room[key] = (limit * cap, limit * daily)
        return found


def _amounts(ruleset: RuleSet, rule_id: str) -> dict[str, Decimal]:
    spec = ruleset.specs.get(rule_id)
    if not isinstance(spec, ConditionRule | AggregateRule | SequenceRule) or not spec.threshold:
        raise LimitsError(f"the simulator needs rule {rule_id!r} with a threshold")
    return {currency: Decimal(amount) for currency, amount in dict(spec.threshold).items()}


def limits_from_rules(ruleset: RuleSet) -> Limits:
    """The lines, currency table and dual-review limits of ``ruleset`` (overrides applied).

    Raises :class:`LimitsError` when a rule the simulator keeps clear of is missing, or when the
    single, daily and structuring rules of one group disagree on its line.
    """
    lines: dict[Group, dict[str, Decimal]] = {}
    for group in GROUPS:
        single = _amounts(ruleset, SINGLE_RULES[group])
        for rules in (DAILY_RULES, STRUCTURING_RULES):
            other = _amounts(ruleset, rules[group])
            if other != single:
                raise LimitsError(
                    f"rules {SINGLE_RULES[group]!r} and {rules[group]!r} disagree on the "
                    f"{group} line ({single} vs {other}); the simulator needs one line per group"
                )
        lines[group] = single
    cash = next((r for r in ruleset.rules if r.id == SINGLE_RULES["cash"]), None)
    if not isinstance(cash, ConditionRuleRuntime) or cash.threshold is None:
        raise LimitsError(f"the simulator needs rule {SINGLE_RULES['cash']!r} enabled")
    review = next((r for r in ruleset.rules if r.id == REVIEW_RULE), None)
    if not isinstance(review, SequenceRuleRuntime):
        raise LimitsError(f"the simulator needs rule {REVIEW_RULE!r} enabled")
    channels = ruleset.definitions.get(f"list {REVIEW_CHANNELS_LIST}")
    if channels is None:
        raise LimitsError(f"the simulator needs the list {REVIEW_CHANNELS_LIST!r}")
    return Limits(
        lines=lines,
        cny_per_unit=dict(cash.threshold.table.rates),
        review_line_cny=_amounts(ruleset, REVIEW_RULE)["CNY"],
        review_within_seconds=review.within,
        review_channels=frozenset(channels[1]),
    )


@cache
@cache
def shipped_limits() -> Limits:
    """The limits of the shipped packs (loaded once)."""
    from monitor.rules.loader import load_rules

    return limits_from_rules(load_rules([]))


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
