"""Decode once: the compact form the worker forwards rebuilds exactly the validated event."""

from __future__ import annotations

import json

from monitor.codec import from_compact, to_compact
from monitor.events import decode_event
from monitor.simulator import SimConfig, simulate

EXTRA = (
    '{"kind": "transaction", "event_id": "e1", "occurred_at": "2026-03-03T10:00:00Z",'
    ' "branch_id": " B1 ", "txn_id": "T1", "account_id": "A1", "account_type": "individual",'
    ' "amount": 80000.50, "currency": "CNY", "direction": "debit", "channel": "wire",'
    ' "txn_type": "transfer", "initiator_id": "op1", "status": "posted", "note": "n", "n": 3}'
)


def roundtrip(text: str) -> None:
    event = decode_event(text)
    # Through JSON, as the decoder sends it in a bundle and a stage reads it.
    rebuilt = from_compact(json.loads(json.dumps(to_compact(event))))
    assert rebuilt == event
    assert type(rebuilt) is type(event)
    assert rebuilt.occurred_at == event.occurred_at
    assert rebuilt.occurred_at.utcoffset() == event.occurred_at.utcoffset()
    assert rebuilt.model_dump() == event.model_dump()
    assert rebuilt.model_fields_set == event.model_fields_set
    assert rebuilt.model_extra == event.model_extra  # no decimal extras here (see monitor.codec)
    assert rebuilt.model_dump_json() == event.model_dump_json()


def test_a_validated_event_with_extra_fields_comes_back_equal() -> None:
    roundtrip(EXTRA)
    rebuilt = from_compact(json.loads(json.dumps(to_compact(decode_event(EXTRA)))))
    assert rebuilt.branch_id == "B1"  # stripped by the contract, once
    assert str(rebuilt.amount) == "80000.50"  # type: ignore[union-attr]


def test_every_simulated_event_comes_back_equal() -> None:
    events = simulate(SimConfig(days=1, branches=2, seed=3)).events
    assert len(events) > 500
    for event in events:
        roundtrip(event.model_dump_json(exclude_none=True))
