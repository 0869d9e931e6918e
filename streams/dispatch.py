"""Dispatch: the alerts topic → the alert pipeline (store, Alertmanager, webhook).

The worker writes alerts to ``risk.alerts``; a dispatcher consumes them in its own consumer group
and hands them to :class:`alerts.pipeline.AlertPipeline`. Offsets are committed only after a flush
in which every sink took everything (or dead-lettered it), so a crash redelivers and the sinks'
idempotence by ``alert_id`` keeps people from seeing an alert twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from alerts.pipeline import AlertPipeline
from alerts.routing import RouteConfig, load_routes, parse_routes
from alerts.sinks import AlertmanagerSink, AlertSink, SinkMetrics, StoreSink, WebhookSink
from alerts.store import AlertStore
from monitor.alerts import Alert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchConfig:
    store_url: str = "sqlite:///riskmon-alerts.db"
    routes_file: Path | None = None
    alertmanager_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    dead_letter_dir: Path = field(default_factory=lambda: Path("dead-letters"))


def default_routes(config: DispatchConfig) -> RouteConfig:
    """Without a route file: store everything; notify Alertmanager/webhook if configured."""
    routes: list[dict[str, Any]] = [
        {"name": "store-everything", "sinks": ["store"], "ignore_silences": True, "group": False}
    ]
    notify = [n for n, url in (("alertmanager", config.alertmanager_url),
                               ("webhook", config.webhook_url)) if url]  # fmt: skip
    if notify:
        routes.append({"name": "notify", "sinks": notify})
    return parse_routes({"routes": routes})


@contextmanager
def open_pipeline(
    config: DispatchConfig, registry: CollectorRegistry
) -> Iterator[tuple[AlertPipeline, AlertStore]]:
    """The pipeline with its store and HTTP client, closed on exit."""
    with ExitStack() as stack:
        store = stack.enter_context(AlertStore.open(config.store_url))
        client = stack.enter_context(httpx.Client())
        metrics = SinkMetrics(registry)
        config.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        sinks: dict[str, AlertSink] = {"store": StoreSink(store, metrics=metrics)}
        if config.alertmanager_url:
            sinks["alertmanager"] = AlertmanagerSink(
                config.alertmanager_url,
                client=client,
                metrics=metrics,
                dead_letter=config.dead_letter_dir / "alertmanager.jsonl",
            )
        if config.webhook_url:
            secret = config.webhook_secret.encode() if config.webhook_secret else None
            sinks["webhook"] = WebhookSink(
                config.webhook_url,
                client=client,
                metrics=metrics,
                secret=secret,
                dead_letter=config.dead_letter_dir / "webhook.jsonl",
            )
        routes = load_routes(config.routes_file) if config.routes_file else default_routes(config)
        pipeline = AlertPipeline(
            routes,
            sinks,
            registry=registry,
            silences=lambda at: store.list_silences(active_at=at),
            # The store masks by itself unless its setting allows full values.
            unmasked_sinks=frozenset({"store"}),
        )
        yield pipeline, store


def dispatch_consumer_options(session_timeout: float, instance_id: str | None) -> dict[str, Any]:
    """Group settings for the dispatcher's kafka-python consumer.

    The client's default 45 s session timeout blacked out delivery for 44 to 89 s after a crash.
    A shorter timeout hands a dead dispatcher's partitions on sooner; with static membership
    (``instance_id``), a restarted dispatcher gets its own partitions back without a rebalance.

    >>> dispatch_consumer_options(10, "dispatch-1")["heartbeat_interval_ms"]
    3000
    """
    session_ms = int(session_timeout * 1000)
    options: dict[str, Any] = {
        "session_timeout_ms": session_ms,
        "heartbeat_interval_ms": max(100, session_ms // 3),
    }
    if instance_id:
        options["group_instance_id"] = instance_id
    return options


@dataclass
class DispatchStats:
    received: int = 0
    rejected: int = 0
    flushes: int = 0
    failed_flushes: int = 0


def dispatch(
    consumer: Any,
    pipeline: AlertPipeline,
    *,
    should_stop: Callable[[DispatchStats], bool],
    poll_ms: int = 1000,
    backoff: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> DispatchStats:
    """Consume alerts (a kafka-python consumer, auto-commit off) until ``should_stop``."""
    stats = DispatchStats()
    while not should_stop(stats):
        batches = consumer.poll(timeout_ms=poll_ms, max_records=500)
        records = [r for rs in batches.values() for r in rs]
        if not records:
            continue
        for record in records:
            try:
                pipeline.add(Alert.from_json(record.value))
                stats.received += 1
            except ValidationError as exc:
                # Not an alert: nothing can deliver it; it is logged, counted and skipped.
                stats.rejected += 1
                log.error("not an alert at %s:%s: %s", record.topic, record.offset, exc)
        report = pipeline.flush()
        stats.flushes += 1
        if report.ok:
            consumer.commit()
        else:
            stats.failed_flushes += 1
            log.warning("flush failed (%s); redelivering from committed offsets", report.failed)
            for tp in consumer.assignment():
                committed = consumer.committed(tp)
                if committed is not None:
                    consumer.seek(tp, committed)
                else:
                    consumer.seek_to_beginning(tp)
            sleep(backoff)
    return stats
