"""A sink's buffer across failed flushes: a redelivered notification is taken once, and one its
dead-letter file refused (a full disk) is kept, never lost."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alerts.errors import DeliveryAttemptError, SinkDeliveryError
from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.silences import Silence
from alerts.sinks import BufferedSink, RetryPolicy
from tests.alerts.alertkit import make_alert


class Down(BufferedSink):
    def __init__(self, dead_letter: Path | None) -> None:
        super().__init__(
            "down",
            metrics=SinkMetrics(CollectorRegistry()),
            retry=RetryPolicy(attempts=1),
            sleep=lambda _s: None,
            dead_letter=dead_letter,
        )
        self.up = False
        self.delivered: list[str] = []

    def deliver(self, notification: Notification) -> None:
        if not self.up:
            raise DeliveryAttemptError("down")
        self.delivered += [a.alert_id for a in notification.alerts]


def test_redelivered_notification_is_buffered_once() -> None:
    sink, one = Down(None), Notification("r", "g", (make_alert(),))
    for _ in range(3):  # the dispatcher rewinds and hands the same alert over again
        sink.add(Notification("r", "g", one.alerts))
        with pytest.raises(SinkDeliveryError):
            sink.flush()
    assert sink.pending() == 1
    sink.up = True
    sink.flush()
    assert sink.delivered == [one.alerts[0].alert_id]


def test_notification_kept_when_dead_letter_file_cannot_be_written(tmp_path: Path) -> None:
    refused = tmp_path / "a-directory"
    refused.mkdir()  # opening it for append fails with an OSError, as a full disk does
    sink, alert = Down(refused), make_alert()
    sink.add(Notification("r", "g", (alert,)))
    with pytest.raises(SinkDeliveryError, match="dead-letter file"):
        sink.flush()
    assert sink.pending() == 1
    sink.up = True
    sink.flush()
    assert sink.delivered == [alert.alert_id]


def test_pipeline_keeps_its_alerts_when_silences_cannot_be_read() -> None:
    """The store holding the silences is down: the flush fails, nothing is dropped."""
    sink = Down(None)
    sink.up = True
    down = [True]

    def silences(_at: datetime) -> list[Silence]:
        if down[0]:
            raise OSError("connection refused")
        return []

    config = parse_routes({"routes": [{"name": "r", "sinks": ["down"], "group": False}]})
    pipeline = AlertPipeline(
        config, {"down": sink}, registry=CollectorRegistry(), silences=silences
    )
    alert = make_alert()
    pipeline.add(alert)
    report = pipeline.flush()
    assert not report.ok and "silences" in report.failed
    assert pipeline.pending() == 1
    down[0] = False
    assert pipeline.flush().ok
    assert sink.delivered == [alert.alert_id]
