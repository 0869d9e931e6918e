"""Round trips through the real Kafka broker that tools/kafka_broker.py starts."""

import asyncio
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, RecordMetadata
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from tests.fixtures_kafka import broker_tool, free_ports, unique_topic_name

pytestmark = pytest.mark.kafka

TIMEOUT_S = 20.0


def _poll(consumer: KafkaConsumer, count: int) -> list[Any]:
    """Poll until ``count`` records arrived or TIMEOUT_S passed; returns what arrived."""
    records: list[Any] = []  # kafka-python ships no type hints
    deadline = time.monotonic() + TIMEOUT_S
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_kafka_python_round_trip_with_consumer_group(
    kafka_bootstrap: str, make_kafka_topic: Callable[..., str]
) -> None:
    topic = make_kafka_topic()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        future = producer.send(
            topic, key=b"acct-1", value=b'{"amount": "12.50"}', headers=[("src", b"test")]
        )
        sent = future.get(timeout=TIMEOUT_S)
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_topic_name("group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        records = _poll(consumer, 1)
        consumer.commit()
        committed = consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close()

    assert [(r.key, r.value, r.headers, r.offset) for r in records] == [
        (b"acct-1", b'{"amount": "12.50"}', [("src", b"test")], sent.offset)
    ]
    assert committed == sent.offset + 1


def test_aiokafka_round_trip_keeps_order_on_an_auto_created_topic(
    kafka_bootstrap: str, kafka_topic_name: str
) -> None:
    values = [f"event-{i}".encode() for i in range(20)]

    async def round_trip() -> tuple[list[RecordMetadata], list[ConsumerRecord], int | None]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        await producer.start()
        try:
            sent = [await producer.send_and_wait(kafka_topic_name, v, key=b"k") for v in values]
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            kafka_topic_name,
            bootstrap_servers=kafka_bootstrap,
            group_id=unique_topic_name("group"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            received = [
                await asyncio.wait_for(consumer.getone(), TIMEOUT_S) for _ in range(len(values))
            ]
            await consumer.commit()
            committed = await consumer.committed(AioTopicPartition(kafka_topic_name, 0))
        finally:
            await consumer.stop()
        return sent, received, committed

    sent, received, committed = asyncio.run(round_trip())

    assert [r.value for r in received] == values
    assert [(r.partition, r.offset) for r in received] == [(m.partition, m.offset) for m in sent]
    assert [m.offset for m in sent] == list(range(len(values)))
    assert committed == len(values)


def test_multi_partition_topic_has_its_partitions_and_routes_by_partition(
    kafka_bootstrap: str, make_kafka_topic: Callable[..., str]
) -> None:
    topic = make_kafka_topic(partitions=4)
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        sent = producer.send(topic, value=b"to-3", partition=3).get(timeout=TIMEOUT_S)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        consumer.assign([TopicPartition(topic, 3)])
        consumer.seek_to_beginning()
        records = _poll(consumer, 1)
    finally:
        consumer.close()

    assert sorted(p["partition_index"] for p in described["partitions"]) == [0, 1, 2, 3]
    assert partitions == {0, 1, 2, 3}
    assert sent.partition == 3
    assert [(r.partition, r.value) for r in records] == [(3, b"to-3")]


def test_create_topics_is_idempotent_and_refuses_another_partition_count(
    kafka_bootstrap: str, make_kafka_topic: Callable[..., str]
) -> None:
    topic = make_kafka_topic(partitions=2)

    broker_tool.create_topics(kafka_bootstrap, {topic: 2})
    with pytest.raises(broker_tool.TopicMismatchError, match=f"{topic} has 2, not 3"):
        broker_tool.create_topics(kafka_bootstrap, {topic: 3})


@pytest.mark.slow
def test_a_leased_broker_stops_when_its_only_lessee_is_killed(tmp_path: Path) -> None:
    """A session killed before it could release its lease does not leave the broker running."""
    port, controller = free_ports(2)
    config = broker_tool.BrokerConfig.from_env(
        port=port, controller_port=controller, run_dir=tmp_path / "kafka"
    )
    lessee = subprocess.Popen(["sleep", "300"])
    try:
        info = broker_tool.ensure_started(config, lease_pid=lessee.pid)
        assert info.started and broker_tool.status(config).healthy
        lessee.kill()  # no release: as if pytest itself were killed
        lessee.wait()
        deadline = time.monotonic() + 40
        while broker_tool.status(config).running and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not broker_tool.status(config).running, "the reaper did not stop the broker"
        assert not broker_tool._alive(info.pid)
    finally:
        lessee.kill()
        lessee.wait()
        broker_tool.stop(config)


@pytest.mark.slow
def test_a_fresh_start_drops_old_topics_and_a_running_broker_is_reused(tmp_path: Path) -> None:
    """``fresh`` empties the data dir of a broker it starts, never of one that already runs."""
    port, controller = free_ports(2)
    config = broker_tool.BrokerConfig.from_env(
        port=port, controller_port=controller, run_dir=tmp_path / "kafka"
    )
    old = unique_topic_name("old")
    try:
        first = broker_tool.ensure_started(config, fresh=True)
        broker_tool.create_topics(first.bootstrap, {old: 3})
        again = broker_tool.ensure_started(config, fresh=True)  # running: reused, data kept
        assert not again.started and again.pid == first.pid
        assert old in _topics(again.bootstrap)

        broker_tool.stop(config)
        restarted = broker_tool.ensure_started(config, fresh=True)
        assert restarted.started
        assert old not in _topics(restarted.bootstrap)
        assert not (config.run_path("data") / f"{old}-0").exists()
    finally:
        broker_tool.stop(config)


def test_a_start_waits_on_while_the_broker_log_grows(tmp_path: Path) -> None:
    """Loading thousands of partitions can outlast the timeout; a growing log extends the wait."""
    config = broker_tool.BrokerConfig.from_env(run_dir=tmp_path / "kafka")
    assert not broker_tool._still_loading(config)  # no log at all
    log = config.run_path("logs/server.log")
    log.parent.mkdir(parents=True)
    log.write_text("Completed load of Log ... (4199/10877 completed in data)\n")
    assert broker_tool._still_loading(config)
    stale = time.time() - 60
    os.utime(log, (stale, stale))
    assert not broker_tool._still_loading(config)


def _topics(bootstrap: str) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()
