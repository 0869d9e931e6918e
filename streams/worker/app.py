"""Building the faust app: a decoder agent and one agent per keyed stage.

::

    bank.transactions ─┐               ┌─► stage-transaction (txn_id)  ─► agent+Table ─┐
    bank.operator-... ─┴─► decode ─────┼─► stage-account     (account) ─► agent+Table ─┼─► alerts
                             │         └─► stage-operator    (operator)─► agent+Table ─┘
                             └─► risk.deadletter (original bytes; reason and source in headers)

The hop through a stage topic re-partitions an event by the stage's key. When the event already
sits on that partition (the input topics are keyed by account and by operator, as ``riskmon
produce`` keys them, and Kafka's partitioner is :func:`~streams.worker.runner.partition_for`),
the decoder runs the stage itself, on the same :class:`SharedStage` (runner and Table) the stage
agent uses: no re-encode, re-send, re-fetch or re-decode. Every topic here has the same number of
partitions and every worker subscribes to all of them, so faust assigns partition ``p`` of the
input, stage and changelog topics to one worker together. The stage agent still runs the stage's
ticks (watermarks, deadlines) and every event that arrives on another partition.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, AsyncExitStack, contextmanager
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
    compact_digest,
    count_redelivery,
    decoder_dedup,
    input_partitions,
    partition_binder,
)
from streams.worker.faults import AgentGuard, dead_letter_record, split_bundle
from streams.worker.faust_private import current_event
from streams.worker.observe import ObservedStage, refresh
from streams.worker.runner import (
    EventTimeGate,
    Overlay,
    StageRunner,
    decode_tick,
    partition_for,
)
from streams.worker.sources import SourceTracker
from streams.worker.store import store_url

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
    stages = build_stages(ruleset, extra_stages, config.operations)
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
    gate = EventTimeGate(config.time_bounds)
    input_names = (config.topic_transactions, config.topic_operator_actions)
    renderer = AlertRenderer(ruleset.pack_hash, config.language, config.mask_accounts)
    routing = StageSwap(live, renderer)
    screen = CurrencyGate.from_rules(ruleset.rules).check  # unknown_currency, as in replay
    dedup = decoder_dedup(  # repeated event ids, as in replay (streams/worker/dedup.py)
        app,
        "dedup",
        config.partitions,
        window_seconds=config.dedup_window_seconds,
        max_entries=config.dedup_max_entries,
    )

    shared = {
        stage.name: _stage_agent(
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
    }

    @app.agent(inputs, name=f"{config.app_id}-decode", **guard.options())
    async def decode(stream: Any) -> None:  # a faust.Stream; StreamT lacks noack_take
        async for batch in stream.noack_take(config.batch_size, within=config.batch_within):
            routing.refresh_stages(stages)  # the swap point: a new rule pack starts here
            dedup.prepare(input_partitions(app, input_names))
            begin = time.perf_counter()
            bundles: dict[tuple[str, int], list[list[Any]]] = {}
            routed: dict[str, list[Routed]] = {}
            seen = []
            pending: list[Any] = []  # dead letters on their way
            for event in batch:
                moment = await _route(
                    event,
                    stages,
                    routed,
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
            # Stages whose every event of the batch is on its key's partition run here.
            inline = _split(routed, bundles, _copartitioned(app, input_names, config.partitions))
            sent = await _send_bundles(bundles, stage_topics)  # on their way meanwhile
            if inline:
                await _run_inline(
                    [(shared[name], items) for name, items in inline.items()],
                    batch,
                    config,
                    alerts_topic,
                    metrics,
                )
            # The batch is acknowledged only once the broker has its events: a failed send fails
            # the agent (and stops the worker) instead of committing offsets of events nobody
            # processed.
            await asyncio.gather(*sent)
            await asyncio.gather(*pending)  # a dead letter the broker refused fails the agent
            dedup.commit(partition_binder(batch))  # forwarded: only now remember the ids
            # Progress is reported (in ticks) only once the batch's events are on their way.
            for topic, partition, offset, moment in seen:
                sources.processed(topic, partition, offset, moment)
            await _ack(stream, batch)
            if metrics is not None:
                metrics.batch_processing.labels("decode").observe(time.perf_counter() - begin)

    observed = [stage.observed() for stage in shared.values()]
    if metrics is not None:
        metrics.init_stages(["decode", *(stage.name for stage in stages)])

        @app.timer(interval=max(config.tick_interval, 1.0))  # type: ignore[untyped-decorator]  # faust is untyped here
        async def gauges() -> None:
            await refresh(metrics, app, sources, input_names, observed)

    @app.timer(interval=config.tick_interval)  # type: ignore[untyped-decorator]  # faust is untyped here
    async def tick() -> None:
        value = await sources.tick(app, input_names, config.idle_after)
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
    routed: dict[str, list[Routed]],
    deadletter: faust.TopicT,
    config: WorkerConfig,
    gate: EventTimeGate,
    metrics: RiskmonMetrics | None = None,
    screen: Callable[[Any], None] | None = None,
    *,
    pending: list[Any] | None = None,
    dedup: DecoderDedup | None = None,
) -> float | None:
    """Dead-letter one input message or route it to the stages that key it (``routed``, by
    stage name: :data:`Routed` entries in input order; :func:`_split` makes the bundles).

    Returns the event time of a valid event. The dead letter's delivery future goes to
    ``pending``, which the caller awaits before it acknowledges the batch. ``dedup`` drops a
    redelivered event (counted) and dead-letters a reused event id, as replay does.
    """
    message = event.message
    raw = event.value if isinstance(event.value, bytes) else bytes(event.value or b"")
    try:
        decoded = decode_event(raw)
        if screen is not None:
            screen(decoded)  # raises EventDecodeError (unknown_currency) like replay's screen
        # Decoded once: the stages rebuild it from this without validating, and the duplicate
        # check hashes it instead of serializing the event again.
        compact = to_compact(decoded)
        if dedup is not None and not dedup.admit(
            message.topic,
            message.partition,
            message.offset,
            decoded,
            compact_digest(decoded, compact),
        ):  # raises EventDecodeError (duplicate_event_id) for a reused id
            count_redelivery(metrics, decoded.kind)
            return None
    except EventDecodeError as exc:
        if metrics is not None:
            metrics.dead_letter(exc.reason, message.topic)
        await _dead_letter(deadletter, message, raw, exc.reason, exc.detail, pending)
        return None
    moment = decoded.occurred_at.timestamp()
    rejected = gate.check(message.topic, message.partition, moment, time.time())
    if rejected is not None:  # out of range, or later than the allowed lateness
        reason, detail = rejected
        if metrics is not None:
            metrics.time_rejected(decoded.kind, reason, message.topic)
        await _dead_letter(deadletter, message, raw, reason, detail, pending)
        return None
    own = message.partition
    for stage in stages:
        key = stage.key_for(decoded)
        if key is not None:
            entry = (partition_for(key, config.partitions), own, key, decoded, compact)
            routed.setdefault(stage.name, []).append(entry)
    if metrics is not None:
        metrics.processed(decoded.kind)
        metrics.branch_kpis(decoded)
    return moment


Routed = tuple[int, int, str, Any, dict[str, Any]]
"""An event for a stage: its key's partition, its input partition, the key, the event and its
compact form."""


def _split(
    routed: dict[str, list[Routed]],
    bundles: dict[tuple[str, int], list[list[Any]]],
    copartitioned: bool,
) -> dict[str, list[tuple[int, str, Any]]]:
    """The stages the decoder runs itself for this batch (``{stage: [(partition, key, event)]}``);
    the other stages' events go into ``bundles``, in input order.

    A stage runs in the decoder when every one of its events in the batch is already on its key's
    partition (the account and operator stages, with input keyed as ``riskmon produce`` keys it).
    A stage with even one event to re-partition (the transaction stage, keyed by transaction id)
    hops whole: sharing its lock with the decoder on every batch would make each wait for the
    other's acknowledgements.
    """
    inline: dict[str, list[tuple[int, str, Any]]] = {}
    for name, entries in routed.items():
        if copartitioned and all(partition == own for partition, own, *_ in entries):
            inline[name] = [(own, key, event) for _, own, key, event, _ in entries]
            continue
        for partition, _, key, _, compact in entries:
            bundles.setdefault((name, partition), []).append([key, compact])
    return inline


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


async def _send_bundles(
    bundles: dict[tuple[str, int], list[list[Any]]], stage_topics: dict[str, faust.TopicT]
) -> list[Any]:
    """One record per stage partition per decoder batch: ``[[key, compact event], ...]`` in order
    (:func:`monitor.codec.to_compact`: validated once, by the decoder). Returns the delivery
    futures, which the caller awaits before it acknowledges the batch.

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
    return sent


