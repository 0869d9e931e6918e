"""The event contract: strict decoding, precise errors, round trips."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import EventDecodeError
from monitor.events import MAX_EVENT_BYTES, OperatorAction, Transaction, decode_event, encode_event

TXN = {
    "kind": "transaction",
    "event_id": "e1",
    "occurred_at": "2026-03-03T10:00:00+08:00",
    "branch_id": "BR001",
    "txn_id": "T1",
    "account_id": "6222020200001234",
    "account_type": "individual",
    "amount": "50000.10",
    "currency": "CNY",
    "direction": "debit",
    "channel": "counter",
    "txn_type": "withdrawal",
    "initiator_id": "op-t1",
    "status": "initiated",
}
ACTION = {
    "kind": "operator_action",
    "event_id": "e2",
    "occurred_at": "2026-03-03T10:05:00+08:00",
    "branch_id": "BR001",
    "operator_id": "op-s1",
    "role": "supervisor",
    "action": "approve",
    "target_txn_id": "T1",
    "terminal_id": "TERM-1",
    "outcome": "success",
}


def test_transaction_amount_is_decimal_and_extra_fields_are_kept() -> None:
    event = decode_event(json.dumps({**TXN, "amount": 50000.10, "note": "x"}))
    assert isinstance(event, Transaction)
    assert event.amount == Decimal("50000.10")
    assert event.model_extra == {"note": "x"}


def test_operator_action_decodes() -> None:
    event = decode_event(json.dumps(ACTION).encode())
    assert isinstance(event, OperatorAction)
    assert event.target_txn_id == "T1"


@pytest.mark.parametrize(
    ("change", "reason", "fragment"),
    [
        ({"occurred_at": "2026-03-03T10:00:00"}, "schema", "occurred_at"),
        ({"amount": "ten"}, "schema", "amount"),
        ({"amount": True}, "schema", "amount"),
        ({"amount": "-5"}, "schema", "amount"),
        ({"channel": "fax"}, "schema", "channel"),
        ({"currency": "yuan"}, "schema", "currency"),
        ({"kind": "tweet"}, "schema", "kind"),
        ({"account_type": "trust"}, "schema", "account_type"),
    ],
)
def test_schema_errors_name_the_field(
    change: dict[str, object], reason: str, fragment: str
) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode_event(json.dumps({**TXN, **change}))
    assert info.value.reason == reason
    assert fragment in info.value.detail


def test_missing_field_is_named() -> None:
    data = dict(TXN)
    del data["account_id"]
    with pytest.raises(EventDecodeError, match=r"transaction\.account_id: Field required"):
        decode_event(json.dumps(data))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "schema"),
        (b"\xff\xfe", "encoding"),
        (b"x" * (MAX_EVENT_BYTES + 1), "too_large"),
        (json.dumps(TXN)[:-7].encode(), "invalid_json"),
    ],
)
def test_undecodable_input(raw: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode_event(raw)
    assert info.value.reason == reason


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_arbitrary_bytes_raise_only_decode_errors(raw: bytes) -> None:
    try:
        decode_event(raw)
    except EventDecodeError as exc:
        assert exc.reason in {"invalid_json", "schema", "encoding", "too_large"}


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999"), places=2)


@given(
    amount=amounts,
    channel=st.sampled_from(["counter", "atm", "mobile", "online", "wire", "batch"]),
    status=st.sampled_from(["initiated", "posted", "reversed"]),
    minute=st.integers(min_value=0, max_value=59),
    country=st.none() | st.sampled_from(["CN", "US", "HK"]),
)
def test_transactions_round_trip(
    amount: Decimal, channel: str, status: str, minute: int, country: str | None
) -> None:
    data = {
        **TXN,
        "amount": str(amount),
        "channel": channel,
        "status": status,
        "occurred_at": f"2026-03-03T10:{minute:02d}:00+08:00",
    }
    if country:
        data["counterparty_country"] = country
    event = decode_event(json.dumps(data))
    again = decode_event(encode_event(event))
    assert again == event
    assert again.amount == amount


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("branch_id", "BR\u202eX"),  # RIGHT-TO-LEFT OVERRIDE: the "at branch BR ‮X"
        ("event_id", "e\x00"),  # NUL
        ("account_id", "6222\u200b0200"),  # ZERO WIDTH SPACE
        ("txn_id", "T1\nT2"),  # newline (log injection)
        ("initiator_id", "op\u2066x"),  # LEFT-TO-RIGHT ISOLATE
        ("note", "free text \x1b[31m"),  # an extra field: same rules
    ],
)
def test_control_and_bidi_characters_are_refused(field: str, value: str) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode_event(json.dumps({**TXN, field: value}))
    assert info.value.reason == "schema"
    assert "not allowed" in info.value.detail and "U+" in info.value.detail


def test_ordinary_non_ascii_text_is_kept() -> None:
    event = decode_event(json.dumps({**TXN, "branch_id": "北京分行-01", "note": "café"}))
    assert event.branch_id == "北京分行-01"


@pytest.mark.parametrize("value", [1772503200, 1772503200.5, 0, True])
def test_epoch_timestamps_are_refused(value: object) -> None:
    with pytest.raises(EventDecodeError, match=r"occurred_at: .*RFC 3339"):
        decode_event(json.dumps({**TXN, "occurred_at": value}))


@pytest.mark.parametrize(("code", "ok"), [("CNY", True), ("NGN", True), ("XYZ", False),
                                           ("BTC", False), ("XXX", False)])  # fmt: skip
def test_currency_must_be_iso_4217(code: str, ok: bool) -> None:
    data = json.dumps({**TXN, "currency": code})
    if ok:
        assert decode_event(data).currency == code  # type: ignore[union-attr]
    else:
        with pytest.raises(EventDecodeError, match="ISO 4217"):
            decode_event(data)


def test_an_extra_field_that_is_null_survives_a_round_trip() -> None:
    """Found by the fuzzer: ``"extra": null`` was dropped on encoding, so the event changed."""
    line = json.dumps(
        {"event_id": "e1", "kind": "operator_action", "occurred_at": "2026-03-03T10:00:00+08:00",
         "branch_id": "BR1", "operator_id": "op-1", "role": "teller", "action": "login",
         "terminal_id": "T-1", "outcome": "success", "note": None}
    )  # fmt: skip
    event = decode_event(line)
    assert decode_event(encode_event(event)) == event
    assert '"note":null' in encode_event(event) and "target_txn_id" not in encode_event(event)
