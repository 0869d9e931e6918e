"""Broker-free worker logic: batch overlay, source watermarks, per-partition deadlines."""

from __future__ import annotations

import math

from monitor.engine import Stage
from monitor.rule_examples import example_events
from monitor.rules.schema import Example
from streams.worker.runner import (
    Overlay,
    SourceClock,
    SourceReport,
    StageRunner,
    decode_tick,
    encode_tick,
    partition_for,
)
from tests.shipped import shipped_rules

PARTS = {"tx": 2, "op": 1}


def report(progress: float, caught_up: bool = False, idle: bool = False) -> SourceReport:
    return SourceReport(progress, caught_up, idle)


def test_overlay_buffers_writes_until_commit() -> None:
    base = {"a": 1, "b": 2}
    overlay = Overlay(base)
    overlay["a"] = 10
    del overlay["b"]
    overlay["c"] = 3
    assert dict(overlay) == {"a": 10, "c": 3}
    assert base == {"a": 1, "b": 2}
    assert overlay.commit() == 3
    assert base == {"a": 10, "c": 3}


def test_no_watermark_until_every_source_reported() -> None:
    clock = SourceClock(lateness=60, stale_after=10)
    clock.update({"tx:0": report(1000), "op:0": report(900)}, PARTS, now=0)
    assert clock.watermark(now=0) is None  # tx:1 never reported
    clock.update({"tx:1": report(5000)}, PARTS, now=0)
    assert clock.watermark(now=0) == 900 - 60  # the slowest lagging source holds it back


def test_every_source_holds_the_watermark_until_the_whole_input_is_quiet() -> None:
    clock = SourceClock(lateness=60, stale_after=10)
    clock.update(
        {"tx:0": report(1000, True), "tx:1": report(5000), "op:0": report(100, True, True)},
        PARTS,
        0,
    )
    # op:0 looks caught up and idle, but more of its events may still arrive: it holds too.
    assert clock.watermark(0) == 100 - 60
    clock.update({"tx:0": report(1000, True, True), "op:0": report(2000, True, True)}, PARTS, 1)
    assert clock.watermark(1) == 1000 - 60
    quiet = {n: report(p, True, True) for n, p in [("tx:0", 1), ("tx:1", 6000), ("op:0", 1)]}
    clock.update(quiet, PARTS, 2)
    assert clock.watermark(2) == 6000  # caught up and idle everywhere: flush like replay


def test_an_empty_partition_does_not_let_a_bulk_load_fire_deadlines() -> None:
    # Before the load reaches op:0 it is empty, caught up and idle; tx is already hours ahead.
    clock = SourceClock(lateness=300, stale_after=10)
    never = float("-inf")
    clock.update(
        {"tx:0": report(7200), "tx:1": report(7200, True), "op:0": report(never, True, True)},
        PARTS,
        0,
    )
    assert clock.watermark(0) == never


def test_a_bulk_load_cannot_run_a_deadline_past_a_slow_partition() -> None:
    # The producer wrote tx fast and op slowly; op:0 looks caught up for an instant while its
    # approval at t=600 is not yet written. The watermark must stay below the deadline (1800).
    clock = SourceClock(lateness=300, stale_after=10)
    clock.update(
        {"tx:0": report(7200, True), "tx:1": report(7200, True), "op:0": report(500, True)},
        PARTS,
        0,
    )
    watermark = clock.watermark(0)
    assert watermark is not None and watermark < 1800


def test_a_silent_reporter_counts_as_lagging() -> None:
    clock = SourceClock(lateness=0, stale_after=10)
    idle = {n: report(p, True, True) for n, p in [("tx:0", 100), ("tx:1", 500), ("op:0", 300)]}
    clock.update(idle, PARTS, now=0)
    assert clock.watermark(now=5) == 500
    clock.update({"tx:1": report(600, True, True), "op:0": report(300, True, True)}, PARTS, 12)
    assert clock.watermark(now=12) == 100  # tx:0's worker died: hold at its last progress


def test_tick_round_trip_keeps_minus_infinity() -> None:
    reports = {"tx:0": report(float("-inf"), True, False)}
    again, parts = decode_tick(encode_tick(reports, PARTS))
    assert math.isinf(again["tx:0"].progress) and again["tx:0"].caught_up
    assert parts == PARTS


