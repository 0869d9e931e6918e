"""Chaos on the shared broker: worker kill loop, poison storm, oversized and failing records,
fresh start. Each scenario prints one line of figures and asserts zero lost, zero duplicates."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from streams.replay import SourceLine
from streams.worker.topics import partition_counts
from tests.chaos.chaos_harness import (
    Figures,
    Pipeline,
    WorkerProcess,
    alert_ids,
    dead_letters,
    expected_alerts,
    file_lines,
    headers_of,
    json_line,
    reason_counts,
    simulated_day,
    until,
    wait_for,
)
from tests.fixtures_kafka import broker_tool

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def new_pipeline(kafka_bootstrap: str, tmp_path: Path, create: bool = True) -> Pipeline:
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    if create:
        pipe.create_topics(broker_tool)
    return pipe


def test_worker_kill_loop(kafka_bootstrap: str, tmp_path: Path) -> None:
    """SIGKILL the worker 10 times at random (seeded) points while a day streams in."""
    lines = file_lines(simulated_day(tmp_path, seed=21))
    expected, _ = expected_alerts(lines)
    pipe = new_pipeline(kafka_bootstrap, tmp_path)
    worker = WorkerProcess(pipe, "k").start()
    producer = threading.Thread(target=pipe.produce_lines, args=(lines, 250.0))
    producer.start()
    rng = random.Random(5)
    try:
        for _ in range(10):
            time.sleep(rng.uniform(0.5, 4.0))
            worker.kill9()
            worker.start()
        producer.join()
        restarted = time.monotonic()
        delivered = wait_for(pipe, expected, 150, [worker])
        recovery = time.monotonic() - restarted
        # Every record processed by the last worker, none read and skipped inside it.
        committed = until(pipe.input_committed, 30, step=1.0) is not None
    finally:
        producer.join()
        worker.stop()
    Figures("worker_kill_loop", len(lines), expected, delivered, recovery, "10 x SIGKILL").report()
    assert committed, "the input was never committed to its end: records skipped in a worker"


def day_with_an_unreviewed_tail(tmp_path: Path, seed: int) -> list[SourceLine]:
    """A simulated day plus a wire transfer no one approves, 31 minutes before the day's last
    event: its review deadline passes only when the input is quiet and the stages flush to the
    latest event."""
    day = file_lines(simulated_day(tmp_path, seed=seed))
    last = max(datetime.fromisoformat(json.loads(line.text)["occurred_at"]) for line in day)
    unreviewed = {
        **json.loads(padded_cash(0, 2048)),
        "event_id": "unreviewed-1",
        "txn_id": "UNREVIEWED-1",
        "channel": "wire",
        "txn_type": "transfer",
        "status": "initiated",
        "occurred_at": (last - timedelta(minutes=31)).isoformat(),
    }
    del unreviewed["pad"]
    later = (
        n
        for n, line in enumerate(day)
        if json.loads(line.text)["occurred_at"] > unreviewed["occurred_at"]
    )
    at = next(later)  # in event-time order: the decoder would dead-letter it as late otherwise
    return [*day[:at], SourceLine("tail", 1, json_line(unreviewed)), *day[at:]]


def test_restart_after_the_input_is_read(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A worker stopped once every event is read and committed, but before the input has been
    quiet long enough to fire the last review deadlines: its successor reads nothing new, and
    must still fire them (its event-time progress comes back from the changelog)."""
    lines = day_with_an_unreviewed_tail(tmp_path, seed=23)
    expected, _ = expected_alerts(lines)
    pipe = new_pipeline(kafka_bootstrap, tmp_path)
    # Never idle: the first worker cannot flush the deadlines that wait for a quiet input.
    first = WorkerProcess(pipe, "r", RISKMON_WORKER_IDLE_AFTER="3600").start()
    try:
        pipe.produce_lines(lines)
        assert until(pipe.input_committed, 120, step=1.0) is not None, first.tail()
        time.sleep(3)  # the stages' last bundles and ticks
        before = set(alert_ids(pipe.collect(pipe.topics["alerts"], lambda m: False, 3)))
    finally:
        first.stop()
    waiting = expected - before
    assert waiting, "every alert came before the restart: the scenario tests nothing"
    second = WorkerProcess(pipe, "r").start()  # the same data dir, idle after 2 s
    restarted = time.monotonic()
    try:
        delivered = wait_for(pipe, expected, 90, [second])
        recovery = time.monotonic() - restarted
    finally:
        second.stop()
    note = f"{len(waiting)} alerts due only after the restart"
    Figures("restart_after_read", len(lines), expected, delivered, recovery, note).report()


