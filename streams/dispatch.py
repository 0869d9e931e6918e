"""Dispatch: the alerts topic → the alert pipeline (store, Alertmanager, webhook, Kafka, JSONL).

The worker writes alerts to ``risk.alerts``; a dispatcher consumes them in its own consumer group
and hands them to :class:`alerts.pipeline.AlertPipeline`. Offsets are committed only after a flush
in which every sink took everything (or dead-lettered it), so a crash redelivers and the sinks'
idempotence by ``alert_id`` keeps people from seeing an alert twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from alerts.errors import RouteConfigError
from alerts.pipeline import AlertPipeline
from alerts.redact import redact_http_logs
from alerts.routing import RouteConfig, load_routes, parse_routes
from alerts.sinks import (
    ALERTS_TOPIC,
    AlertmanagerSink,
    AlertSink,
    JsonlFileSink,
    KafkaSink,
    SinkMetrics,
    StoreSink,
    WebhookSink,
)
from alerts.store import AlertStore, AlertStoreCollector
from monitor.alerts import Alert, delivery_key

log = logging.getLogger(__name__)


SINKS = ("store", "alertmanager", "webhook", "kafka", "jsonl")
"""Every sink a route may name (README, "A risk officer's day")."""


@dataclass(frozen=True)
class DispatchConfig:
    """What the dispatcher needs; ``riskmon dispatch`` builds it from the settings."""

    store_url: str
    routes_file: Path | None = None
    alertmanager_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    dead_letter_dir: Path = field(default_factory=lambda: Path("dead-letters"))
    kafka_bootstrap: str | None = None
    """Where the ``kafka`` sink publishes (not set: a route naming ``kafka`` is refused)."""
    kafka_topic: str | None = None
    """The ``kafka`` sink's topic; never the alerts topic the dispatcher reads."""
    alerts_topic: str = ALERTS_TOPIC
    jsonl_file: Path | None = None
    """The file the ``jsonl`` sink appends to (not set: a route naming ``jsonl`` is refused)."""


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


def _missing(sink: str, setting: str, file: str) -> RouteConfigError:
    return RouteConfigError(f"a route names sink {sink!r} but {setting} is not set", file=file)


def build_sinks(
    config: DispatchConfig,
    names: Iterable[str],
    *,
    store: AlertStore,
    client: httpx.Client,
    metrics: SinkMetrics,
    stack: ExitStack,
    route_file: str = "<routes>",
) -> dict[str, AlertSink]:
    """The sinks the routes name, each from its settings; a sink without them is refused."""
    sinks: dict[str, AlertSink] = {}
    dead = config.dead_letter_dir
    for name in sorted(set(names) & set(SINKS)):
        if name == "store":
            sinks[name] = StoreSink(store, metrics=metrics)
        elif name == "alertmanager":
            if not config.alertmanager_url:
                raise _missing(name, "RISKMON_ALERTMANAGER_URL", route_file)
            sinks[name] = AlertmanagerSink(
                config.alertmanager_url,
                client=client,
                metrics=metrics,
                dead_letter=dead / "alertmanager.jsonl",
            )
        elif name == "webhook":
            if not config.webhook_url:
                raise _missing(name, "RISKMON_WEBHOOK_URL", route_file)
            secret = config.webhook_secret.encode() if config.webhook_secret else None
            sinks[name] = WebhookSink(
                config.webhook_url,
                client=client,
                metrics=metrics,
                secret=secret,
                dead_letter=dead / "webhook.jsonl",
            )
        elif name == "kafka":
            if not (config.kafka_bootstrap and config.kafka_topic):
                raise _missing(name, "RISKMON_DISPATCH_KAFKA_TOPIC", route_file)
            if config.kafka_topic == config.alerts_topic:
                raise RouteConfigError(
                    f"the kafka sink's topic {config.kafka_topic!r} is the topic dispatch reads; "
                    "alerts would loop",
                    file=route_file,
                )
            from kafka import KafkaProducer

            producer = KafkaProducer(
                bootstrap_servers=config.kafka_bootstrap, acks="all", retries=5
            )
            stack.callback(producer.close)
            sinks[name] = KafkaSink.from_producer(
                producer,
                metrics=metrics,
                topic=config.kafka_topic,
                dead_letter=dead / "kafka.jsonl",
            )
        else:  # jsonl
            if config.jsonl_file is None:
                raise _missing(name, "RISKMON_DISPATCH_JSONL_FILE", route_file)
            sinks[name] = JsonlFileSink(
                config.jsonl_file, metrics=metrics, dead_letter=dead / "jsonl.jsonl"
            )
        metrics.declare(name)
    return sinks


