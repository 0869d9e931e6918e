"""An Alertmanager sink: POST /api/v2/alerts.

Labels stay low-cardinality: ``alertname`` (the rule id), ``category``, ``severity`` and
``branch`` (and ``reason`` for ``operations`` alerts). The alert id, entity, message, title,
event ids and pack version/hash go in annotations. ``startsAt`` is the event time. Alertmanager
identifies an alert by its labels, so distinct riskmon alerts with the same labels show as one
Alertmanager alert (carrying the latest annotations) unless ``id_label=True`` adds ``alert_id`` as
a label. An incident's resolution (:func:`monitor.alerts.is_resolution`) is sent with the same
labels and ``endsAt``, so Alertmanager resolves the firing alert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks.base import BufferedSink, DeliveryAttemptError, RetryPolicy
from alerts.sinks.webhook import is_retryable
from monitor.alerts import Alert, is_resolution

__all__ = ["AlertmanagerSink", "to_alertmanager"]


def to_alertmanager(
    alert: Alert, *, group_count: int = 1, id_label: bool = False
) -> dict[str, Any]:
    """One alert in Alertmanager's v2 ``postableAlert`` form."""
    labels = {
        "alertname": alert.rule_id,
        "category": alert.category,
        "severity": alert.severity,
    }
    if alert.branch_id:
        labels["branch"] = alert.branch_id
    if alert.category == "operations" and alert.reason:
        labels["reason"] = alert.reason  # two incidents of one branch are two alerts
    if id_label:
        labels["alert_id"] = alert.alert_id
    annotations = {
        "alert_id": alert.alert_id,
        "title": alert.title,
        "entity": f"{alert.entity_type}:{alert.entity_id}",
        "message": alert.message,
        "event_ids": ",".join(alert.event_ids),
        "pack_version": alert.pack_version,
        "pack_hash": alert.pack_hash,
        "group_count": str(group_count),
    }
    posted: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": alert.occurred_at.isoformat(),
    }
    if is_resolution(alert):  # the same labels with endsAt: Alertmanager resolves the alert
        since = alert.explanation.get("since")
        if since is not None:
            posted["startsAt"] = str(since)
        posted["endsAt"] = alert.occurred_at.isoformat()
    return posted


class AlertmanagerSink(BufferedSink):
    """Posts every alert of a notification to Alertmanager in one request."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client,
        metrics: SinkMetrics,
        name: str = "alertmanager",
        id_label: bool = False,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dead_letter: Path | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, retry=retry, sleep=sleep, dead_letter=dead_letter)
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.client = client
        self.id_label = id_label
        self.timeout = timeout

    def deliver(self, notification: Notification) -> None:
        body = [
            to_alertmanager(alert, group_count=notification.count, id_label=self.id_label)
            for alert in notification.alerts
        ]
        try:
            response = self.client.post(self.url, json=body, timeout=self.timeout)
        except httpx.TransportError as exc:
            raise DeliveryAttemptError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryAttemptError(
                f"{self.url}: HTTP {response.status_code}: {response.text[:200]}",
                retryable=is_retryable(response.status_code),
            )