def remembered_ids(pipe: Pipeline, wanted: set[str], timeout: float) -> set[str]:
    """Event ids in the decoder's event-id changelog (written once their batch is forwarded to
    the stages), once all of ``wanted`` are there (or at ``timeout``)."""
    topic = f"{pipe.prefix}-dedup-changelog"
    admin = KafkaAdminClient(bootstrap_servers=pipe.bootstrap)
    try:  # subscribe only once the worker made it: the broker would create it with 1 partition
        assert until(lambda: topic in admin.list_topics(), timeout) is not None, topic
    finally:
        admin.close()
    found: set[str] = set()
    read = 0

    def done(messages: list[Any]) -> bool:
        nonlocal read
        for message in messages[read:]:  # a chunk: [[event_id, digest, time, ...], ...]
            found.update(entry[0] for entry in json.loads(message.value or b"null") or ())
        read = len(messages)
        return wanted <= found

    pipe.collect(topic, done, timeout)
    return found


def test_kill_after_the_input_is_forwarded_before_its_offsets_are_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A worker SIGKILLed once it has forwarded every event to the stages, before it commits a
    single input offset: its successor reads the whole input again, drops every event as a
    redelivery, and must still bring the stages to the end of the input (a redelivery's time is
    progress) and fire the deadlines that wait for a quiet input, with no alert raised twice
    under another id and none lost."""
    lines = day_with_an_unreviewed_tail(tmp_path, seed=24)
    expected, _ = expected_alerts(lines)
    ids = {json.loads(line.text)["event_id"] for line in lines}
    pipe = new_pipeline(kafka_bootstrap, tmp_path)
    first = WorkerProcess(
        pipe, "c", RISKMON_WORKER_IDLE_AFTER="3600", RISKMON_WORKER_COMMIT_INTERVAL="3600"
    ).start()
    try:
        pipe.produce_lines(lines)
        missing = ids - remembered_ids(pipe, ids, 120)
        assert not missing, f"{len(missing)} events never forwarded:\n{first.tail()}"
        time.sleep(2)  # the stages' last bundles
    finally:
        first.kill9()
    assert not pipe.input_committed(), "offsets were committed: the scenario tests nothing"
    second = WorkerProcess(pipe, "c").start()  # the same data dir, idle after 2 s
    restarted = time.monotonic()
    try:
        delivered = wait_for(pipe, expected, 90, [second])
        recovery = time.monotonic() - restarted
        committed = until(pipe.input_committed, 30, step=1.0) is not None
    finally:
        second.stop()
    note = f"{len(lines)} events read again after SIGKILL, none committed"
    Figures("kill_before_commit", len(lines), expected, delivered, recovery, note).report()
    assert committed, "the input was never committed to its end: records skipped in a worker"


def garbage(rng: random.Random, index: int) -> str:
    if index % 20 == 0:
        return "x" * 1_000_000  # a 1 MB value
    kind = index % 5
    if kind == 1:
        return '{"kind": "transaction", "amount": '  # truncated JSON
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(200)).decode("utf-8", "surrogateescape")
    if kind == 3:
        return json_line({"kind": "transaction", "event_id": f"bad-{index}", "amount": "-5"})
    return "[1, 2, 3]"


def test_poison_storm(kafka_bootstrap: str, tmp_path: Path) -> None:
    """10% of the input is garbage, 1 MB values included: each is dead-lettered, none stalls."""
    rng = random.Random(9)
    lines = file_lines(simulated_day(tmp_path, seed=22))
    mixed: list[SourceLine] = []
    bad = 0
    for line in lines:
        mixed.append(line)
        if rng.random() < 0.1 / 0.9:  # one garbage line per 9 good ones: 10% of the input
            mixed.append(SourceLine("storm", len(mixed) + 1, garbage(rng, bad)))
            bad += 1
    expected, replay_dead = expected_alerts(mixed)
    assert replay_dead == bad
    pipe = new_pipeline(kafka_bootstrap, tmp_path)
    worker = WorkerProcess(pipe, "p").start()
    began = time.monotonic()
    try:
        pipe.produce_lines(mixed)
        delivered = wait_for(pipe, expected, 150, [worker])
        seconds = time.monotonic() - began
        letters = dead_letters(pipe, bad, 30)
    finally:
        worker.stop()
    assert len(letters) == bad, reason_counts(letters)
    big = [r for r in letters if headers_of(r)["original_size"] == b"1000000"]
    assert big and all(headers_of(r)["truncated"] == b"1" and len(r.value) == 4096 for r in big)
    digest = hashlib.sha256(b"x" * 1_000_000).hexdigest().encode()
    assert all(headers_of(r)["original_sha256"] == digest for r in big)
    note = f"{bad} garbage ({len(big)} of 1 MB) -> {len(letters)} dead letters"
    Figures("poison_storm", len(mixed), expected, delivered, seconds, note).report()


def padded_cash(index: int, size: int) -> str:
    """A valid large cash withdrawal (one alert) padded with an extra field to ``size`` bytes."""
    event = {
        "event_id": f"pad-{index}",
        "kind": "transaction",
        "occurred_at": "2026-03-03T10:00:00+08:00",
        "branch_id": "BR01",
        "txn_id": f"PAD-{index}",
        "account_id": f"6222{index:012d}",
        "account_type": "individual",
        "amount": "60000",
        "currency": "CNY",
        "direction": "debit",
        "channel": "counter",
        "txn_type": "withdrawal",
        "initiator_id": "T01",
        "status": "posted",
        "pad": "",
    }
    event["pad"] = "p" * (size - len(json_line(event)))
    text = json_line(event)
    assert len(text) == size
    return text


def drop_topics(admin: KafkaAdminClient, names: list[str]) -> None:
    """Delete ``names`` and wait until the broker no longer lists them: a topic created again
    while the old one is still being deleted is the old one, with its old limits."""
    admin.delete_topics(names)
    gone = until(lambda: not set(names) & set(admin.list_topics()), 30)
    assert gone is not None, f"{names} still listed 30 s after their deletion"


def test_oversized_and_failing_records(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Records at and just over each size limit; then the alerts and dead-letter topics refuse
    what the agents send: the worker stops with a clear error, and nothing is skipped."""
    limit = 64 * 1024
    sized = [padded_cash(i, limit) for i in range(20)]  # at the event limit: 20 in one bundle
    over = [padded_cash(100, limit + 1), "y" * 999_000, "z" * 1_048_000]  # dead letters
    lines = [SourceLine("sized", n, t) for n, t in enumerate([*sized, *over], 1)]
    expected, replay_dead = expected_alerts(lines)
    assert (len(expected), replay_dead) == (20, 3)

    pipe = new_pipeline(kafka_bootstrap, tmp_path)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    # Tiny topics: every alert and every dead letter is refused by the broker.
    outputs = [pipe.topics["alerts"], pipe.topics["deadletter"]]
    drop_topics(admin, outputs)
    tiny = {"max.message.bytes": "200"}
    admin.create_topics(
        {pipe.topics["alerts"]: {"num_partitions": 1, "configs": tiny},
         pipe.topics["deadletter"]: {"num_partitions": 1, "configs": tiny}},
        wait_for_metadata=True,
    )  # fmt: skip
    # Over the broker's own limit (1 MiB): a producer allowed more still cannot deliver it.
    big = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=3_000_000)
    refused = big.send(pipe.topics["transactions"], value=b"w" * 1_100_000)
    with pytest.raises(KafkaError, match=r"MessageSizeTooLarge|RecordTooLarge"):
        refused.get(timeout=20)
    big.close()

    worker = WorkerProcess(pipe, "o").start()
    try:
        pipe.produce_lines(lines)
        assert worker.process is not None
        status = worker.process.wait(timeout=90)
        log = worker.log.read_text(errors="replace")
        assert status == 3, worker.tail()
        assert "worker stopped: agent" in log and "Traceback" not in log.split("worker stopped")[1]
        drop_topics(admin, outputs)
        pipe.create_topics(broker_tool)  # normal limits again
        restarted = time.monotonic()
        worker.start()
        delivered = wait_for(pipe, expected, 90, [worker])
        recovery = time.monotonic() - restarted
        letters = dead_letters(pipe, 3, 30)
    finally:
        worker.stop()
        admin.close()
    sizes = sorted(int(headers_of(r)["original_size"]) for r in letters)
    assert sizes == [limit + 1, 999_000, 1_048_000]
    assert all(headers_of(r)["truncated"] == b"1" and len(r.value) == 4096 for r in letters)
    assert all(headers_of(r)["reason"] == b"too_large" for r in letters)
    note = "agent failure -> exit 3, restart: all alerts; 3 dead letters truncated"
    Figures("oversized_and_failing", len(lines), expected, delivered, recovery, note).report()


