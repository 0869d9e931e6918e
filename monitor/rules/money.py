"""Currency conversion and threshold lines, from the pack's currency table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple


class Line(NamedTuple):
    """A threshold line: its currency, its limit, and the amount measured against it."""

    currency: str
    limit: Decimal
    measured: Decimal

    @property
    def reached(self) -> bool:
        return self.measured >= self.limit


@dataclass(frozen=True)
class CurrencyTable:
    """Rates in units of ``base`` per one unit of each currency (``base`` itself is 1)."""

    base: str
    rates: Mapping[str, Decimal]

    def convert(self, amount: Decimal, source: str, target: str) -> Decimal | None:
        """Convert ``amount`` from ``source`` to ``target``; ``None`` if a rate is unknown.

        >>> t = CurrencyTable("CNY", {"USD": Decimal("7.2")})
        >>> t.convert(Decimal("100"), "USD", "CNY")
        Decimal('720.0')
        """
        if source == target:
            return amount
        src = Decimal(1) if source == self.base else self.rates.get(source)
        dst = Decimal(1) if target == self.base else self.rates.get(target)
        if src is None or dst is None:
            return None
        return amount * src / dst


@dataclass(frozen=True)
class Threshold:
    """Per-currency amounts: listed currencies compare natively, others convert to one line."""

    amounts: Mapping[str, Decimal]
    convert_to: str
    table: CurrencyTable

    def line(self, amount: Decimal, currency: str) -> Line | None:
        """The line a transaction is measured against, or ``None`` (no conversion rate)."""
        if currency in self.amounts:
            return Line(currency, self.amounts[currency], amount)
        measured = self.table.convert(amount, currency, self.convert_to)
        if measured is None:
            return None
        return Line(self.convert_to, self.amounts[self.convert_to], measured)
