"""A sink that appends each alert as one JSON line (the format ``riskmon alerts ingest`` reads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks.base import BufferedSink, DeliveryAttemptError, RetryPolicy

__all__ = ["JsonlFileSink"]


class JsonlFileSink(BufferedSink):
    """Appends ``Alert.to_json()`` lines to ``path``, one per alert of each notification."""

    def __init__(
        self,
        path: Path,
        *,
        metrics: SinkMetrics,
        name: str = "jsonl",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dead_letter: Path | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, retry=retry, sleep=sleep, dead_letter=dead_letter)
        self.path = Path(path)

    def deliver(self, notification: Notification) -> None:
        lines = "".join(alert.to_json() + "\n" for alert in notification.alerts)
        try:
            with self.path.open("a", encoding="utf-8") as out:
                out.write(lines)
        except OSError as exc:
            raise DeliveryAttemptError(f"{self.path}: {exc.strerror}") from exc