def _copartitioned(app: Any, topics: Sequence[str], partitions: int) -> bool:
    """Whether every input topic has the stage topics' partition count, so that faust assigns
    input partition ``p`` together with stage (and changelog) partition ``p``."""
    return all(app.consumer.topic_partitions(topic) == partitions for topic in topics)


class StageTable(faust.Table[str, Any]):
    """A Table whose changelog partition is the stage topic partition of the key.

    Writes happen once per batch (outside faust's per-event context), so the partition comes from
    the key itself, hashed exactly as the decoder hashed it when it re-partitioned the event.
    """

    def partition_for_key(self, key: Any) -> int:
        return partition_for(str(key), int(self.partitions or 1))


class SharedStage:
    """One stage's runner and Table, run by its agent (hopped events and ticks) and by the
    decoder (events already on their key's partition).

    Whoever runs the stage holds :attr:`lock` from the first event of its batch until the batch's
    alerts and state are acknowledged by the broker, so the two never interleave on a key.
    """

    def __init__(
        self,
        app: faust.App,
        name: str,
        stage_table: StageTable,
        runner: StageRunner,
        swap: StageSwap | None,
        renderer: AlertRenderer,
        topic_name: str,
        metrics: RiskmonMetrics | None,
    ) -> None:
        self.app = app
        self.name = name
        self.stage_table = stage_table
        self.table = app.tables.add(stage_table)
        # A faust Table is a MutableMapping; its stubs do not say so.
        self.state = cast(MutableMapping[str, Any], self.table)
        self.runner = runner
        self.swap = swap
        self.renderer = renderer
        self.topic_name = topic_name
        self.assigned: set[int] = set()
        self.lock = asyncio.Lock()
        self.timer = metrics.event_processing.labels(name) if metrics is not None else None

    def begin(self) -> AlertRenderer:
        """Start a batch (holding :attr:`lock`): the newest rule pack (hot reload swaps it here,
        never within a batch) and, after a rebalance, deadline queues rebuilt from state for the
        partitions owned now. Returns the renderer of the batch's alerts."""
        render = self.swap.refresh(self.runner) if self.swap is not None else self.renderer
        now = self.app.consumer.assignment()
        owned = {tp.partition for tp in now if tp.topic == self.topic_name}
        if owned != self.assigned:
            self.runner.rebuild(owned, self.state)
            self.assigned = owned
        return render

    def overlay(self) -> Overlay:
        """Reads go to the Table's store itself: Table.__getitem__ looked each key up twice (and
        raised KeyError through faust for a new one); writes go by write_batch."""
        return Overlay(cast(MutableMapping[str, Any], self.stage_table.data))

    def observed(self) -> ObservedStage:
        return ObservedStage(self.name, self.runner, self.state)


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
) -> SharedStage:
    stage_table = StageTable(
        app,
        name=f"state-{stage.name}",
        default=None,
        partitions=config.partitions,
        key_type=str,
        beacon=app.tables.beacon,
        store=store_url(config.store),  # packed: values kept as JSON (streams/worker/store.py)
    )
    runner = StageRunner(
        stage, config.partitions, config.lateness_seconds, stale_after=config.tick_interval * 5
    )
    swap = StageSwap(live, renderer) if live is not None else None
    shared = SharedStage(
        app,
        stage.name,
        stage_table,
        runner,
        swap,
        renderer,
        config.stage_topic(stage.name),
        metrics,
    )
    timer = shared.timer

    @app.agent(
        topic, name=f"{config.app_id}-stage-{stage.name}", **(guard or AgentGuard()).options()
    )
    async def run(stream: Any) -> None:  # a faust.Stream; StreamT lacks noack_take
        async for batch in stream.noack_take(config.batch_size, within=config.batch_within):
            async with shared.lock:
                # The swap point: a new rule pack starts with this batch (none is half-run).
                render = shared.begin()
                overlay = shared.overlay()
                findings: list[tuple[Finding, tuple[dict[str, Any], ...]]] = []
                begin = time.perf_counter()
                for event in batch:
                    started = time.perf_counter()
                    findings.extend(_handle(event, runner, overlay))
                    if timer is not None:
                        timer.observe(time.perf_counter() - started)
                await _emit(findings, render, alerts_topic, metrics)
                # The batch's state, each changed key once, acknowledged by the broker before
                # the batch is: its offsets are committed only once its alerts and state are
                # durable.
                await write_batch(
                    shared.table, overlay.take(), _partition_context(batch, config.partitions)
                )
            await _ack(stream, batch)
            if metrics is not None:
                metrics.batch_processing.labels(stage.name).observe(time.perf_counter() - begin)

    del run  # registered on the app by the decorator
    return shared


