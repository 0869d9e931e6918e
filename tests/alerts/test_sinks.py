"""Contract suite over every sink, then what is particular to the file, store and Kafka sinks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry

from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks import (
    ALERTS_TOPIC,
    AlertSink,
    JsonlFileSink,
    KafkaSink,
    RetryPolicy,
    StoreSink,
    WebhookSink,
)
from alerts.store import AlertStore
from monitor.alerts import Alert, mask_alert
from tests.alerts.alertkit import MemorySink, make_alert
from tests.alerts.receiver import webhook_receiver

SINK_KINDS = ["memory", "jsonl", "store", "kafka_send", "webhook"]


class Built:
    """A sink and a way to read back the alert ids it delivered."""

    def __init__(self, sink: AlertSink, delivered: Callable[[], list[str]]) -> None:
        self.sink = sink
        self.delivered = delivered


@pytest.fixture(params=SINK_KINDS)
def built(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sink_metrics: SinkMetrics,
    http_client: httpx.Client,
) -> Iterator[Built]:
    kind = request.param
    with ExitStack() as stack:
        if kind == "memory":
            memory = MemorySink()
            yield Built(memory, lambda: [a.alert_id for n in memory.delivered for a in n.alerts])
        elif kind == "jsonl":
            path = tmp_path / "alerts.jsonl"
            jsonl = JsonlFileSink(path, metrics=sink_metrics)
            yield Built(
                jsonl,
                lambda: [Alert.from_json(line).alert_id for line in path.read_text().splitlines()],
            )
        elif kind == "store":
            store = stack.enter_context(AlertStore.open(f"sqlite:///{tmp_path / 's.db'}"))
            yield Built(
                StoreSink(store, metrics=sink_metrics),
                lambda: [s.alert.alert_id for s in store.list_alerts(limit=1000)],
            )
        elif kind == "kafka_send":
            sent: list[tuple[str, bytes, bytes]] = []
            kafka = KafkaSink(lambda t, k, v: sent.append((t, k, v)), metrics=sink_metrics)
            yield Built(kafka, lambda: [k.decode() for _, k, _ in sent])
        else:
            receiver = stack.enter_context(webhook_receiver(b"k"))
            webhook = WebhookSink(
                receiver.url, client=http_client, metrics=sink_metrics, secret=b"k"
            )
            yield Built(webhook, receiver.accepted_alert_ids)


def notification(*alerts: Alert) -> Notification:
    return Notification("r", "g", alerts)


def test_every_sink_delivers_what_was_added_on_flush(built: Built) -> None:
    first, second, third = make_alert(), make_alert(), make_alert()
    assert isinstance(built.sink, AlertSink)
    built.sink.add(notification(first, second))
    built.sink.add(notification(third))
    built.sink.flush()
    assert sorted(built.delivered()) == sorted(a.alert_id for a in (first, second, third))


def test_an_empty_flush_is_a_no_op(built: Built) -> None:
    built.sink.flush()
    built.sink.flush()
    if not isinstance(built.sink, JsonlFileSink):  # the JSONL file is only made on first write
        assert built.delivered() == []
    built.sink.close()


def test_flush_delivers_only_once(built: Built) -> None:
    alert = make_alert()
    built.sink.add(notification(alert))
    built.sink.flush()
    built.sink.flush()
    assert built.delivered() == [alert.alert_id]


def test_kafka_sink_keys_by_alert_id_on_risk_alerts(sink_metrics: SinkMetrics) -> None:
    sent: list[tuple[str, bytes, bytes]] = []
    sink = KafkaSink(lambda t, k, v: sent.append((t, k, v)), metrics=sink_metrics)
    alert = make_alert()
    sink.add(notification(alert))
    sink.flush()
    assert sent == [(ALERTS_TOPIC, alert.alert_id.encode(), alert.to_json().encode())]


def test_a_kafka_send_error_is_retried_then_dead_lettered(
    sink_metrics: SinkMetrics, tmp_path: Path
) -> None:
    calls: list[float] = []

    def broken_send(topic: str, key: bytes, value: bytes) -> None:
        raise TimeoutError("broker did not acknowledge")

    dead = tmp_path / "kafka-dead.jsonl"
    sink = KafkaSink(
        broken_send, metrics=sink_metrics, retry=RetryPolicy(attempts=3, backoff_seconds=1),
        sleep=calls.append, dead_letter=dead,
    )  # fmt: skip
    sink.add(notification(make_alert()))
    sink.flush()
    assert calls == [1.0, 2.0]
    assert "TimeoutError" in json.loads(dead.read_text())["error"]


@pytest.mark.kafka
def test_kafka_sink_with_a_real_producer_and_broker(
    kafka_bootstrap: str, make_kafka_topic: Callable[..., str], sink_metrics: SinkMetrics
) -> None:
    topic = make_kafka_topic()
    alerts = [make_alert() for _ in range(3)]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    try:
        sink = KafkaSink.from_producer(producer, topic=topic, metrics=sink_metrics)
        sink.add(notification(*alerts))
        sink.flush()
    finally:
        producer.close()
    consumer = KafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )  # fmt: skip
    try:
        received = []
        for message in consumer:
            received.append((message.key, Alert.from_json(message.value)))
            if len(received) == len(alerts):
                break
    finally:
        consumer.close()
    assert received == [(a.alert_id.encode(), a) for a in alerts]


def test_the_store_sink_keeps_the_evidence_an_alert_carries(tmp_path: Path) -> None:
    """The live worker puts the triggering event in ``Alert.evidence``; the store keeps it."""
    event = {"event_id": "e1", "kind": "transaction", "account_id": "6222020200001234"}
    alert = make_alert(event_ids=("e1",)).model_copy(update={"evidence": (event,)})
    assert mask_alert(alert).evidence[0]["account_id"] == "************1234"
    registry = CollectorRegistry()
    with AlertStore.open(f"sqlite:///{tmp_path / 'a.db'}") as store:
        sink = StoreSink(store, metrics=SinkMetrics(registry))
        sink.deliver(Notification(route="store", group_key="g", alerts=(alert,)))
        kept = store.evidence(alert.alert_id)
    assert [e["event_id"] for e in kept] == ["e1"]
    assert kept[0]["account_id"] == "************1234"
