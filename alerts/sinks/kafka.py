"""A Kafka sink: each alert as JSON, keyed by ``alert_id``, on topic ``risk.alerts``.

The caller gives the send function (``send(topic, key, value)``, blocking until acknowledged) or a
kafka-python producer through :meth:`KafkaSink.from_producer`. Keying by ``alert_id`` keeps a
redelivered alert on its partition, so compacted or de-duplicating consumers see it once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks.base import BufferedSink, DeliveryAttemptError, RetryPolicy

__all__ = ["ALERTS_TOPIC", "KafkaSink", "SendFunction"]

ALERTS_TOPIC = "risk.alerts"
SendFunction = Callable[[str, bytes, bytes], object]


class KafkaSink(BufferedSink):
    """Sends each alert of a notification as one Kafka record."""

    def __init__(
        self,
        send: SendFunction,
        *,
        metrics: SinkMetrics,
        topic: str = ALERTS_TOPIC,
        name: str = "kafka",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dead_letter: Path | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, retry=retry, sleep=sleep, dead_letter=dead_letter)
        self.send = send
        self.topic = topic

    @classmethod
    def from_producer(cls, producer: Any, *, timeout: float = 10.0, **options: Any) -> KafkaSink:
        """Wrap a kafka-python ``KafkaProducer``; each send waits for the broker's ack."""

        def send(topic: str, key: bytes, value: bytes) -> object:
            return producer.send(topic, key=key, value=value).get(timeout=timeout)

        return cls(send, **options)

    def deliver(self, notification: Notification) -> None:
        for alert in notification.alerts:
            try:
                self.send(self.topic, alert.alert_id.encode(), alert.to_json().encode())
            # The caller's send function may raise whatever its client raises.
            except Exception as exc:
                raise DeliveryAttemptError(f"kafka: {type(exc).__name__}: {exc}") from exc
