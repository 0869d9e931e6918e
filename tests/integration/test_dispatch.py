"""Dispatch on the real broker: alerts topic -> pipeline -> store, at least once, stored once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry

from monitor.engine import Engine
from monitor.rule_examples import example_events
from monitor.rules.schema import Example
from streams.dispatch import DispatchConfig, DispatchStats, dispatch, open_pipeline
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


def _rate_limited_routes(path: Path, rate_per_second: float) -> Path:
    path.write_text(
        "routes:\n"
        "  - {name: file, sinks: [jsonl], group: false}\n"
        f"rate_limits:\n  jsonl: {{rate_per_second: {rate_per_second}, burst: 3}}\n",
        encoding="utf-8",
    )
    return path


def _delivered(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line.split('"alert_id":"')[1][:32] for line in path.read_text().splitlines()]


def _alerts_on_one_partition(bootstrap: str) -> tuple[str, list[str]]:
    """A fresh one-partition alerts topic holding the 12 alerts of :func:`some_alerts`."""
    topic = unique_topic_name("alerts")
    broker_tool.create_topics(bootstrap, {topic: 1})
    alerts = some_alerts()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for raw in alerts:
        producer.send(topic, value=raw.encode())
    producer.flush()
    producer.close()
    return topic, alerts


def _dispatch_jsonl(
    bootstrap: str, topic: str, group: str, routes: Path, tmp_path: Path, **options: Any
) -> tuple[DispatchStats, int | None]:
    """Dispatch ``topic`` to the jsonl sink (``tmp_path/delivered.jsonl``) until ``should_stop``
    (in ``options``), then leave without another flush: what the pipeline still holds is gone,
    as in a crash. Returns the stats and the offset committed on partition 0."""
    config = DispatchConfig(
        store_url=f"sqlite:///{tmp_path / 'alerts.db'}",
        routes_file=routes,
        dead_letter_dir=tmp_path / "dl",
        jsonl_file=tmp_path / "delivered.jsonl",
    )
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        with open_pipeline(config, CollectorRegistry()) as (pipeline, _store):
            stop = options.pop("should_stop")
            stats = dispatch(consumer, pipeline, should_stop=lambda s: stop(s, pipeline), **options)
        return stats, consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close()


def test_notifications_a_rate_limit_holds_back_survive_a_crash(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """A rate limit lets 3 of 12 notifications through and holds 9 back in memory. The offset
    committed stays at the first held alert, so a dispatcher that dies then loses none: its
    successor (without the limit) reads them again and delivers them."""
    topic, alerts = _alerts_on_one_partition(kafka_bootstrap)
    group = unique_topic_name("dispatch")
    delivered = tmp_path / "delivered.jsonl"
    slow = _rate_limited_routes(tmp_path / "slow.yaml", 0.0001)
    _, committed = _dispatch_jsonl(
        kafka_bootstrap, topic, group, slow, tmp_path,
        should_stop=lambda s, _p: s.received >= 12, poll_ms=200,
    )  # fmt: skip
    assert len(_delivered(delivered)) == 3
    assert committed == 3  # the first held alert's offset, not 12
    unlimited = tmp_path / "open.yaml"
    unlimited.write_text("routes:\n  - {name: file, sinks: [jsonl], group: false}\n")
    _, committed = _dispatch_jsonl(
        kafka_bootstrap, topic, group, unlimited, tmp_path,
        should_stop=lambda s, _p: s.received >= 9, poll_ms=200,
    )  # fmt: skip
    assert committed == 12
    assert set(_delivered(delivered)) == {a.split('"alert_id":"')[1][:32] for a in alerts}
    assert len(_delivered(delivered)) == 12  # the 3 delivered before the crash are not read again


def test_held_notifications_are_handed_over_on_quiet_polls(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """With nothing more to read, later polls still hand the held notifications to their sink as
    the rate limit allows, and then commit everything."""
    topic, _alerts = _alerts_on_one_partition(kafka_bootstrap)
    routes = _rate_limited_routes(tmp_path / "routes.yaml", 20.0)
    stats, committed = _dispatch_jsonl(
        kafka_bootstrap, topic, unique_topic_name("dispatch"), routes, tmp_path,
        should_stop=lambda s, p: s.received >= 12 and not p.pending(), poll_ms=100,
    )  # fmt: skip
    assert len(_delivered(tmp_path / "delivered.jsonl")) == 12
    assert stats.flushes > 1
    assert committed == 12
