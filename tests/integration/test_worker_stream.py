"""The faust worker on the real Kafka broker: parity with replay, bad input, crashes, scale-out.

Each test gets its own topics and consumer group. Workers run as real `riskmon worker` processes.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.events import encode_event
from monitor.simulator import SimConfig, simulate
from streams.replay import read_lines, replay
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import Pipeline, WorkerProcess, alert_ids, until
from tests.shipped import shipped_rules

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def simulated_day(tmp_path: Path, branches: int = 4, seed: int = 11) -> Path:
    sim = simulate(SimConfig(seed=seed, days=1, branches=branches, inject_rate=1.0))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(encode_event(e) + "\n" for e in sim.events), encoding="utf-8")
    return events


def replay_alerts(path: Path) -> list[Alert]:
    alerts: list[Alert] = []
    replay(read_lines([str(path)]), Engine(shipped_rules()), alerts.append, lambda _d: None)
    return alerts


def pipeline(kafka_bootstrap: str, tmp_path: Path) -> Pipeline:
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    pipe.create_topics(broker_tool)
    return pipe


def wait_for_alerts(pipe: Pipeline, expected: set[str], timeout: float, *workers: WorkerProcess):
    def alive() -> None:
        if not any(w.process and w.process.poll() is None for w in workers):
            raise AssertionError("no worker alive:\n" + "\n".join(w.tail() for w in workers))

    return pipe.collect(
        pipe.topics["alerts"],
        lambda msgs: expected <= set(alert_ids(msgs)),
        timeout,
        alive,
    )


@pytest.mark.parametrize("store", ["memory", "packed", "rocksdb"])
def test_parity_with_replay(kafka_bootstrap: str, tmp_path: Path, store: str) -> None:
    events = simulated_day(tmp_path)
    expected = {a.alert_id for a in replay_alerts(events)}
    assert {"dual_review", "large_transfer", "after_hours"} <= {
        a.category for a in replay_alerts(events)
    }
    pipe = pipeline(kafka_bootstrap, tmp_path)
    worker = WorkerProcess(pipe, "solo", RISKMON_WORKER_STORE=store).start()
    try:
        pipe.produce_file(events)
        messages = wait_for_alerts(pipe, expected, 180, worker)
        time.sleep(3)  # a late extra alert would show up here
        messages = pipe.collect(pipe.topics["alerts"], lambda m: False, 3)
    finally:
        worker.stop()
    got = set(alert_ids(messages))
    assert got == expected, (
        f"missing {len(expected - got)}, extra {len(got - expected)}\n{worker.tail()}"
    )
    sample = Alert.from_json(messages[0].value)
    assert sample.detected_at is not None  # the live worker stamps detection time
    assert messages[0].key.decode() == sample.alert_id
    # An alert an event raised carries that event as evidence, account numbers masked.
    large = [a for a in map(Alert.from_json, (m.value for m in messages))
             if a.category == "large_transfer"]  # fmt: skip
    assert large and all(len(a.evidence) == 1 for a in large)
    for alert in large:
        shown = alert.evidence[0]
        assert shown["event_id"] in alert.event_ids
        assert str(shown["account_id"]).startswith("*")


def test_bad_messages_go_to_the_dead_letter_topic(kafka_bootstrap: str, tmp_path: Path) -> None:
    events = simulated_day(tmp_path, branches=2, seed=5)
    lines = events.read_text().splitlines()
    good = lines[:400]
    wrong_schema = json.loads(good[0]) | {"amount": "lots", "event_id": "bad-schema"}
    oversized = json.dumps(json.loads(good[1]) | {"note": "x" * 70_000})
    bad = [b"{not json", json.dumps(wrong_schema).encode(), oversized.encode(), b"\xff\xfe"]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join(good[:200]) + "\n")
    (tmp_path / "rest.jsonl").write_text("\n".join(good[200:]) + "\n")
    valid = tmp_path / "valid.jsonl"
    valid.write_text("\n".join(good) + "\n")
    expected = {a.alert_id for a in replay_alerts(valid)}

    pipe = pipeline(kafka_bootstrap, tmp_path)
    worker = WorkerProcess(pipe, "dl").start()
    try:
        pipe.produce_file(mixed)
        pipe.produce_raw(pipe.topics["transactions"], bad)
        pipe.produce_file(tmp_path / "rest.jsonl")
        dead = pipe.collect(pipe.topics["deadletter"], lambda m: len(m) >= len(bad), 120)
        alerts = wait_for_alerts(pipe, expected, 120, worker)
        worker.check_alive()
    finally:
        worker.stop()
    reasons = Counter(dict(m.headers)["reason"].decode() for m in dead)
    assert reasons == {"invalid_json": 1, "schema": 1, "too_large": 1, "encoding": 1}
    for message in dead:
        headers = dict(message.headers)
        assert headers["source_topic"].decode() == pipe.topics["transactions"]
        assert int(headers["source_offset"]) >= 0 and int(headers["source_partition"]) >= 0
        original = next(b for b in bad if len(b) == int(headers["original_size"]))
        assert headers["original_sha256"].decode() == hashlib.sha256(original).hexdigest()
        if headers["reason"] == b"too_large":  # a bounded excerpt of the original bytes
            assert (message.value, headers["truncated"]) == (original[:4096], b"1")
        else:
            assert message.value == original  # the original bytes, untouched
    schema_error = next(m for m in dead if dict(m.headers)["reason"] == b"schema")
    assert b"amount" in dict(schema_error.headers)["detail"]
    assert expected <= set(alert_ids(alerts))


def test_kill_9_three_times_loses_no_alert(kafka_bootstrap: str, tmp_path: Path) -> None:
    events = simulated_day(tmp_path, branches=8, seed=23)
    replayed = replay_alerts(events)
    expected = {a.alert_id for a in replayed}
    assert any(a.reason == "missing" for a in replayed)
    pipe = pipeline(kafka_bootstrap, tmp_path)
    worker = WorkerProcess(pipe, "crashy").start()
    rng = random.Random(4)
    # Produce at a fixed rate in the background, so the kills land while events still flow.
    lines = list(read_lines([str(events)]))
    producer = threading.Thread(target=pipe.produce_lines, args=(lines,), kwargs={"rate": 1500})
    kills_while_producing = 0
    try:
        producer.start()
        for _ in range(3):
            time.sleep(rng.uniform(3.0, 6.0))
            kills_while_producing += producer.is_alive()
            worker.kill9()
            worker.start()
        producer.join()
        messages = wait_for_alerts(pipe, expected, 240, worker)
        # Every record processed by the last worker, none read and skipped inside it.
        committed = until(pipe.input_committed, 30, step=1.0)
    finally:
        producer.join()
        worker.stop()
    ids = alert_ids(messages)
    counts = Counter(ids)
    duplicates = sum(n - 1 for n in counts.values())
    print(
        f"crash test: {len(lines)} events, {len(expected)} alerts, {len(ids)} raw alert messages, "
        f"{duplicates} duplicates from redelivery, {kills_while_producing} kills mid-production"
    )
    assert kills_while_producing >= 1
    assert set(counts) == expected  # none lost, none invented
    missing = {a.alert_id for a in replayed if a.reason == "missing"}
    assert missing <= set(counts)  # pending review deadlines survived the crashes
    assert worker.starts == 4
    assert committed, "the input was never committed to its end: records skipped in a worker"


def test_two_workers_share_and_take_over(kafka_bootstrap: str, tmp_path: Path) -> None:
    events = simulated_day(tmp_path, branches=4, seed=31)
    expected = {a.alert_id for a in replay_alerts(events)}
    pipe = pipeline(kafka_bootstrap, tmp_path)
    first = WorkerProcess(pipe, "w1").start()
    second = WorkerProcess(pipe, "w2").start()
    try:
        time.sleep(8)  # both join the group and split the partitions
        pipe.produce_file(events)
        pipe.collect(pipe.topics["alerts"], lambda m: len(m) >= 3, 120, first.check_alive)
        second.stop()  # the first worker takes over its partitions and their state
        messages = wait_for_alerts(pipe, expected, 240, first)
    finally:
        first.stop()
        second.stop()
    assert set(alert_ids(messages)) == expected
