"""WebhookSink against a real HTTP receiver in this process: signatures, retries, dead letters."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.errors import SinkDeliveryError
from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks import RetryPolicy, WebhookSink, replay_dead_letters, sign
from tests.alerts.alertkit import SleepRecorder, make_alert
from tests.alerts.receiver import free_port, webhook_receiver

SECRET = b"s3cret"


def note(n: int = 1) -> Notification:
    alerts = tuple(make_alert() for _ in range(n))
    return Notification("officers", "large_transfer_over_limit/account/x", alerts)


def counter(registry: CollectorRegistry, name: str, sink: str = "webhook") -> float:
    return registry.get_sample_value(f"riskmon_sink_{name}_total", {"sink": sink}) or 0.0


def test_signed_notification_is_accepted(
    http_client: httpx.Client, sink_metrics: SinkMetrics, registry: CollectorRegistry
) -> None:
    notification = note(2)
    with webhook_receiver(SECRET) as receiver:
        sink = WebhookSink(receiver.url, client=http_client, metrics=sink_metrics, secret=SECRET)
        sink.add(notification)
        sink.flush()

    assert receiver.bad_signatures == 0
    assert receiver.accepted == [json.loads(sink.body(notification))]
    assert receiver.accepted[0]["count"] == 2
    assert counter(registry, "sent") == 1


def test_a_wrong_secret_is_refused_and_not_retried(
    http_client: httpx.Client, sink_metrics: SinkMetrics, sleeps: SleepRecorder, tmp_path: Path
) -> None:
    dead = tmp_path / "dead.jsonl"
    with webhook_receiver(SECRET) as receiver:
        sink = WebhookSink(
            receiver.url, client=http_client, metrics=sink_metrics, secret=b"wrong",
            sleep=sleeps, dead_letter=dead,
        )  # fmt: skip
        sink.add(note())
        sink.flush()

    assert (receiver.requests, receiver.bad_signatures, sleeps.delays) == (1, 1, [])
    assert json.loads(dead.read_text())["error"].endswith("HTTP 401")


def test_failures_are_retried_with_exponential_backoff(
    http_client: httpx.Client,
    sink_metrics: SinkMetrics,
    registry: CollectorRegistry,
    sleeps: SleepRecorder,
) -> None:
    retry = RetryPolicy(attempts=4, backoff_seconds=0.5)
    with webhook_receiver(SECRET, fail_first=3) as receiver:
        sink = WebhookSink(
            receiver.url, client=http_client, metrics=sink_metrics, secret=SECRET,
            retry=retry, sleep=sleeps,
        )  # fmt: skip
        sink.add(note())
        sink.flush()

    assert receiver.requests == 4
    assert len(receiver.accepted) == 1
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert (counter(registry, "retried"), counter(registry, "sent")) == (3, 1)
    assert counter(registry, "failed") == 0


def test_exhausted_retries_go_to_the_dead_letter_file(
    http_client: httpx.Client,
    sink_metrics: SinkMetrics,
    registry: CollectorRegistry,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    dead = tmp_path / "dead" / "webhook.jsonl"
    first, second = note(), note()
    with webhook_receiver(SECRET, fail_first=5) as receiver:
        sink = WebhookSink(
            receiver.url, client=http_client, metrics=sink_metrics, secret=SECRET,
            retry=RetryPolicy(attempts=3, backoff_seconds=0.1), sleep=sleeps, dead_letter=dead,
        )  # fmt: skip
        sink.add(first)
        sink.add(second)
        sink.flush()
        # The first used 3 attempts; after that the outage is known and the second gets one.
        assert receiver.requests == 4
        assert sink.pending() == 0

        assert len(dead.read_text().splitlines()) == 2

        # The receiver has recovered after 5 failures: replay delivers both (one retry).
        replayed = replay_dead_letters(dead, sink)

    assert replayed == 2
    assert not dead.exists()
    assert sorted(receiver.accepted_alert_ids()) == sorted(
        [first.first.alert_id, second.first.alert_id]
    )
    assert counter(registry, "dead_lettered") == 2
    assert counter(registry, "failed") == 2
    assert counter(registry, "retried") == 3
    assert counter(registry, "sent") == 2


def test_without_a_dead_letter_file_failures_stay_buffered_and_raise(
    http_client: httpx.Client, sink_metrics: SinkMetrics, sleeps: SleepRecorder
) -> None:
    port = free_port()
    sink = WebhookSink(
        f"http://127.0.0.1:{port}/hook", client=http_client, metrics=sink_metrics,
        retry=RetryPolicy(attempts=2), sleep=sleeps,
    )  # fmt: skip
    sink.add(note())

    with pytest.raises(SinkDeliveryError, match="after 2 attempt"):
        sink.flush()
    assert sink.pending() == 1

    with webhook_receiver(port=port) as receiver:
        sink.flush()
    assert sink.pending() == 0
    assert len(receiver.accepted) == 1


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # The well-known HMAC-SHA256 example (key "key", the quick brown fox).
    body = b"The quick brown fox jumps over the lazy dog"
    expected = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    assert sign(b"key", body) == f"sha256={expected}"
