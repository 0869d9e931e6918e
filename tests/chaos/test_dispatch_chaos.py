"""Chaos for `riskmon dispatch`: SIGKILL it mid-flow and start it again at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer

from alerts.store import AlertStore
from monitor.engine import Engine
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example
from tests.chaos.chaos_harness import Figures, until
from tests.fixtures_kafka import broker_tool, unique_topic_name
from tests.integration.stream_harness import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def many_alerts(count: int) -> list[str]:
    """``count`` distinct alerts as JSON (one large ATM withdrawal each)."""
    raw = [
        {"kind": "transaction", "txn_id": f"D{i}", "txn_type": "withdrawal", "channel": "atm",
         "amount": str(50_000 + i),
         "occurred_at": f"2026-03-03T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}+08:00"}
        for i in range(count)
    ]  # fmt: skip
    engine = Engine(load_rules())
    events = example_events(Example(events=raw, expect=[]))
    alerts = [a.to_json() for e in events for a in engine.process(e)]
    assert len(alerts) == count
    return alerts


def stored_ids(url: str) -> list[str]:
    with AlertStore.open(url) as store:
        return [s.alert.alert_id for s in store.list_alerts(limit=100_000)]


def test_dispatcher_kill(kafka_bootstrap: str, tmp_path: Path) -> None:
    """No stored alert lost or doubled; with static membership delivery resumes in seconds."""
    alerts = many_alerts(300)
    topic, group = unique_topic_name("dispatch-alerts"), unique_topic_name("dispatch")
    broker_tool.create_topics(kafka_bootstrap, {topic: 2})
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    env = {
        **os.environ,
        "RISKMON_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RISKMON_TOPIC_ALERTS": topic,
        "RISKMON_DISPATCH_GROUP": group,
        "RISKMON_ALERT_STORE_URL": url,
        "RISKMON_DISPATCH_DEAD_LETTER_DIR": str(tmp_path / "dl"),
        "RISKMON_DISPATCH_SESSION_TIMEOUT": "6",
        "RISKMON_DISPATCH_INSTANCE_ID": "dispatch-1",
    }
    log = tmp_path / "dispatch.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "riskmon.cli", "dispatch"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def send_all() -> None:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        try:
            for raw in alerts:
                producer.send(topic, value=raw.encode())
                time.sleep(1 / 30)
        finally:
            producer.flush()
            producer.close()

    dispatcher = start()
    sender = threading.Thread(target=send_all)
    try:
        ready = until(lambda: "dispatching" in log.read_text(errors="replace"), 60)
        assert ready is not None, log.read_text(errors="replace")
        sender.start()
        time.sleep(3)
        dispatcher.send_signal(signal.SIGKILL)
        dispatcher.wait(timeout=10)
        before = len(stored_ids(url))
        dispatcher = start()
        restarted = time.monotonic()
        resumed = until(lambda: len(stored_ids(url)) > before, 60)
        sender.join(timeout=60)
        assert until(lambda: len(stored_ids(url)) >= len(alerts), 90) is not None
        time.sleep(2)  # a late double would show up here
        delivered = stored_ids(url)
    finally:
        if sender.is_alive():
            sender.join(timeout=60)
        dispatcher.send_signal(signal.SIGTERM)
        try:
            dispatcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            dispatcher.kill()
            dispatcher.wait()
    assert resumed is not None and resumed < 20, f"delivery resumed after {resumed} s"
    expected = {a.split('"alert_id":"')[1][:32] for a in alerts}
    assert len(delivered) == len(set(delivered))
    note = f"SIGKILL mid-flow, static membership: delivery resumed {resumed:.1f} s after restart"
    figures = Figures(
        "dispatcher_kill", len(alerts), expected, delivered, time.monotonic() - restarted, note
    )
    figures.report()