def test_fresh_start(kafka_bootstrap: str, tmp_path: Path) -> None:
    """Two workers start at once on a broker that has none of their topics; events are sent at
    once and wait for the input topics, which the workers create with their internal ones."""
    lines = file_lines(simulated_day(tmp_path, seed=23))
    expected, _ = expected_alerts(lines)
    pipe = new_pipeline(kafka_bootstrap, tmp_path, create=False)
    pipe.prefix = f"fresh-{uuid.uuid4().hex[:8]}"
    workers = [WorkerProcess(pipe, name) for name in ("f1", "f2")]
    delivered, seconds, committed = two_workers_start(pipe, workers, lines, expected, False)
    assert partition_count(kafka_bootstrap, pipe.topics["transactions"]) == pipe.partitions
    note = "2 workers, no topics"
    Figures("fresh_start", len(lines), expected, delivered, seconds, note).report()
    assert committed, "the group did not commit the input to its end"


def test_fresh_start_on_input_topics_the_broker_made(kafka_bootstrap: str, tmp_path: Path) -> None:
    """As above, but a producer came first and the broker made the input topics with its default
    of one partition, not the worker's four: the decoder's event-id table follows the input."""
    lines = file_lines(simulated_day(tmp_path, seed=29))
    expected, _ = expected_alerts(lines)
    pipe = new_pipeline(kafka_bootstrap, tmp_path, create=False)
    pipe.prefix = f"fresh1-{uuid.uuid4().hex[:8]}"
    broker_tool.create_topics(
        kafka_bootstrap, {pipe.topics["transactions"]: 1, pipe.topics["actions"]: 1}
    )
    workers = [WorkerProcess(pipe, name) for name in ("g1", "g2")]
    delivered, seconds, committed = two_workers_start(pipe, workers, lines, expected, True)
    assert partition_count(kafka_bootstrap, f"{pipe.prefix}-dedup-changelog") == 1
    assert partition_count(kafka_bootstrap, f"{pipe.prefix}-stage-transaction") == pipe.partitions
    assert "the input topics have 1 partitions" in workers[0].tail(400)
    note = "2 workers, input topics of 1 partition"
    Figures("fresh_start_1_partition", len(lines), expected, delivered, seconds, note).report()
    assert committed, "the group did not commit the input to its end"


def two_workers_start(
    pipe: Pipeline,
    workers: list[WorkerProcess],
    lines: list[SourceLine],
    expected: set[str],
    auto_create: bool,
) -> tuple[list[str], float, bool]:
    """Start ``workers`` at once and send ``lines`` at once: the alert ids delivered, the seconds
    until all expected were there, and whether the group committed the input to its end."""
    began = time.monotonic()
    try:
        for worker in workers:
            worker.start()
        pipe.produce_lines(lines, auto_create=auto_create)
        delivered = wait_for(pipe, expected, 150, workers)
        seconds = time.monotonic() - began
        committed = until(pipe.input_committed, 30) is not None
    finally:
        for worker in workers:
            worker.stop()
    return delivered, seconds, committed


def partition_count(bootstrap: str, topic: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return partition_counts(admin, [topic])[topic]
    finally:
        admin.close()
