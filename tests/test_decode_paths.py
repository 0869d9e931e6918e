"""decode_event's two paths (one-pass validate_json, and json.loads + validate_python) agree."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from monitor.codec import to_compact
from monitor.errors import EventDecodeError
from monitor.events import _EVENT_ADAPTER, _may_hold_float, decode_event

BASE = {
    "kind": "transaction",
    "event_id": "E1",
    "occurred_at": "2026-03-02T09:00:00.250+08:00",
    "branch_id": "BR001",
    "txn_id": "T1",
    "account_id": "3100001",
    "account_type": "individual",
    "amount": "100.10",
    "currency": "CNY",
    "direction": "debit",
    "channel": "atm",
    "txn_type": "withdrawal",
    "initiator_id": "C1",
    "status": "posted",
}


def slow(raw: str) -> object:
    return _EVENT_ADAPTER.validate_python(json.loads(raw, parse_float=Decimal))


@pytest.mark.parametrize(
    ("changes", "floats"),
    [
        ({}, False),  # amount as a decimal string: the one-pass path
        ({"amount": 250}, False),  # an integer amount
        ({"note": "ratio:1.5, [2e3"}, True),  # a string that looks like floats: the slow path
        ({"amount": 100.10}, True),  # a JSON float keeps its decimal digits (100.10, not 100.1)
        ({"amount": 1e5}, True),
        ({"score": 0.1000000000000000055511151231257827}, True),  # a float extra stays exact
        ({"nested": {"x": [1, 2.5]}}, True),
    ],
)
def test_both_paths_give_the_same_event(changes: dict[str, object], floats: bool) -> None:
    raw = json.dumps(BASE | changes)
    assert _may_hold_float(raw) is floats
    assert _may_hold_float(raw.encode()) is floats
    event = decode_event(raw)
    expected = slow(raw)
    assert event == expected
    assert to_compact(event) == to_compact(expected)  # what the worker forwards
    assert str(event.amount) == str(expected.amount)  # type: ignore[union-attr]


def test_a_float_amount_keeps_its_digits() -> None:
    event = decode_event(
        '{"amount": 100.10, ' + json.dumps(BASE)[1:].replace('"amount": "100.10", ', "")
    )
    assert str(event.amount) == "100.10"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (json.dumps(BASE | {"amount": "-5"}), "schema"),
        (json.dumps(BASE)[:-1], "invalid_json"),
        (b"\xff" + json.dumps(BASE).encode(), "encoding"),
        ("[1, 2]", "schema"),
    ],
)
def test_refused_lines_keep_their_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as caught:
        decode_event(raw)
    assert caught.value.reason == reason
