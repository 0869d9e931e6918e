"""The worker's failure handling without a broker: dead-letter sizes, bundles, guard, log filter."""

from __future__ import annotations

import asyncio
import doctest
import hashlib
import json
import logging

import pytest

import streams.worker.faults as faults
from monitor.excerpt import excerpt
from streams.worker.faults import (
    AgentGuard,
    RepeatFilter,
    dead_letter_record,
    record_size,
    split_bundle,
)

HEADERS = [("reason", b"too_large"), ("detail", b"d" * 5000), ("source_topic", b"bank.tx")]


def test_doctests() -> None:
    assert doctest.testmod(faults).failed == 0


def test_small_value_is_kept_whole_with_size_and_hash() -> None:
    raw = b'{"not": "an event"'
    letter = dead_letter_record(raw, b"key", HEADERS)
    headers = dict(letter.headers)
    assert (letter.value, letter.key, letter.truncated) == (raw, b"key", False)
    assert headers["original_size"] == str(len(raw)).encode()
    assert headers["original_sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert len(headers["detail"]) == 2000  # a header is bounded too
    assert "truncated" not in headers


@pytest.mark.parametrize(
    "size",
    [64 * 1024, 64 * 1024 + 1, 999_000, 1_000_000, 1_048_576, 1_048_577, 5_000_000],
)
def test_dead_letter_always_fits_the_producer_limit(size: int) -> None:
    raw = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    letter = dead_letter_record(raw, b"k" * 5000, HEADERS)
    assert record_size(letter.key, letter.value, letter.headers) <= 1_000_000
    headers = dict(letter.headers)
    assert headers["original_size"] == str(size).encode()
    assert headers["original_sha256"] == hashlib.sha256(raw).hexdigest().encode()
    assert headers["original_key_sha256"] == hashlib.sha256(b"k" * 5000).hexdigest().encode()
    assert letter.key == b"k" * 1024
    if size <= 64 * 1024:
        assert letter.value == raw and not letter.truncated
    else:
        assert letter.truncated and headers["truncated"] == b"1"
        assert letter.value == excerpt(raw).data  # no half UTF-8 character at the cut


def test_dead_letter_fits_a_small_limit_by_shrinking_the_excerpt() -> None:
    letter = dead_letter_record(b"y" * 10_000, None, HEADERS, limit=3000)
    assert letter.truncated
    assert 0 < len(letter.value) < 4096
    assert record_size(letter.key, letter.value, letter.headers) <= 3000


def test_split_bundle_keeps_order_and_stays_under_the_limit() -> None:
    items = [[f"k{i}", "e" * (60_000 if i % 7 == 0 else 300)] for i in range(400)]
    parts = list(split_bundle(items))
    assert len(parts) > 1
    assert all(len(p) <= 1_000_000 - 512 for p in parts)
    assert [item for p in parts for item in json.loads(p)] == items
    assert list(split_bundle([])) == []


def test_guard_stops_once_and_remembers_the_first_failure() -> None:
    stops: list[int] = []
    counted: list[str] = []
    guard = AgentGuard(stop=lambda: stops.append(1), on_failure=lambda a, _e: counted.append(a))

    class Agent:
        name = "streams.worker.app.riskmon-stage-transaction"

    asyncio.run(guard.on_error(Agent(), ValueError("boom")))
    asyncio.run(guard.on_error(Agent(), KeyError("later")))
    assert guard.failure == "agent riskmon-stage-transaction failed: ValueError: boom"
    assert stops == [1] and counted == ["riskmon-stage-transaction"]
    assert guard.options()["supervisor_strategy"].__name__ == "GuardedSupervisor"


def test_the_guarded_supervisor_restarts_agents_until_one_has_failed() -> None:
    guard = AgentGuard(stop=lambda: None)
    supervisor = guard.options()["supervisor_strategy"]()
    restarted: list[object] = []

    async def restart_service(service: object) -> None:
        restarted.append(service)

    supervisor.restart_service = restart_service
    asyncio.run(supervisor.restart_services(["cancelled by a rebalance"]))
    asyncio.run(guard.on_error(object(), RuntimeError("boom")))
    asyncio.run(supervisor.restart_services(["failed"]))
    assert restarted == ["cancelled by a rebalance"]


def test_repeat_filter_lets_one_line_per_interval_through_and_counts_the_rest() -> None:
    now = [0.0]
    repeat = RepeatFilter(interval=10.0, clock=lambda: now[0])

    def record(msg: str, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("aiokafka", level, __file__, 1, msg, None, None)

    passed = []
    for step in range(1000):  # 1000 errors in 20 s
        now[0] = step * 0.02
        rec = record("Unable connect to %s")
        if repeat.filter(rec):
            passed.append(rec.getMessage())
    assert len(passed) == 2
    assert passed[1].endswith("[499 like it in the last 10 s]")
    assert repeat.filter(record("another message"))
    assert all(repeat.filter(record("debug", logging.INFO)) for _ in range(5))


def test_repeat_filter_never_holds_back_riskmons_own_lines() -> None:
    """Two rule-pack refusals a second apart are two events an SRE must see (hot reload)."""
    repeat = RepeatFilter(interval=10.0, clock=lambda: 0.0)
    fmt = "rule pack refused, keeping %s (%s): %s"
    records = [
        logging.LogRecord("riskmon.reload", logging.ERROR, __file__, 1, fmt, ("v", "h", n), None)
        for n in ("invalid", "not approved")
    ]
    assert all(repeat.filter(r) for r in records)


def test_after_a_failure_the_consumer_commits_nothing_more() -> None:
    committed: list[object] = []

    class Transactions:
        async def commit(self, offsets: object, start_new_transaction: bool = True) -> bool:
            committed.append(("transaction", offsets))
            return True

    class Consumer:
        def __init__(self) -> None:
            self.transactions = Transactions()

        async def _commit(self, offsets: object) -> bool:
            committed.append(offsets)
            return True

    class App:
        def __init__(self) -> None:
            self.agents: dict[str, object] = {}
            self.consumer = Consumer()

    app = App()

    guard = AgentGuard(stop=lambda: None)
    guard.watch(app)
    assert asyncio.run(app.consumer._commit({"tp": 1}))  # before: commits go through
    asyncio.run(guard.on_error(object(), RuntimeError("boom")))
    assert not asyncio.run(app.consumer._commit({"tp": 2}))
    assert not asyncio.run(app.consumer.transactions.commit({"tp": 2}))
    assert committed == [{"tp": 1}]
