"""The worker applies the same reference-data screen as replay (issue 11, item 2).

A transaction in a valid ISO 4217 currency that has no conversion rate reaches the dead-letter
topic with reason ``unknown_currency``, on the real broker, through a real ``riskmon worker``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import Pipeline, WorkerProcess, alert_ids

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TXN = {
    "kind": "transaction",
    "event_id": "scr-1",
    "occurred_at": "2026-03-03T10:00:00+08:00",
    "branch_id": "BR001",
    "txn_id": "SCR-T1",
    "account_id": "6222020200009999",
    "account_type": "individual",
    "amount": "90000",
    "currency": "CNY",
    "direction": "debit",
    "channel": "counter",
    "txn_type": "withdrawal",
    "initiator_id": "op-t1",
    "status": "posted",
}


def test_unknown_currency_is_dead_lettered_by_the_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    pipe = Pipeline(kafka_bootstrap, tmp_path, partitions=1)
    pipe.create_topics(broker_tool)
    unrated = json.dumps({**TXN, "event_id": "scr-2", "txn_id": "SCR-T2", "currency": "NGN"})
    valid = json.dumps(TXN)
    worker = WorkerProcess(pipe, "screens").start()
    try:
        pipe.produce_raw(pipe.topics["transactions"], [unrated.encode(), valid.encode()])
        dead = pipe.collect(pipe.topics["deadletter"], lambda m: len(m) >= 1, 120)
        alerts = pipe.collect(pipe.topics["alerts"], lambda m: len(m) >= 1, 120)
        worker.check_alive()
    finally:
        worker.stop()
    (letter,) = dead
    headers = dict(letter.headers)
    assert headers["reason"] == b"unknown_currency" and b"NGN" in headers["detail"]
    assert letter.value == unrated.encode()
    assert len(alert_ids(alerts)) == 1
    assert json.loads(alerts[0].value)["event_ids"] == ["scr-1"]  # the valid CNY withdrawal
