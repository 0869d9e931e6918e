"""Fuzzing the event contract and the decoder (issue 11, item 6).

The only acceptable outcomes are a valid event or a clean :class:`EventDecodeError` with a known
reason. CI runs a bounded number of examples; ``RISKMON_FUZZ_EXAMPLES`` raises it for a long run
(README, "Fuzzing").
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.contract import ISO_4217
from monitor.currency import CurrencyGate
from monitor.dedup import EventDeduplicator, admission
from monitor.errors import EventDecodeError
from monitor.events import (
    MAX_EVENT_BYTES,
    Event,
    OperatorAction,
    Transaction,
    decode_event,
    encode_event,
)

EXAMPLES = int(os.environ.get("RISKMON_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REASONS = {"invalid_json", "schema", "encoding", "too_large"}

# Identifiers: printable text of every script (the contract refuses control/format characters).
ident = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")),
    min_size=1,
    max_size=40,
)
moment = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.astimezone(timezone(timedelta(hours=8))).isoformat())
amount = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("9999999999999"), places=4)


def _literal(model: type, name: str) -> st.SearchStrategy[str]:
    return st.sampled_from(list(model.model_fields[name].annotation.__args__))


def _common(kind: str) -> dict[str, st.SearchStrategy[Any]]:
    return {"kind": st.just(kind), "event_id": ident, "occurred_at": moment, "branch_id": ident}


transactions = st.fixed_dictionaries(
    {
        **_common("transaction"),
        "txn_id": ident,
        "account_id": ident,
        "account_type": _literal(Transaction, "account_type"),
        "amount": amount.map(str),
        "currency": st.sampled_from(sorted(ISO_4217)),
        "direction": _literal(Transaction, "direction"),
        "channel": _literal(Transaction, "channel"),
        "txn_type": _literal(Transaction, "txn_type"),
        "initiator_id": ident,
        "status": _literal(Transaction, "status"),
    },
    optional={"counterparty_account": ident, "counterparty_country": st.sampled_from(["CN", "US"])},
)
actions = st.fixed_dictionaries(
    {
        **_common("operator_action"),
        "operator_id": ident,
        "role": _literal(OperatorAction, "role"),
        "action": _literal(OperatorAction, "action"),
        "terminal_id": ident,
        "outcome": st.sampled_from(["success", "failure"]),
    },
    optional={"target_txn_id": ident, "target_account_id": ident},
)
events = transactions | actions
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def outcome(raw: bytes | str) -> Event | None:
    """Decode; only a valid event or a clean, typed error may come out."""
    try:
        return decode_event(raw)
    except EventDecodeError as exc:
        assert exc.reason in REASONS, exc
        assert exc.detail
        return None


@FUZZ
@given(events)
def test_every_valid_event_decodes_and_round_trips(data: dict[str, Any]) -> None:
    event = decode_event(json.dumps(data, ensure_ascii=False))
    again = decode_event(encode_event(event))
    assert again == event
    assert encode_event(again) == encode_event(event)


@FUZZ
@given(events, st.data())
def test_mutated_events_decode_or_fail_cleanly(data: dict[str, Any], draw: st.DataObject) -> None:
    mutated = dict(data)
    for _ in range(draw.draw(st.integers(min_value=1, max_value=3))):
        field = draw.draw(st.sampled_from([*sorted(mutated), "extra"]))
        action = draw.draw(st.sampled_from(["drop", "replace", "text"]))
        if action == "drop":
            mutated.pop(field, None)
        elif action == "replace":
            mutated[field] = draw.draw(json_values)
        else:
            mutated[field] = draw.draw(st.text(max_size=30))
    result = outcome(json.dumps(mutated, ensure_ascii=False))
    if result is not None:  # whatever was accepted obeys the contract and round-trips
        assert decode_event(encode_event(result)) == result


@FUZZ
@given(st.binary(max_size=2000))
def test_arbitrary_bytes(raw: bytes) -> None:
    outcome(raw)


@FUZZ
@given(events, st.data())
def test_byte_flips_in_valid_events(data: dict[str, Any], draw: st.DataObject) -> None:
    raw = bytearray(json.dumps(data, ensure_ascii=False).encode())
    for _ in range(draw.draw(st.integers(min_value=1, max_value=4))):
        position = draw.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        how = draw.draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = draw.draw(st.integers(min_value=0, max_value=255))
        if how == "flip":
            raw[position] = byte
        elif how == "insert":
            raw.insert(position, byte)
        elif len(raw) > 1:
            del raw[position]
    outcome(bytes(raw))


@FUZZ
@given(st.integers(min_value=MAX_EVENT_BYTES - 8, max_value=MAX_EVENT_BYTES + 8))
def test_sizes_around_the_limit(size: int) -> None:
    padded = json.dumps({"kind": "transaction", "pad": ""})
    raw = padded.replace('""', '"' + "x" * max(0, size - len(padded)) + '"').encode()
    try:
        decode_event(raw)
    except EventDecodeError as exc:
        assert exc.reason == ("too_large" if len(raw) > MAX_EVENT_BYTES else "schema")


@pytest.mark.slow
@FUZZ
@given(st.lists(events, min_size=1, max_size=30), st.data())
def test_the_admission_screen_only_admits_drops_or_dead_letters(
    batch: list[dict[str, Any]], draw: st.DataObject
) -> None:
    # Repeat some events verbatim and some with changed content under the same id.
    stream = list(batch)
    for item in batch[: draw.draw(st.integers(min_value=0, max_value=len(batch)))]:
        stream.append(item if draw.draw(st.booleans()) else {**item, "branch_id": "other"})
    gate = CurrencyGate(frozenset({"CNY", "USD"}))
    dedup = EventDeduplicator(window_seconds=3600.0, max_entries=10)
    admit = admission(gate.check, dedup=dedup)
    for item in stream:
        event = decode_event(json.dumps(item, ensure_ascii=False))
        try:
            assert admit(event) in (True, False)
        except EventDecodeError as exc:
            assert exc.reason in {"unknown_currency", "duplicate_event_id"}
    assert len(dedup) <= 10
