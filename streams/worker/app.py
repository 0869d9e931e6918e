"""Building the faust app: a decoder agent and one agent per keyed stage.

::

    bank.transactions ─┐               ┌─► stage-transaction (txn_id)  ─► agent+Table ─┐
    bank.operator-... ─┴─► decode ─────┼─► stage-account     (account) ─► agent+Table ─┼─► alerts
                             │         └─► stage-operator    (operator)─► agent+Table ─┘
                             └─► risk.deadletter (original bytes; reason and source in headers)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import faust

from monitor.alerts import Alert
from monitor.engine import STAGES, KeyedStage, Stage
from monitor.errors import EventDecodeError
from monitor.events import decode_event
from monitor.findings import Finding
from monitor.render import AlertRenderer
from monitor.rules.ruleset import RuleSet
from streams.worker.config import WorkerConfig
from streams.worker.runner import Overlay, StageRunner, decode_tick, partition_for
from streams.worker.sources import SourceTracker

TICK_HEADER = "riskmon-tick"


def create_app(
    config: WorkerConfig, ruleset: RuleSet, extra_stages: Sequence[KeyedStage] = ()
) -> faust.App:
    """A faust app running ``ruleset`` (and ``extra_stages``) as configured; nothing starts here."""
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap}",
        store="rocksdb://" if config.store == "rocksdb" else "memory://",
        datadir=str(config.data_dir),
        topic_partitions=config.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=config.session_timeout,
        broker_heartbeat_interval=config.heartbeat_interval,
        broker_rebalance_timeout=config.session_timeout * 2,
        broker_commit_interval=config.commit_interval,
        producer_acks=-1,
        processing_guarantee=config.processing_guarantee,
        web_enabled=config.web_port is not None,
        web_port=config.web_port or 6066,
        web_bind="127.0.0.1",
        autodiscover=False,
        stream_wait_empty=False,
    )
    stages: list[KeyedStage] = [
        Stage(name, ruleset.by_entity(name)) for name in STAGES if ruleset.by_entity(name)
    ]
    stages.extend(extra_stages)
    # internal=True: the worker creates its topics (with `partitions`) when they are missing.
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "internal": True}
    inputs = app.topic(
        config.topic_transactions,
        config.topic_operator_actions,
        partitions=config.partitions,
        **raw,
    )
    alerts_topic = app.topic(config.topic_alerts, **raw)
    deadletter = app.topic(config.topic_deadletter, **raw)
    stage_topics = {
        s.name: app.topic(config.stage_topic(s.name), partitions=config.partitions, **raw)
        for s in stages
    }
    sources = SourceTracker()
    input_names = (config.topic_transactions, config.topic_operator_actions)

    @app.agent(inputs, name=f"{config.app_id}-decode")
    async def decode(stream: Any) -> None:  # a faust.Stream; StreamT lacks take_events
        async for batch in stream.take_events(config.batch_size, within=config.batch_within):
            for event in batch:
                moment = await _route(event, stages, stage_topics, deadletter, config)
                message = event.message
                sources.processed(message.topic, message.partition, message.offset, moment)

    renderer = AlertRenderer(ruleset.pack_hash, config.language, config.mask_accounts)
    for stage in stages:
        _stage_agent(app, config, stage, stage_topics[stage.name], alerts_topic, renderer)

    @app.timer(interval=config.tick_interval)  # type: ignore[untyped-decorator]  # faust is untyped here
    async def tick() -> None:
        value = await sources.tick(app, input_names, config.idle_after)
        if value is None:
            return
        for topic in stage_topics.values():
            for partition in range(config.partitions):
                await topic.send(value=value, partition=partition, headers=[(TICK_HEADER, b"1")])

    return app


async def _route(
    event: faust.EventT[bytes],
    stages: list[KeyedStage],
    stage_topics: dict[str, faust.TopicT],
    deadletter: faust.TopicT,
    config: WorkerConfig,
) -> float | None:
    """Dead-letter or forward one input message; returns its event time if it was valid."""
    message = event.message
    raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
    try:
        decoded = decode_event(raw)
    except EventDecodeError as exc:
        await deadletter.send(
            key=message.key,
            value=raw,
            headers=[
                ("reason", exc.reason.encode()),
                ("detail", exc.detail[:2000].encode()),
                ("source_topic", message.topic.encode()),
                ("source_partition", str(message.partition).encode()),
                ("source_offset", str(message.offset).encode()),
            ],
        )
        return None
    for stage in stages:
        key = stage.key_for(decoded)
        if key is not None:
            await stage_topics[stage.name].send(
                key=key.encode(), value=raw, partition=partition_for(key, config.partitions)
            )
    return decoded.occurred_at.timestamp()


class StageTable(faust.Table[str, Any]):
    """A Table whose changelog partition is the stage topic partition of the key.

    Writes happen once per batch (outside faust's per-event context), so the partition comes from
    the key itself, hashed exactly as the decoder hashed it when it re-partitioned the event.
    """

    def partition_for_key(self, key: Any) -> int:
        return partition_for(str(key), int(self.partitions or 1))


def _stage_agent(
    app: faust.App,
    config: WorkerConfig,
    stage: KeyedStage,
    topic: faust.TopicT,
    alerts_topic: faust.TopicT,
    renderer: AlertRenderer,
) -> None:
    table = app.tables.add(
        StageTable(
            app,
            name=f"state-{stage.name}",
            default=None,
            partitions=config.partitions,
            key_type=str,
            beacon=app.tables.beacon,
        )
    )
    # A faust Table is a MutableMapping; its stubs do not say so.
    state = cast(MutableMapping[str, Any], table)
    runner = StageRunner(
        stage, config.partitions, config.lateness_seconds, stale_after=config.tick_interval * 5
    )
    assigned: set[int] = set()
    topic_name = config.stage_topic(stage.name)

    @app.agent(topic, name=f"{config.app_id}-stage-{stage.name}")
    async def run(stream: Any) -> None:  # a faust.Stream; StreamT lacks take_events
        nonlocal assigned
        async for batch in stream.take_events(config.batch_size, within=config.batch_within):
            now = app.consumer.assignment()
            owned = {tp.partition for tp in now if tp.topic == topic_name}
            if owned != assigned:
                runner.rebuild(owned, state)
                assigned = owned
            overlay = Overlay(state)
            findings: list[Finding] = []
            for event in batch:
                findings.extend(_handle(event, runner, overlay))
            await _emit(findings, renderer, alerts_topic)
            overlay.commit()

    del run  # registered on the app by the decorator


def _handle(event: faust.EventT[bytes], runner: StageRunner, overlay: Overlay) -> list[Finding]:
    message = event.message
    raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
    headers = message.headers or ()
    names = headers.keys() if isinstance(headers, dict) else [item[0] for item in headers]
    if TICK_HEADER in names:
        reports, partitions = decode_tick(raw)
        return runner.on_tick(message.partition, reports, partitions, overlay, time.monotonic())
    key = message.key.decode() if isinstance(message.key, bytes) else str(message.key)
    return runner.on_event(message.partition, key, decode_event(raw), overlay)


async def _emit(findings: list[Finding], renderer: AlertRenderer, topic: faust.TopicT) -> None:
    """Send the batch's alerts and wait until the broker has them, before state is written."""
    if not findings:
        return
    stamp = datetime.now(UTC)
    futures = []
    for finding in findings:
        alert: Alert = renderer.render(finding).model_copy(update={"detected_at": stamp})
        futures.append(
            await topic.send(key=alert.alert_id.encode(), value=alert.to_json().encode())
        )
    await asyncio.gather(*futures)
