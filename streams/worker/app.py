"""Building the faust app: a decoder agent and one agent per keyed stage.

::

    bank.transactions ─┐               ┌─► stage-transaction (txn_id)  ─► agent+Table ─┐
    bank.operator-... ─┴─► decode ─────┼─► stage-account     (account) ─► agent+Table ─┼─► alerts
                             │         └─► stage-operator    (operator)─► agent+Table ─┘
                             └─► risk.deadletter (original bytes; reason and source in headers)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any, cast

import faust

from monitor.alerts import Alert, mask_event
from monitor.codec import from_compact, to_compact
from monitor.currency import CurrencyGate
from monitor.engine import build_stages
from monitor.errors import EventDecodeError
from monitor.events import decode_event
from monitor.findings import Finding
from monitor.metrics import RiskmonMetrics
from monitor.render import AlertRenderer
from monitor.rules.ruleset import RuleSet
from monitor.stage import KeyedStage
from streams.reload import LiveRules, StageSwap
from streams.worker.changelog import write_batch
from streams.worker.config import WorkerConfig
from streams.worker.dedup import (
    DecoderDedup,
    count_redelivery,
    decoder_dedup,
    input_partitions,
    partition_binder,
)
from streams.worker.faults import AgentGuard, dead_letter_record, split_bundle
from streams.worker.faust_private import (
    current_event,
    guard_recovery_seek,
    keep_live_queues_on_resume,
)
from streams.worker.observe import ObservedStage, refresh
from streams.worker.runner import (
    EventTimeGate,
    Overlay,
    StageRunner,
    decode_tick,
    partition_for,
)
from streams.worker.sources import SourceTracker
from streams.worker.store import StandardJSONTable, store_url

TICK_HEADER = "riskmon-tick"
BUNDLE_HEADER = "riskmon-bundle"


def create_app(
    config: WorkerConfig,
    ruleset: RuleSet,
    extra_stages: Sequence[KeyedStage] = (),
    metrics: RiskmonMetrics | None = None,
    live: LiveRules | None = None,
    guard: AgentGuard | None = None,
) -> faust.App:
    """A faust app running ``ruleset`` (and ``extra_stages``) as configured; nothing starts here.

    With ``metrics``, the agents count and time what they do and a timer refreshes the gauges;
    serving them is the caller's job. With ``live``, a rule pack swapped into it (hot reload,
    :mod:`streams.reload`) takes effect in every agent between two of its batches.
    ``guard`` turns any agent's failure into a worker stop.
    """
    live = live if live is not None else LiveRules(ruleset)
    guard = guard or AgentGuard()
    app = faust.App(
        config.app_id,
        broker=f"kafka://{config.bootstrap}",
        broker_credentials=config.kafka.faust_credentials(),
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
        # Batch sends for a few ms: each stage hop and changelog write is its own record, and
        # without linger every one became its own produce request (measured: 10x slower).
        producer_linger=config.producer_linger,
        processing_guarantee=config.processing_guarantee,
        web_enabled=config.web_port is not None,
        web_port=config.web_port or 6066,
        web_bind="127.0.0.1",
        autodiscover=False,
        stream_wait_empty=False,
    )
    keep_live_queues_on_resume(app)  # faust emptied the agents' queues at recovery's end
    guard_recovery_seek(app)  # and its seek there set its committed offsets back
    stages = build_stages(ruleset, extra_stages, config.operations)
    # internal=True: the worker creates its topics (with `partitions`) when they are missing.
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "internal": True}
    inputs = app.topic(
        config.topic_transactions,
        config.topic_operator_actions,
        partitions=config.source_partitions,
        **raw,
    )
    alerts_topic = app.topic(config.topic_alerts, **raw)
    deadletter = app.topic(config.topic_deadletter, **raw)
    stage_topics = {
        s.name: app.topic(config.stage_topic(s.name), partitions=config.partitions, **raw)
        for s in stages
    }
    sources = SourceTracker()
    gate = EventTimeGate(config.time_bounds)
    input_names = (config.topic_transactions, config.topic_operator_actions)
    renderer = AlertRenderer(ruleset.pack_hash, config.language, config.mask_accounts)
    routing = StageSwap(live, renderer)
    screen = CurrencyGate.from_rules(ruleset.rules).check  # unknown_currency, as in replay
    dedup = decoder_dedup(  # repeated event ids, as in replay (streams/worker/dedup.py)
        app,
        "dedup",
        config.source_partitions,  # co-partitioned with the input topics
        window_seconds=config.dedup_window_seconds,
        max_entries=config.dedup_max_entries,
    )

    @app.agent(inputs, name=f"{config.app_id}-decode", **guard.options())
    async def decode(stream: Any) -> None:  # a faust.Stream; StreamT lacks noack_take
        async for batch in stream.noack_take(config.batch_size, within=config.batch_within):
            routing.refresh_stages(stages)  # the swap point: a new rule pack starts here
            if dedup.prepare(input_partitions(app, input_names)):
                # A new assignment: how far earlier owners got, for the lateness check and ticks.
                gate.restore(dedup.progress)
                sources.restore(dedup.progress)
            begin = time.perf_counter()
            bundles: dict[tuple[str, int], list[list[Any]]] = {}
            seen = []
            pending: list[Any] = []  # dead letters on their way
            for event in batch:
                moment = await _route(
                    event,
                    stages,
                    bundles,
                    deadletter,
                    config,
                    gate,
                    metrics,
                    screen,
                    pending=pending,
                    dedup=dedup,
                )
                message = event.message
                seen.append((message.topic, message.partition, message.offset, moment))
            await _forward(bundles, stage_topics)
            await asyncio.gather(*pending)  # a dead letter the broker refused fails the agent
            dedup.commit(partition_binder(batch))  # forwarded: only now remember the ids
            # Progress is reported (in ticks) only once the batch's events are on their way.
            for topic, partition, offset, moment in seen:
                sources.processed(topic, partition, offset, moment)
            await _ack(stream, batch)
            if metrics is not None:
                metrics.batch_processing.labels("decode").observe(time.perf_counter() - begin)

    observed = [
        _stage_agent(
            app,
            config,
            stage,
            stage_topics[stage.name],
            alerts_topic,
            renderer,
            metrics,
            live,
            guard,
        )
        for stage in stages
    ]
    if metrics is not None:
        metrics.init_stages(["decode", *(stage.name for stage in stages)])

        @app.timer(interval=max(config.tick_interval, 1.0))  # type: ignore[untyped-decorator]  # faust is untyped here
        async def gauges() -> None:
            await refresh(metrics, app, sources, input_names, observed)

    @app.timer(interval=config.tick_interval)  # type: ignore[untyped-decorator]  # faust is untyped here
    async def tick() -> None:
        value = await sources.tick(app, input_names, config.idle_after, dedup.saved_progress)
        if value is None:
            return
        for topic in stage_topics.values():
            for partition in range(config.partitions):
                await topic.send(value=value, partition=partition, headers=[(TICK_HEADER, b"1")])

    guard.watch(app)
    return app


async def _route(
    event: faust.EventT[bytes],
    stages: list[KeyedStage],
    bundles: dict[tuple[str, int], list[list[Any]]],
    deadletter: faust.TopicT,
    config: WorkerConfig,
    gate: EventTimeGate,
    metrics: RiskmonMetrics | None = None,
    screen: Callable[[Any], None] | None = None,
    *,
    pending: list[Any] | None = None,
    dedup: DecoderDedup | None = None,
) -> float | None:
    """Dead-letter one input message or add it to the bundles of the stages that key it.

    Returns the event time of a valid event, or of a redelivery the time gate admits (its
    input partition's progress, though it is not forwarded again). The dead letter's delivery
    future goes to ``pending``, which the caller awaits before it acknowledges the batch.
    ``dedup`` drops a redelivered event (counted) and dead-letters a reused event id, as replay
    does.
    """
    message = event.message
    raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
    try:
        decoded = decode_event(raw)
        if screen is not None:
            screen(decoded)  # raises EventDecodeError (unknown_currency) like replay's screen
        if dedup is not None and not dedup.admit(
            message.topic, message.partition, message.offset, decoded
        ):  # raises EventDecodeError (duplicate_event_id) for a reused id
            count_redelivery(metrics, decoded.kind)
            # Already forwarded (by this process or the one before a crash): dropped, but its
            # time is progress, as it was when first admitted. Without it, a worker that
            # restarted between forwarding the input's last events and committing their
            # offsets re-read them all as redeliveries, reported the older progress restored
            # from before the committed offsets, and the stages never flushed past it (CI:
            # the last review deadlines of a kill loop never fired). The gate judges it again,
            # so a redelivered event it had rejected (a 2099 date, a late one) is no progress.
            moment = decoded.occurred_at.timestamp()
            if gate.check(message.topic, message.partition, moment, time.time()) is None:
                return moment
            return None
    except EventDecodeError as exc:
        if metrics is not None:
            metrics.dead_letter(exc.reason, message.topic)
        await _dead_letter(deadletter, message, raw, exc.reason, exc.detail, pending)
        return None
    moment = decoded.occurred_at.timestamp()
    rejected = gate.check(message.topic, message.partition, moment, time.time())
    if rejected is not None:  # out of range, or later than the allowed lateness
        if dedup is not None:  # its time must not come back as progress after a restart
            dedup.not_progress(message.topic, message.partition, decoded.event_id)
        reason, detail = rejected
        if metrics is not None:
            metrics.time_rejected(decoded.kind, reason, message.topic)
        await _dead_letter(deadletter, message, raw, reason, detail, pending)
        return None
    compact = to_compact(decoded)  # decoded once: the stages rebuild it without validating
    for stage in stages:
        key = stage.key_for(decoded)
        if key is not None:
            bundles.setdefault((stage.name, partition_for(key, config.partitions)), []).append(
                [key, compact]
            )
    if metrics is not None:
        metrics.processed(decoded.kind)
        metrics.branch_kpis(decoded)
    return moment


async def _dead_letter(
    deadletter: faust.TopicT,
    message: Any,
    raw: bytes,
    reason: str,
    detail: str,
    pending: list[Any] | None,
) -> None:
    """The original bytes (a bounded excerpt when too large, with its size and hash), with the
    reason and the source position in headers. The delivery future goes to ``pending``."""
    letter = dead_letter_record(
        raw,
        message.key,
        [
            ("reason", reason.encode()),
            ("detail", detail[:2000].encode()),
            ("source_topic", message.topic.encode()),
            ("source_partition", str(message.partition).encode()),
            ("source_offset", str(message.offset).encode()),
        ],
    )
    sent = await deadletter.send(key=letter.key, value=letter.value, headers=letter.headers)
    if pending is not None:
        pending.append(sent)


async def _forward(
    bundles: dict[tuple[str, int], list[list[Any]]], stage_topics: dict[str, faust.TopicT]
) -> None:
    """One record per stage partition per decoder batch: ``[[key, compact event], ...]`` in order
    (:func:`monitor.codec.to_compact`: validated once, by the decoder).

    faust costs ~75 µs per record on this hardware; bundling makes a stage hop one record per
    batch instead of one per event.
    """
    sent = []
    for (stage, partition), items in bundles.items():
        for value in split_bundle(items):  # each record under the producer's limit
            sent.append(
                await stage_topics[stage].send(
                    value=value, partition=partition, headers=[(BUNDLE_HEADER, b"1")]
                )
            )
    # The batch is acknowledged only once the broker has its events: a failed send fails the
    # agent (and stops the worker) instead of committing offsets of events nobody processed.
    await asyncio.gather(*sent)


class StageTable(StandardJSONTable):
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
    metrics: RiskmonMetrics | None = None,
    live: LiveRules | None = None,
    guard: AgentGuard | None = None,
) -> ObservedStage:
    stage_table = StageTable(
        app,
        name=f"state-{stage.name}",
        default=None,
        partitions=config.partitions,
        key_type=str,
        beacon=app.tables.beacon,
        store=store_url(config.store),  # packed: values kept as JSON (streams/worker/store.py)
    )
    table = app.tables.add(stage_table)
    # A faust Table is a MutableMapping; its stubs do not say so.
    state = cast(MutableMapping[str, Any], table)
    runner = StageRunner(
        stage, config.partitions, config.lateness_seconds, stale_after=config.tick_interval * 5
    )
    swap = StageSwap(live, renderer) if live is not None else None
    assigned: set[int] = set()
    topic_name = config.stage_topic(stage.name)
    timer = metrics.event_processing.labels(stage.name) if metrics is not None else None

    @app.agent(
        topic, name=f"{config.app_id}-stage-{stage.name}", **(guard or AgentGuard()).options()
    )
    async def run(stream: Any) -> None:  # a faust.Stream; StreamT lacks noack_take
        nonlocal assigned
        async for batch in stream.noack_take(config.batch_size, within=config.batch_within):
            # The swap point: a new rule pack starts with this batch (none is half-run).
            render = swap.refresh(runner) if swap is not None else renderer
            now = app.consumer.assignment()
            owned = {tp.partition for tp in now if tp.topic == topic_name}
            if owned != assigned:
                runner.rebuild(owned, state)
                assigned = owned
            # Reads go to the Table's store itself: Table.__getitem__ looked each key up twice
            # (and raised KeyError through faust for a new one); writes go by write_batch.
            overlay = Overlay(cast(MutableMapping[str, Any], stage_table.data))
            findings: list[tuple[Finding, tuple[dict[str, Any], ...]]] = []
            begin = time.perf_counter()
            for event in batch:
                started = time.perf_counter()
                findings.extend(_handle(event, runner, overlay))
                if timer is not None:
                    timer.observe(time.perf_counter() - started)
            await _emit(findings, render, alerts_topic, metrics)
            # The batch's state, each changed key once, acknowledged by the broker before the
            # batch is: its offsets are committed only once its alerts and state are durable.
            await write_batch(table, overlay.take(), _partition_context(batch, config.partitions))
            await _ack(stream, batch)
            if metrics is not None:
                metrics.batch_processing.labels(stage.name).observe(time.perf_counter() - begin)

    del run  # registered on the app by the decorator
    return ObservedStage(stage.name, runner, state)


async def _ack(stream: Any, batch: Sequence[faust.EventT[bytes]]) -> None:
    """Ack a batch once it is fully done, so only then may its offsets be committed.

    ``take_events`` acks a batch in a ``finally``, even when faust cancels the agent halfway through
    it at shutdown; a graceful stop then committed offsets of events whose state was never written
    (seen as a wrong "missing review" after a takeover). ``noack_take`` plus this explicit ack
    leaves an interrupted batch unacknowledged, so the next owner processes it again.
    """
    for event in batch:
        await stream.ack(event)


def _handle(
    event: faust.EventT[bytes], runner: StageRunner, overlay: Overlay
) -> list[tuple[Finding, tuple[dict[str, Any], ...]]]:
    """The findings of one stage record, each with the evidence at hand: the event that raised it
    (a deadline's finding, fired by a tick, names its events by id only)."""
    message = event.message
    raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
    headers = message.headers or ()
    names = headers.keys() if isinstance(headers, dict) else [item[0] for item in headers]
    if TICK_HEADER in names:
        reports, partitions = decode_tick(raw)
        fired = runner.on_tick(message.partition, reports, partitions, overlay, time.monotonic())
        return [(finding, ()) for finding in fired]
    findings: list[tuple[Finding, tuple[dict[str, Any], ...]]] = []
    for key, data in json.loads(raw):  # a bundle from the decoder
        # A compact event, validated by the decoder; a string is the raw JSON an older decoder
        # forwarded (still in the topic after an upgrade), validated here.
        decoded = from_compact(data) if isinstance(data, dict) else decode_event(data)
        found = runner.on_event(message.partition, key, decoded, overlay)
        if found:
            shown = (decoded.model_dump(mode="json"),)
            findings.extend((f, shown if decoded.event_id in f.event_ids else ()) for f in found)
    return findings


def _partition_context(
    batch: Sequence[faust.EventT[bytes]], partitions: int
) -> Callable[[str], AbstractContextManager[None]]:
    """For a key, a context in which faust sees an event of the key's partition as current.

    Table writes happen once per batch, after its alerts are acknowledged, outside faust's
    per-event context; faust's RocksDB store picks the partition database from that context.
    Every write of a batch belongs to a partition that has an event (or a tick) in the batch.
    """
    by_partition: dict[int, faust.EventT[bytes]] = {}
    for event in batch:
        by_partition.setdefault(event.message.partition, event)

    @contextmanager
    def bind(key: str) -> Iterator[None]:
        event = by_partition[partition_for(key, partitions)]
        with current_event(event):
            yield

    return bind


async def _emit(
    findings: list[tuple[Finding, tuple[dict[str, Any], ...]]],
    renderer: AlertRenderer,
    topic: faust.TopicT,
    metrics: RiskmonMetrics | None = None,
) -> None:
    """Send the batch's alerts and wait until the broker has them, before state is written."""
    if not findings:
        return
    stamp = datetime.now(UTC)
    futures = []
    alerts: list[Alert] = []
    for finding, evidence in findings:
        alert: Alert = renderer.render(finding)
        if evidence and renderer.mask:
            evidence = tuple(mask_event(event) for event in evidence)
        alert = alert.model_copy(update={"detected_at": stamp, "evidence": evidence})
        alerts.append(alert)
        futures.append(
            await topic.send(key=alert.alert_id.encode(), value=alert.to_json().encode())
        )
    try:
        await asyncio.gather(*futures)
    except Exception:
        if metrics is not None:
            metrics.sink_failed.labels("kafka").inc(len(alerts))
        raise  # the batch is not committed: faust redelivers it after a restart
    if metrics is not None:
        for alert in alerts:
            metrics.alert_emitted(alert)
            metrics.detection_latency.observe((stamp - alert.occurred_at).total_seconds())
        metrics.sink_sent.labels("kafka").inc(len(alerts))