@contextmanager
def open_pipeline(
    config: DispatchConfig, registry: CollectorRegistry
) -> Iterator[tuple[AlertPipeline, AlertStore]]:
    """The pipeline with the sinks its routes name, its store and clients, closed on exit.

    The store's per-rule telemetry (:class:`alerts.store.AlertStoreCollector`) is registered on
    ``registry`` beside the pipeline's and the sinks' counters.
    """
    routes = load_routes(config.routes_file) if config.routes_file else default_routes(config)
    route_file = str(config.routes_file or "<default routes>")
    with ExitStack() as stack:
        store = stack.enter_context(AlertStore.open(config.store_url))
        redact_http_logs()  # httpx logs request URLs: keep Alertmanager credentials out
        client = stack.enter_context(httpx.Client())
        config.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        sinks = build_sinks(
            config,
            routes.sink_names(),
            store=store,
            client=client,
            metrics=SinkMetrics(registry),
            stack=stack,
            route_file=route_file,
        )
        pipeline = AlertPipeline(
            routes,
            sinks,
            registry=registry,
            silences=lambda at: store.list_silences(active_at=at),
            route_file=route_file,
            # The store masks by itself unless its setting allows full values.
            unmasked_sinks=frozenset({"store"}),
        )
        collector = AlertStoreCollector(store)
        registry.register(collector)
        stack.callback(registry.unregister, collector)
        yield pipeline, store


def dispatch_consumer_options(session_timeout: float, instance_id: str | None) -> dict[str, Any]:
    """Group settings for the dispatcher's kafka-python consumer.

    The client's default 45 s session timeout blacked out delivery for 44 to 89 s after a crash.
    A shorter timeout hands a dead dispatcher's partitions on sooner; with static membership
    (``instance_id``), a restarted dispatcher gets its own partitions back without a rebalance.

    >>> dispatch_consumer_options(10, "dispatch-1")["heartbeat_interval_ms"]
    3333
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
    """Consume alerts (a kafka-python consumer, auto-commit off) until ``should_stop``.

    Notifications a rate limit holds back are handed over by later flushes, on quiet polls too;
    until then the committed offset of their partition stays at the first record they came from,
    so a crash redelivers them instead of losing them.
    """
    stats = DispatchStats()
    sources: dict[str, tuple[TopicPartition, int]] = {}  # delivery key -> its first record
    while not should_stop(stats):
        batches = consumer.poll(timeout_ms=poll_ms, max_records=500)
        records = [r for rs in batches.values() for r in rs]
        if not records and not pipeline.pending():
            continue
        for record in records:
            try:
                alert = Alert.from_json(record.value)
            except ValidationError as exc:
                # Not an alert: nothing can deliver it; it is logged, counted and skipped.
                stats.rejected += 1
                log.error("not an alert at %s:%s: %s", record.topic, record.offset, exc)
                continue
            pipeline.add(alert)
            sources.setdefault(
                delivery_key(alert), (TopicPartition(record.topic, record.partition), record.offset)
            )
            stats.received += 1
        report = pipeline.flush()
        stats.flushes += 1
        if report.ok:
            _commit_below_held(consumer, sources, pipeline.held())
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


def _commit_below_held(
    consumer: Any, sources: dict[str, tuple[TopicPartition, int]], held: set[str]
) -> None:
    """Commit every assigned partition up to what was consumed, but never past the first record
    of an alert the pipeline still holds; forget where the handed-over alerts came from."""
    for key in [k for k in sources if k not in held]:
        del sources[key]
    lowest: dict[TopicPartition, int] = {}
    for tp, offset in sources.values():
        lowest[tp] = min(offset, lowest.get(tp, offset))
    offsets = {}
    for tp in consumer.assignment():
        position = consumer.position(tp)
        offset = min(position, lowest[tp]) if tp in lowest else position
        offsets[tp] = OffsetAndMetadata(offset, "", -1)
    if offsets:
        consumer.commit(offsets)
