"""Engine properties: event-time determinism, write-back state, JSON state, idle advance."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.engine import Engine
from monitor.events import decode_event
from monitor.rule_examples import example_events
from monitor.rules.schema import Example
from streams.replay import load_state
from tests.shipped import shipped_rules

RULES = shipped_rules()


def case(*events: dict[str, Any]) -> list[Any]:
    return example_events(Example(events=list(events), expect=[]))


def run(events: list[Any], state: Any = None) -> list[str]:
    engine = Engine(RULES, state)
    out = [a for e in events for a in engine.process(e)] + engine.flush()
    return sorted(f"{a.rule_id}:{a.reason}:{','.join(a.event_ids)}" for a in out)


LATE_CASE = case(
    {
        "kind": "transaction",
        "txn_id": "T9",
        "channel": "counter",
        "amount": "80000",
        "status": "initiated",
        "initiator_id": "op-t1",
        "occurred_at": "2026-03-03T10:00:00+08:00",
    },
    {
        "kind": "transaction",
        "txn_id": "T9",
        "channel": "counter",
        "amount": "80000",
        "status": "posted",
        "initiator_id": "op-t1",
        "occurred_at": "2026-03-03T10:02:00+08:00",
    },
    {
        "kind": "operator_action",
        "action": "approve",
        "target_txn_id": "T9",
        "operator_id": "op-s1",
        "role": "manager",
        "occurred_at": "2026-03-03T10:03:00+08:00",
    },
    {
        "kind": "operator_action",
        "action": "approve",
        "target_txn_id": "T9",
        "operator_id": "op-t1",
        "role": "supervisor",
        "occurred_at": "2026-03-03T10:04:00+08:00",
    },
    {
        "kind": "transaction",
        "txn_id": "T8",
        "channel": "wire",
        "amount": "90000",
        "status": "initiated",
        "initiator_id": "op-t2",
        "occurred_at": "2026-03-03T10:01:00+08:00",
    },
)


@given(st.permutations(range(len(LATE_CASE))))
@settings(max_examples=60, deadline=None)
def test_order_within_lateness_does_not_change_alerts(order: list[int]) -> None:
    # Two topics interleave in any order; decisions wait for the watermark, so the result is the
    # same as in event-time order.
    assert run([LATE_CASE[i] for i in order]) == run(LATE_CASE)


def test_expected_alerts_for_the_mixed_case() -> None:
    # T9 was posted before its valid approval: late (the later self-approval is not judged, the
    # case is decided). T8's deadline (10:31) is after the last event (10:04): still pending.
    assert run(LATE_CASE) == ["dual_review:late:ex-1,ex-2,ex-3"]


class WriteBackChecker(MutableMapping[str, Any]):
    """A state mapping that detects values changed in place after they were written."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._copies: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[key] = value
        self._copies[key] = copy.deepcopy(value)

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        del self._copies[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def mutated(self) -> list[str]:
        return [k for k, v in self._data.items() if v != self._copies[k]]


def test_state_values_are_written_back_never_mutated_in_place() -> None:
    stages: dict[str, Any] = {
        name: WriteBackChecker() for name in ("transaction", "account", "operator")
    }
    engine = Engine(RULES, stages)
    events = LATE_CASE + case(
        {
            "kind": "transaction",
            "txn_id": "C1",
            "txn_type": "withdrawal",
            "channel": "counter",
            "amount": "45000",
            "occurred_at": "2026-03-03T11:00:00+08:00",
        },
        {
            "kind": "transaction",
            "txn_id": "C2",
            "txn_type": "withdrawal",
            "channel": "counter",
            "amount": "45000",
            "occurred_at": "2026-03-03T12:00:00+08:00",
        },
        {
            "kind": "operator_action",
            "action": "login",
            "operator_id": "op-n",
            "occurred_at": "2026-03-03T22:00:00+08:00",
        },
    )
    for event in events:
        engine.process(event)
        for name in ("transaction", "account", "operator"):
            assert stages[name].mutated() == [], f"{name} state changed in place"
    engine.flush()
    assert all(stages[n].mutated() == [] for n in ("transaction", "account", "operator"))


def test_state_is_json_and_resuming_from_json_gives_the_same_alerts() -> None:
    first, second = LATE_CASE[:3], LATE_CASE[3:]
    engine = Engine(RULES)
    alerts = [a for e in first for a in engine.process(e)]
    restored = json.loads(json.dumps(engine.state))
    resumed = Engine(RULES, restored)
    alerts += [a for e in second for a in resumed.process(e)] + resumed.flush()
    assert sorted(a.alert_id for a in alerts) == _ids(LATE_CASE)


def _ids(events: list[Any]) -> list[str]:
    engine = Engine(RULES)
    return sorted(
        a.alert_id for a in [x for e in events for x in engine.process(e)] + engine.flush()
    )


def test_idle_advance_fires_a_missing_review_without_new_events() -> None:
    engine = Engine(RULES)
    (txn,) = case(
        {
            "kind": "transaction",
            "txn_id": "T1",
            "channel": "wire",
            "amount": "100000",
            "status": "initiated",
            "occurred_at": "2026-03-03T10:00:00+08:00",
        }
    )
    assert engine.process(txn) == []
    assert engine.advance_to(txn.occurred_at + timedelta(minutes=29)) == []
    (alert,) = engine.advance_to(txn.occurred_at + timedelta(minutes=31))
    assert (alert.reason, alert.occurred_at) == (
        "missing",
        datetime.fromisoformat("2026-03-03T10:30:00+08:00"),
    )
    assert engine.state["transaction"]["T1"]  # the decision is remembered (no second alert)
    assert engine.advance_to(txn.occurred_at + timedelta(hours=1)) == []


def test_alerts_are_masked_and_carry_pack_identity() -> None:
    (event,) = case(
        {"kind": "transaction", "txn_type": "deposit", "channel": "counter", "amount": "70000"}
    )
    (alert,) = Engine(RULES).process(event)
    assert "6222020200001234" not in alert.model_dump_json()
    assert "1234" in alert.message
    assert alert.pack_hash == RULES.pack_hash
    assert alert.pack_version == "riskmon-large-transfers@1.0.0"
    zh = Engine(RULES, language="zh-CN").process(event)[0]
    assert "大额现金" in zh.message and zh.alert_id == alert.alert_id


def test_pending_deadlines_equal_a_scan_of_the_state() -> None:
    engine = Engine(RULES)
    for event in LATE_CASE:
        engine.process(event)
        scanned = {
            stage.name: sum(
                stage.next_deadline(value) is not None
                for value in engine.state[stage.name].values()
            )
            for stage in engine.stages
        }
        assert engine.pending_deadlines() == scanned
    # Watermark 09:59 (last event 10:04 minus lateness): T9's approvals still await judgement
    # and T8's review is still awaited.
    assert engine.pending_deadlines()["transaction"] == 2
    engine.flush()  # decides T9; its "done" marker keeps a retention deadline, still counted
    assert engine.pending_deadlines() == {
        stage.name: sum(
            stage.next_deadline(value) is not None for value in engine.state[stage.name].values()
        )
        for stage in engine.stages
    }


DATA = Path(__file__).resolve().parent / "data"


def test_state_saved_by_version_0_1_0_restores_and_continues_like_one_pass() -> None:
    # state-written-by-0.1.0.json is what `riskmon replay --state` of version 0.1.0 (before the
    # shared timer service and named state tuples) saved after the first five events of
    # state_case.jsonl: aggregate items, a pending approval, a pending review, an after-hours
    # quiet period, and per-stage watermarks without source progress.
    events = [decode_event(line) for line in (DATA / "state_case.jsonl").read_text().splitlines()]
    resumed = Engine(RULES, load_state(DATA / "state-written-by-0.1.0.json"))
    after = [a for e in events[5:] for a in resumed.process(e)] + resumed.flush()
    # What version 0.1.0 itself gave after restoring (the after-hours action at 22:30 is quiet).
    assert sorted(f"{a.rule_id}:{a.reason}" for a in after) == [
        "dual_review:missing",
        "large_cash_daily:None",
        "structuring_cash:None",
    ]
    # Version 0.1.0 alerted only the 22:00 after-hours action before saving; together with the
    # alerts after restoring, that is exactly one pass over the whole file.
    one = Engine(RULES)
    full = [a for e in events for a in one.process(e)] + one.flush()
    assert sorted(a.alert_id for a in after) == sorted(
        a.alert_id for a in full if a.rule_id != "after_hours_access"
    )
    assert [a.rule_id for a in full].count("after_hours_access") == 1
    cumulative = next(a for a in after if a.rule_id == "large_cash_daily")
    assert cumulative.event_ids == ("s1", "s8")  # the restored item counts
