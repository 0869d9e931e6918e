"""Replay's fast paths give what the plain paths give (issue 14, "replay near its floor").

- The rule stages' shared gate pass (a rule without state whose gate refuses an event is not
  called) raises the same alerts as calling every rule.
- Plain amounts read by ``Decimal`` equal what the amount validator gives, and everything else
  is still judged by the validator.
- ``content_hash`` without the serializer equals the hash of the serializer's dict.
"""

from __future__ import annotations

import hashlib
import json
import random
from decimal import Decimal

import pytest
from pydantic import ValidationError

from monitor.dedup import content_hash
from monitor.engine import Engine, Stage
from monitor.events import _AMOUNT, Event, _fast_amount, decode_event
from monitor.rules.loader import load_rules
from monitor.simulator import SimConfig, simulate


def _alerts(events: list[Event], gated: bool) -> list[str]:
    ruleset = load_rules()
    if not gated:
        for rule in ruleset.rules:
            rule.predicate_fields = None  # no gate: every candidate rule is called
    engine = Engine(ruleset, operations=False)
    out = [alert.to_json() for event in events for alert in engine.process(event)]
    out += [alert.to_json() for alert in engine.flush()]
    return [json.dumps({**json.loads(a), "detected_at": None}, sort_keys=True) for a in out]


def test_gated_stages_raise_the_same_alerts_as_calling_every_rule() -> None:
    events = simulate(SimConfig(days=3, branches=3, customers_per_branch=200, seed=5)).events
    gated = _alerts(events, gated=True)
    assert gated == _alerts(events, gated=False)
    assert len(gated) >= 3  # the stream does raise rule alerts


def test_gates_skip_most_rule_calls_on_a_quiet_account() -> None:
    ruleset = load_rules()
    stage = Stage("account", ruleset.by_entity("account"))
    calls: list[str] = []
    for rule in stage.rules:
        original = rule.on_event

        def counted(*args: object, _rule_id: str = rule.id, _original: object = original):
            calls.append(_rule_id)
            return _original(*args)  # type: ignore[operator]

        rule.on_event = counted  # type: ignore[method-assign]
    event = decode_event(
        '{"kind": "transaction", "event_id": "e1", "branch_id": "B1",'
        ' "occurred_at": "2026-03-03T10:00:00+08:00", "txn_id": "T1", "account_id": "A1",'
        ' "account_type": "individual", "amount": "120.00", "currency": "CNY",'
        ' "direction": "debit", "channel": "mobile", "txn_type": "payment",'
        ' "initiator_id": "A1", "status": "posted", "counterparty_country": "CN"}'
    )
    state: dict[str, object] = {}
    assert stage.process("A1", event, state) == []
    # A domestic individual payment: only the rules whose condition takes it are called.
    wanted = {r.id for r in stage.rules if r.predicate(event) and event.status != "reversed"}
    assert set(calls) == wanted
    assert len(calls) < len(stage.rules)


def test_plain_amounts_read_as_the_validator_reads_them() -> None:
    rng = random.Random(14)
    texts = ["100", "100.50", "0.0001", "1.0000", "0100", "9999999999999999.9999", "1e5", "5."]
    texts += [".5", "+5", "12345678901234567.1", "00.5", "10.12345", "٣", 7, 0, "0", "0.0000"]
    for _ in range(3000):
        text = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 18)))
        if rng.random() < 0.6:
            text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 6)))
        texts.append(text)
    for text in texts:
        try:
            expected: Decimal | None = _AMOUNT.validate_python(text)
        except ValidationError:
            expected = None
        if expected is None:
            with pytest.raises(ValidationError):
                _fast_amount(text)
        else:
            got = _fast_amount(text)
            assert got.as_tuple() == expected.as_tuple(), text


def _reference_hash(event: Event) -> str:
    data = event.model_dump(mode="json")
    data["occurred_at"] = event.occurred_at.timestamp()
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@pytest.mark.parametrize("amount", ['"100"', '"100.50"', '"1e5"', "250", "12.50", '" 7 "'])
@pytest.mark.parametrize(
    "extra", ["", ', "note": "über"', ', "x": 1.25', ', "counterparty_country": null']
)
@pytest.mark.parametrize("account", ["A1", "账户-7"])
def test_content_hash_is_the_serializers_hash(amount: str, extra: str, account: str) -> None:
    event = decode_event(
        '{"kind": "transaction", "event_id": "e1", "branch_id": "B1",'
        ' "occurred_at": "2026-03-02T09:00:00+08:00", "txn_id": "t", "account_id": "'
        + account
        + '", "account_type": "individual", "amount": '
        + amount
        + ', "currency": "CNY", "direction": "debit", "channel": "atm", "txn_type": "deposit",'
        ' "initiator_id": "i", "status": "posted"' + extra + "}"
    )
    assert content_hash(event) == _reference_hash(event)


def test_content_hash_of_simulated_events_is_the_serializers_hash() -> None:
    events = simulate(SimConfig(days=1, branches=2, customers_per_branch=100, seed=9)).events
    assert events
    for event in events:
        assert content_hash(event) == _reference_hash(event)
