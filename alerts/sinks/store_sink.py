"""The store as a sink: every alert of every notification is upserted by ``alert_id``.

Triggering events carried in ``Alert.evidence`` (the live worker fills it) are kept as the alert's
evidence. An alert that a silence covered is stored with the silence's id (``silenced_by``) and a
``silenced`` history entry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks.base import BufferedSink, DeliveryAttemptError, RetryPolicy
from alerts.store.store import AlertStore

__all__ = ["StoreSink"]


class StoreSink(BufferedSink):
    """Writes alerts to an :class:`AlertStore` (which the caller owns and closes)."""

    def __init__(
        self,
        store: AlertStore,
        *,
        metrics: SinkMetrics,
        name: str = "store",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dead_letter: Path | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, retry=retry, sleep=sleep, dead_letter=dead_letter)
        self.store = store

    def deliver(self, notification: Notification) -> None:
        # Evidence the worker put in an alert is kept with it, like the demo's events.
        events = {str(e["event_id"]): e for a in notification.alerts for e in a.evidence}
        try:
            self.store.upsert_many(notification.alerts, events=events or None)
            for alert_id, silence_id in notification.silenced.items():
                self.store.record_silenced(alert_id, silence_id)
        except SQLAlchemyError as exc:
            raise DeliveryAttemptError(f"store: {type(exc).__name__}: {exc}") from exc
