"""The decoder's event-id memory without a broker: written only after forwarding, rebuilt from it.

A dict stands in for the faust Table (both are mutable mappings); the real Table on the real
broker is exercised by ``tests/integration/test_worker_dedup.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.errors import EventDecodeError
from monitor.events import decode_event
from streams.worker.dedup import DecoderDedup, chunk_key

TOPIC = "bank.transactions"


def event(event_id: str, minute: int = 0, amount: str = "100") -> Any:
    return decode_event(
        json.dumps(
            {
                "kind": "transaction",
                "event_id": event_id,
                "occurred_at": f"2026-03-03T10:{minute:02d}:00+08:00",
                "branch_id": "BR001",
                "txn_id": f"T-{event_id}",
                "account_id": "6222020200001111",
                "account_type": "individual",
                "amount": amount,
                "currency": "CNY",
                "direction": "debit",
                "channel": "counter",
                "txn_type": "withdrawal",
                "initiator_id": "op-t1",
                "status": "posted",
            }
        )
    )


bound: list[int] = []


@contextmanager
def bind(partition: int) -> Iterator[None]:
    bound.append(partition)
    yield


def memory(table: dict[str, Any], **bounds: Any) -> DecoderDedup:
    dedup = DecoderDedup(table, window_seconds=bounds.get("window", 3600.0), max_entries=100)
    dedup.prepare({0, 1})
    return dedup


def test_ids_are_written_per_partition_only_on_commit_and_survive_a_restart() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table)
    assert dedup.admit(TOPIC, 0, 10, event("a")) and dedup.admit(TOPIC, 1, 4, event("b"))
    assert not dedup.admit(TOPIC, 0, 11, event("a"))  # a repeat inside the batch
    assert table == {}  # nothing is remembered before the batch is forwarded
    bound.clear()
    dedup.commit(bind)
    assert sorted(bound) == [0, 1]
    assert set(table) == {chunk_key(0, TOPIC, 10), chunk_key(1, TOPIC, 4)}
    restarted = memory(table)
    assert not restarted.admit(TOPIC, 0, 12, event("a"))
    with pytest.raises(EventDecodeError, match="duplicate_event_id"):
        restarted.admit(TOPIC, 0, 13, event("a", amount="200"))
    assert restarted.admit(TOPIC, 1, 5, event("a"))  # memory is per input partition


def test_a_crash_before_the_write_forgets_the_batch_so_it_is_processed_again() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table)
    dedup.admit(TOPIC, 0, 1, event("a"))
    dedup.commit(bind)
    dedup.admit(TOPIC, 0, 2, event("b"))  # forwarded? never known: no commit
    restarted = memory(table)
    assert restarted.admit(TOPIC, 0, 2, event("b"))  # the redelivered batch is not dropped
    assert not restarted.admit(TOPIC, 0, 3, event("a"))


def test_an_interrupted_batch_is_forgotten_by_the_next_batch_in_the_same_process() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table)
    dedup.admit(TOPIC, 0, 1, event("a"))  # faust cancels the agent here (rebalance)
    dedup.prepare({0, 1})  # the next batch: same assignment
    assert dedup.admit(TOPIC, 0, 1, event("a"))  # the same batch again: not a repeat


def test_forgotten_ids_leave_the_table() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table, window=600.0)
    dedup.admit(TOPIC, 0, 1, event("old", minute=0))
    dedup.commit(bind)
    dedup.admit(TOPIC, 0, 2, event("new", minute=30))  # 30 minutes later: "old" is forgotten
    dedup.commit(bind)
    assert set(table) == {chunk_key(0, TOPIC, 2)}
    assert memory(table).admit(TOPIC, 0, 3, event("old", minute=31))


def test_a_rebuild_restores_each_input_partitions_event_time_progress() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table)
    dedup.admit(TOPIC, 0, 10, event("a", minute=5))
    dedup.admit(TOPIC, 0, 11, event("b", minute=2))  # out of order: progress stays at 10:05
    dedup.admit("bank.operator-actions", 0, 3, event("c", minute=1))
    dedup.admit(TOPIC, 1, 4, event("d", minute=7))
    dedup.commit(bind)
    minute = event("x", minute=0).occurred_at.timestamp()
    want = {
        (TOPIC, 0): minute + 300,
        ("bank.operator-actions", 0): minute + 60,
        (TOPIC, 1): minute + 420,
    }
    restarted = DecoderDedup(table, window_seconds=3600.0, max_entries=100)
    assert restarted.saved_progress({0}) == {k: v for k, v in want.items() if k[1] == 0}
    assert restarted.prepare({0, 1}) and restarted.progress == want
    assert not restarted.prepare({0, 1})  # same assignment, nothing pending: no rebuild


def test_progress_counts_only_chunks_before_the_offset_the_group_resumes_from() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table)
    dedup.admit(TOPIC, 0, 10, event("a", minute=5))
    dedup.commit(bind)
    dedup.admit(TOPIC, 0, 20, event("b", minute=50))  # processed, but not committed yet
    dedup.commit(bind)
    minute = event("x", minute=0).occurred_at.timestamp()
    resumes = {(TOPIC, 0): 11}
    restarted = DecoderDedup(
        table,
        window_seconds=3600.0,
        max_entries=100,
        committed=lambda topic, partition: resumes.get((topic, partition)),
    )
    # Offsets 11-20 are read again: judging them against 10:50 would make them late.
    assert restarted.prepare({0}) and restarted.progress == {(TOPIC, 0): minute + 300}
    resumes[(TOPIC, 0)] = 21
    assert restarted.saved_progress({0}) == {(TOPIC, 0): minute + 3000}
    resumes.clear()  # the group never committed: everything is read again
    assert restarted.saved_progress({0}) == {}


def test_an_event_dead_lettered_for_its_time_is_no_progress_after_a_restart() -> None:
    table: dict[str, Any] = {}
    dedup = memory(table)
    dedup.admit(TOPIC, 0, 10, event("a", minute=5))
    future = event("far", minute=0).model_copy(
        update={"occurred_at": datetime(2099, 1, 1, tzinfo=UTC)}
    )
    dedup.admit(TOPIC, 0, 11, future)
    dedup.not_progress(TOPIC, 0, "far")  # the time gate dead-lettered it: time_out_of_range
    dedup.commit(bind)
    restarted = memory(table)
    minute = event("x", minute=0).occurred_at.timestamp()
    assert restarted.progress == {(TOPIC, 0): minute + 300}  # 2099 does not come back
    assert not restarted.admit(TOPIC, 0, 12, future)  # but its id is still remembered