def test_partition_for_matches_kafka_python_and_aiokafka() -> None:
    # Both clients implement the Java client's murmur2 partitioner; faust uses aiokafka's.
    from aiokafka.partitioner import DefaultPartitioner
    from kafka.partitioner.default import murmur2

    for key in ("T1", "6222020200001234", "op-s1", "BR001-T-000042"):
        assert partition_for(key, 12) == (murmur2(key.encode()) & 0x7FFFFFFF) % 12
        assert partition_for(key, 12) == DefaultPartitioner()(key.encode(), list(range(12)), [])


def test_missing_review_fires_only_when_sources_allow() -> None:
    ruleset = shipped_rules()
    stage = Stage("transaction", ruleset.by_entity("transaction"))
    runner = StageRunner(stage, partitions=4, lateness=300, stale_after=100)
    (txn,) = example_events(
        Example(
            events=[
                {
                    "kind": "transaction",
                    "txn_id": "T1",
                    "channel": "wire",
                    "amount": "90000",
                    "status": "initiated",
                    "occurred_at": "2026-03-03T10:00:00+08:00",
                }
            ],
            expect=[],
        )
    )
    state: dict[str, object] = {}
    p = partition_for("T1", 4)
    assert runner.on_event(p, "T1", txn, state) == []
    t0 = txn.occurred_at.timestamp()
    busy = {"tx:0": report(t0 + 3600), "tx:1": report(t0 + 3600, True), "op:0": report(t0 + 600)}
    assert runner.on_tick(p, busy, PARTS, state, now=0) == []  # op:0 lags at 10:10
    done = {n: report(t0 + 3600, True, True) for n in ("tx:0", "tx:1", "op:0")}
    (finding,) = runner.on_tick(p, done, PARTS, state, now=1)
    assert finding.reason == "missing"


def test_the_worker_runner_and_the_engine_fire_the_same_deadlines() -> None:
    # Both run monitor.stage.Timers; only the watermark's origin differs. Feed the worker's
    # runners the watermark replay's generator would give and they find what the engine finds.
    from monitor.engine import Engine
    from monitor.watermark import BoundedLateness

    events = example_events(
        Example(
            events=[
                {"txn_id": "T1", "channel": "wire", "amount": "90000", "status": "initiated"},
                {
                    "kind": "operator_action",
                    "action": "approve",
                    "target_txn_id": "T1",
                    "operator_id": "op-t1",
                    "occurred_at": "2026-03-03T10:02:00+08:00",
                },
                {
                    "txn_id": "T2",
                    "channel": "counter",
                    "amount": "60000",
                    "status": "initiated",
                    "occurred_at": "2026-03-03T10:10:00+08:00",
                },
                {
                    "txn_id": "T3",
                    "channel": "mobile",
                    "amount": "10",
                    "occurred_at": "2026-03-03T11:00:00+08:00",
                },
            ],
            expect=[],
        )
    )
    rules = shipped_rules()
    engine = Engine(rules)
    expected = [a for e in events for a in engine.process(e)] + engine.flush()
    runners = [StageRunner(stage, partitions=1, lateness=300.0) for stage in engine.stages]
    states: list[dict[str, object]] = [{} for _ in runners]
    clock = BoundedLateness(300.0)
    findings = []
    for event in events:
        clock.on_event(event.occurred_at.timestamp(), "")
        for runner, state in zip(runners, states, strict=True):
            key = runner.stage.key_for(event)
            if key is not None:
                findings += runner.on_event(0, key, event, state)
            findings += runner.advance(0, clock.current() or -math.inf, state)
    for runner, state in zip(runners, states, strict=True):
        findings += runner.advance(0, clock.end_of_input() or -math.inf, state)
    got = [engine.renderer.render(f) for f in findings]
    assert sorted(a.alert_id for a in got) == sorted(a.alert_id for a in expected)
    assert {(a.rule_id, a.reason) for a in expected} >= {
        ("dual_review", "self_approval"),
        ("dual_review", "missing"),
    }
