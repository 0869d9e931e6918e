"""Repeated event ids in a real `riskmon worker` on the real broker (issue 11, item 2).

As in replay: an event delivered twice is processed once and the repeat is counted; two different
events with one ``event_id`` give one dead letter ``duplicate_event_id``. The decoder's memory of
the ids lives in a changelog Table, so a restarted worker still knows them.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streams.replay import SourceLine
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import Pipeline, WorkerProcess, alert_ids
from tools import services

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TXN = {
    "kind": "transaction",
    "event_id": "dup-1",
    "occurred_at": "2026-03-03T10:00:00+08:00",
    "branch_id": "BR001",
    "txn_id": "DUP-T1",
    "account_id": "6222020200007777",
    "account_type": "individual",
    "amount": "90000",
    "currency": "CNY",
    "direction": "debit",
    "channel": "counter",
    "txn_type": "withdrawal",
    "initiator_id": "op-t1",
    "status": "posted",
}
ORIGINAL = json.dumps(TXN)
COLLISION = json.dumps({**TXN, "txn_id": "DUP-T2", "amount": "95000"})  # same id, same account


def outcomes(port: int) -> dict[tuple[str, str], float]:
    """``riskmon_events_processed_total`` of the worker, by (kind, outcome); zeros left out."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (sample.labels["kind"], sample.labels["outcome"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "riskmon_events_processed"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.value
    }


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, worker: WorkerProcess, port: int
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        worker.check_alive()
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {outcomes(port)}\n{worker.tail(8)}")


def produce(pipe: Pipeline, *texts: str) -> None:
    pipe.produce_lines(SourceLine("test", n, text) for n, text in enumerate(texts, start=1))


def test_redelivery_is_dropped_and_a_reused_id_dead_lettered_across_a_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    pipe = Pipeline(kafka_bootstrap, tmp_path, partitions=2)
    pipe.create_topics(broker_tool)
    first_port = services.free_port()
    worker = WorkerProcess(pipe, "dedup-1", RISKMON_METRICS_PORT=str(first_port)).start()
    try:
        produce(pipe, ORIGINAL, ORIGINAL, COLLISION)  # keyed by account: one partition
        wait_for(
            "one event processed, one redelivery, one dead letter",
            lambda: (
                outcomes(first_port)
                == {
                    ("transaction", "ok"): 1,
                    ("transaction", "redelivery"): 1,
                    ("undecodable", "dead_letter"): 1,
                }
            ),
            120,
            worker,
            first_port,
        )
        dead = pipe.collect(pipe.topics["deadletter"], lambda m: len(m) >= 1, 60)
        alerts = pipe.collect(pipe.topics["alerts"], lambda m: False, 5, worker.check_alive)
    finally:
        worker.stop()
    (letter,) = dead
    headers = dict(letter.headers)
    assert headers["reason"] == b"duplicate_event_id" and b"dup-1" in headers["detail"]
    assert letter.value == COLLISION.encode()
    assert len(alerts) == 1 and json.loads(alerts[0].value)["event_ids"] == ["dup-1"]

    # A new worker rebuilds the memory from the changelog: the same event is still a repeat.
    second_port = services.free_port()
    worker = WorkerProcess(pipe, "dedup-2", RISKMON_METRICS_PORT=str(second_port)).start()
    try:
        produce(pipe, ORIGINAL)
        wait_for(
            "the repeat after the restart to be counted",
            lambda: outcomes(second_port).get(("transaction", "redelivery")) == 1,
            120,
            worker,
            second_port,
        )
        alerts = pipe.collect(pipe.topics["alerts"], lambda m: False, 5, worker.check_alive)
        assert outcomes(second_port).get(("transaction", "ok"), 0) == 0
    finally:
        worker.stop()
    assert alert_ids(alerts) == [json.loads(alerts[0].value)["alert_id"]]  # still one alert
