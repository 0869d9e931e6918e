"""Which currencies the monitor can judge: an amount it cannot convert is dead-lettered.

A large-value control that money in an unknown currency can skip is a hole in the control, so an
event whose currency is a valid ISO 4217 code (the contract checks that) but has no conversion rate
in the rate tables the rules use is refused with reason ``unknown_currency``.

The rate table is data: the shipped rule packs carry a ``currency_table: default`` and the entry
points may replace it from a settings file (``RISKMON_CURRENCY_RATES_FILE``, see
:func:`rates_override_text`). Nothing here reads files or the environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from monitor.contract import check_currency
from monitor.errors import EventDecodeError
from monitor.events import Event, Transaction

__all__ = ["CurrencyGate", "cny_per_unit", "parse_rates", "rates_override_text"]


def cny_per_unit(rules: Iterable[object]) -> dict[str, float]:
    """CNY per one unit of each currency, from the currency table the rules' money thresholds
    use (the packs' ``currency_table: default``, or ``RISKMON_CURRENCY_RATES_FILE``'s).

    The anomaly models compare amounts in CNY but may not import the rules: whoever builds their
    stages passes this (:meth:`monitor.models.ModelsConfig.with_currency_table`), so the rule set
    holds the only table. Empty if no rule has a threshold or the table has no CNY rate.
    """
    for rule in rules:
        threshold = getattr(rule, "threshold", None)
        if threshold is None:
            continue
        table = threshold.table
        rates = {**table.rates, table.base: Decimal(1)}
        per_cny = rates.get("CNY")
        if per_cny is None:
            return {}
        return {code: float(rate / per_cny) for code, rate in rates.items() if code != "CNY"}
    return {}


@dataclass(frozen=True)
class CurrencyGate:
    """Currencies with a rate (or a native threshold); ``None`` lets every currency through."""

    known: frozenset[str] | None

    @classmethod
    def from_rules(cls, rules: Iterable[object]) -> CurrencyGate:
        """The gate for a rule set: the union of what its money thresholds can measure.

        A rule set without money thresholds converts nothing and refuses nothing.
        """
        known: set[str] = set()
        found = False
        for rule in rules:
            threshold = getattr(rule, "threshold", None)
            if threshold is None:
                continue
            found = True
            known.update(threshold.amounts)
            known.add(threshold.table.base)
            known.update(threshold.table.rates)
        return cls(frozenset(known) if found else None)

    def check(self, event: Event) -> None:
        """Raise ``unknown_currency`` for a transaction in a currency with no rate."""
        if self.known is None or not isinstance(event, Transaction):
            return
        if event.currency not in self.known:
            raise EventDecodeError(
                "unknown_currency",
                f"currency: no conversion rate for {event.currency!r} "
                f"(rates known for {', '.join(sorted(self.known))})",
            )


def parse_rates(data: Any, source: str = "rates") -> tuple[str, dict[str, Decimal]]:
    """Validate ``{"base": "CNY", "rates": {"USD": "7.10", ...}}``; ``ValueError`` names the field.

    >>> parse_rates({"base": "CNY", "rates": {"USD": "7.1"}})
    ('CNY', {'USD': Decimal('7.1')})
    >>> parse_rates({"base": "CNY", "rates": {"BTC": 1}})
    Traceback (most recent call last):
    ...
    ValueError: rates: rates.BTC: 'BTC' is not an ISO 4217 currency code
    """
    if not isinstance(data, Mapping) or set(data) != {"base", "rates"}:
        raise ValueError(f"{source}: expected a mapping with exactly the keys base and rates")
    base, rates = data["base"], data["rates"]
    if not isinstance(base, str):
        raise ValueError(f"{source}: base: expected a currency code")
    try:
        check_currency(base)
    except ValueError as exc:
        raise ValueError(f"{source}: base: {exc}") from None
    if not isinstance(rates, Mapping) or not rates:
        raise ValueError(f"{source}: rates: expected a non-empty mapping of code to rate")
    out: dict[str, Decimal] = {}
    for code, value in rates.items():
        try:
            check_currency(str(code))
        except ValueError as exc:
            raise ValueError(f"{source}: rates.{code}: {exc}") from None
        try:
            rate = Decimal(str(value))
        except InvalidOperation:
            rate = Decimal(0)
        if isinstance(value, bool) or not rate.is_finite() or rate <= 0:
            raise ValueError(f"{source}: rates.{code}: expected a positive number, got {value!r}")
        out[str(code)] = rate
    return base, out


def rates_override_text(base: str, rates: Mapping[str, Decimal]) -> str:
    """A rule-file item replacing the ``default`` currency table (loaded after every pack).

    JSON is YAML, so the text needs no YAML emitter.
    """
    item = {
        "currency_table": "default",
        "base": base,
        "rates": {code: str(rate) for code, rate in sorted(rates.items())},
    }
    return json.dumps([item])
