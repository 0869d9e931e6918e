"""Dispatch on the real broker: alerts topic -> pipeline -> store, at least once, stored once."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from monitor.engine import Engine
from monitor.rule_examples import example_events
from monitor.rules.schema import Example
from streams.dispatch import DispatchConfig, dispatch, open_pipeline
from tests.fixtures_kafka import broker_tool, unique_topic_name
from tests.shipped import shipped_rules

pytestmark = pytest.mark.kafka


def some_alerts() -> list[str]:
    events = [
        {"kind": "transaction", "txn_id": f"T{i}", "txn_type": "withdrawal", "channel": "atm",
         "amount": str(50_000 + i), "occurred_at": f"2026-03-03T10:{i:02d}:00+08:00"}
        for i in range(12)
    ]  # fmt: skip
    engine = Engine(shipped_rules())
    alerts = [
        a for e in example_events(Example(events=events, expect=[])) for a in engine.process(e)
    ]
    return [a.to_json() for a in alerts]


def test_redelivered_alerts_are_stored_once_and_offsets_committed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic, group = unique_topic_name("alerts"), unique_topic_name("dispatch")
    broker_tool.create_topics(kafka_bootstrap, {topic: 2})
    alerts = some_alerts()
    assert len(alerts) == 12
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for _ in range(3):  # at-least-once upstream: the same alerts three times
        for raw in alerts:
            producer.send(topic, value=raw.encode())
    producer.send(topic, value=b"{not an alert")
    producer.flush()
    producer.close()

    config = DispatchConfig(
        store_url=f"sqlite:///{tmp_path / 'alerts.db'}", dead_letter_dir=tmp_path / "dl"
    )
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        with open_pipeline(config, CollectorRegistry()) as (pipeline, store):
            stats = dispatch(
                consumer, pipeline, should_stop=lambda s: s.received + s.rejected >= 37
            )
            assert store.count() == 12
            assert {s.alert.alert_id for s in store.list_alerts(limit=100)} == {
                a.split('"alert_id":"')[1][:32] for a in alerts
            }
        committed = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
    finally:
        consumer.close()
    assert (stats.received, stats.rejected) == (36, 1)
    assert committed == 37