async def _run_inline(
    work: Sequence[tuple[SharedStage, list[tuple[int, str, Any]]]],
    batch: Sequence[faust.EventT[bytes]],
    config: WorkerConfig,
    alerts_topic: faust.TopicT,
    metrics: RiskmonMetrics | None,
) -> None:
    """Run the decoder batch's events that sit on their stage key's partition, as the stage agent
    would: every stage's alerts acknowledged by the broker before any of its state is written,
    and both before the caller acknowledges the input batch (a crash in between: the next owner
    runs the batch again, as it runs an unacknowledged stage batch again)."""
    async with AsyncExitStack() as held:
        for shared, _ in sorted(work, key=lambda item: item[0].name):  # one order: no deadlock
            await held.enter_async_context(shared.lock)
        begin = time.perf_counter()
        by_renderer: list[tuple[AlertRenderer, list[tuple[Finding, tuple[Any, ...]]]]] = []
        writes: list[tuple[SharedStage, dict[str, Any]]] = []
        for shared, items in work:
            render = shared.begin()
            overlay = shared.overlay()
            findings: list[tuple[Finding, tuple[dict[str, Any], ...]]] = []
            runner, timer = shared.runner, shared.timer
            for partition, key, decoded in items:
                started = time.perf_counter()
                found = runner.on_event(partition, key, decoded, overlay)
                if found:
                    shown = (decoded.model_dump(mode="json"),)
                    findings.extend(
                        (f, shown if decoded.event_id in f.event_ids else ()) for f in found
                    )
                if timer is not None:
                    timer.observe(time.perf_counter() - started)
            by_renderer.append((render, findings))
            writes.append((shared, overlay.take()))
        await asyncio.gather(
            *(_emit(found, render, alerts_topic, metrics) for render, found in by_renderer)
        )
        bind = _partition_context(batch, config.partitions)
        await asyncio.gather(*(write_batch(shared.table, w, bind) for shared, w in writes))
    if metrics is not None:
        spent = time.perf_counter() - begin
        for shared, _ in work:
            metrics.batch_processing.labels(shared.name).observe(spent)


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
