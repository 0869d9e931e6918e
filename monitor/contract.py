"""The field rules of the event contract, in one place.

The pydantic models in :mod:`monitor.events` use these checks, and so must any faster decoder:
both accept and reject exactly the same input.

- Identifiers and free text must not contain control, format (bidirectional overrides, zero-width
  characters), surrogate, private-use or line/paragraph separator characters: a ``U+202E`` in a
  branch id would otherwise reorder the text of every alert message that prints it.
- ``occurred_at`` is an RFC 3339 *string* with an offset; an integer epoch is refused (its unit
  and zone are guesses).
- ``currency`` is an active ISO 4217 code (``XXX`` "no currency" and ``XTS`` "testing" excluded).
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

__all__ = [
    "ISO_4217",
    "MAX_TEXT_CHARS",
    "check_currency",
    "check_text",
    "check_timestamp_type",
    "text_problem",
]

MAX_TEXT_CHARS = 128
"""Longest identifier the contract accepts."""

# Active ISO 4217 codes (list one, 2025), funds and precious-metal codes included.
_ISO_4217_TEXT = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK
    JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK
    MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN
    PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB
    TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
    XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
    """
ISO_4217 = frozenset(_ISO_4217_TEXT.split())

# Unicode general categories refused in identifiers and free text: controls (NUL, ESC, newline),
# format characters (U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, U+FEFF), surrogates,
# private use, unassigned code points, and line/paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def text_problem(value: str) -> str | None:
    """Why ``value`` is not acceptable text, or ``None`` if it is.

    >>> text_problem("BR001") is None
    True
    >>> text_problem("BR\\u202eX")
    'character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 2 is not allowed'
    >>> text_problem("a\\x00b")
    'character U+0000 (control) at position 1 is not allowed'
    """
    if value.isascii() and value.isprintable():
        return None  # the common case, without a per-character scan
    for position, char in enumerate(value):
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            name = unicodedata.name(char, "control")
            return f"character U+{ord(char):04X} ({name}) at position {position} is not allowed"
    return None


def check_text(value: str) -> str:
    """``value`` unchanged, or :class:`ValueError` naming the first refused character."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def check_timestamp_type(value: Any) -> Any:
    """Refuse numbers as timestamps: the contract requires RFC 3339 text with an offset."""
    if isinstance(value, bool | int | float | Decimal):  # JSON numbers are decoded as Decimal
        raise ValueError(
            "a timestamp is RFC 3339 text with an offset (2026-03-03T10:00:00+08:00), "
            "not an epoch number"
        )
    return value


def check_currency(value: str) -> str:
    """``value`` if it is an ISO 4217 code, else :class:`ValueError`.

    >>> check_currency("CNY")
    'CNY'
    >>> check_currency("BTC")
    Traceback (most recent call last):
    ...
    ValueError: 'BTC' is not an ISO 4217 currency code
    """
    if value not in ISO_4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value
