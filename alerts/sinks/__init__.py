"""Alert sinks: where notifications go.

Conventions
-----------
- Every sink has ``add(notification)`` per notification and ``flush()`` on commit, and a
  ``name`` that labels its counters (``riskmon_sink_{sent,failed,retried,dead_lettered}_total``).
- Sinks are given their clients (``httpx.Client``, a Kafka send function, an ``AlertStore``) and
  a :class:`~alerts.metrics.SinkMetrics` on the caller's registry; they close none of them.
- Each sink retries with exponential backoff on its own injectable ``sleep``; what still fails is
  written to its dead-letter file when it has one, else kept for the next flush.
"""

from __future__ import annotations

from alerts.metrics import SinkMetrics
from alerts.sinks.alertmanager import AlertmanagerSink, to_alertmanager
from alerts.sinks.base import AlertSink, BufferedSink, DeliveryAttemptError, RetryPolicy
from alerts.sinks.deadletter import DeadLetterFile, replay_dead_letters
from alerts.sinks.jsonl import JsonlFileSink
from alerts.sinks.kafka import ALERTS_TOPIC, KafkaSink
from alerts.sinks.store_sink import StoreSink
from alerts.sinks.webhook import SIGNATURE_HEADER, WebhookSink, sign

__all__ = [
    "ALERTS_TOPIC",
    "SIGNATURE_HEADER",
    "AlertSink",
    "AlertmanagerSink",
    "BufferedSink",
    "DeadLetterFile",
    "DeliveryAttemptError",
    "JsonlFileSink",
    "KafkaSink",
    "RetryPolicy",
    "SinkMetrics",
    "StoreSink",
    "WebhookSink",
    "replay_dead_letters",
    "sign",
    "to_alertmanager",
]
