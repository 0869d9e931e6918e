"""Repeated event ids in the worker: the decoder's memory of them, per input partition, in a Table.

Replay screens every event with :class:`monitor.dedup.EventDeduplicator`: a redelivery (same
``event_id``, same content) is dropped and counted, a collision (same id, other content) is
dead-lettered ``duplicate_event_id``. The decoder does the same, with one deduplicator per input
partition (both input topics are co-partitioned, so partition ``p`` of each is owned together).

The memory is kept so that a restart can never lose an event:

- An event is admitted into the *in-process* memory while its batch is decoded; the changelog
  Table is written by :meth:`DecoderDedup.commit` only after the batch's events are forwarded to
  the stage topics (the broker has them) and before the batch is acknowledged.
- A crash before that write: the batch is not acknowledged, and the next owner rebuilds the memory
  from the Table, which does not hold the batch's ids; the batch is decoded and forwarded again.
  Stages are re-run on the same events, and the alerts they raise have the same ``alert_id``
  (idempotent downstream).
- A crash after the write but before the commit of the offsets: the batch is delivered again and
  its events are dropped as redeliveries, but they were already forwarded. Nothing is lost.
- A batch interrupted inside the process (faust cancels agents on a rebalance) leaves admitted but
  unwritten ids in memory; the next batch then rebuilds the memory from the Table first, so that
  a redelivery of the interrupted batch is not taken for a repeat.

The chunks also carry each input partition's event-time progress across restarts: an event's
time is in its chunk, so the latest time in the chunks that lie wholly before the partition's
committed offset is how far it had got at the point the next owner resumes from
(:func:`chunk_progress`). A successor that has nothing new to read still reports that progress in
its ticks; without it, the stages' end-of-input flush never came after a restart (their watermark
waited for a partition that had nothing left to send). Chunks past the committed offset do not
count: their events are read again, and are judged for lateness as they were the first time
(counting them judged a whole re-read stretch late against its own end).

Each write is one Table record per input partition and topic per batch (a *chunk*: the ids
admitted from that topic partition, with their content hash and event time), keyed
``"<partition>/<topic>/<offset>"`` so that the record lands in the changelog partition of its input
partition. (Before chunks carried progress, one chunk held both topics of a partition under the
topic of its last event; such a chunk, left from an older version, credits its latest time to that
topic.) Chunks whose ids the
deduplicator has forgotten (window of event time, entry bound) are deleted, oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

import faust
from faust.types import TP

from monitor.dedup import EventDeduplicator
from monitor.events import OperatorAction, Transaction
from monitor.metrics import RiskmonMetrics
from streams.worker.faust_private import committed_offset, current_event
from streams.worker.store import StandardJSONTable

__all__ = [
    "DecoderDedup",
    "DedupTable",
    "chunk_key",
    "chunk_progress",
    "count_redelivery",
    "decoder_dedup",
    "input_partitions",
    "partition_binder",
]

log = logging.getLogger(__name__)


def chunk_key(partition: int, topic: str, offset: int) -> str:
    """The Table key of the chunk written for ``partition`` after the batch ending at ``offset``.

    >>> chunk_key(3, "bank.transactions", 42)
    '3/bank.transactions/00000000000000000042'
    """
    return f"{partition}/{topic}/{offset:020d}"


Committed = Callable[[str, int], "int | None"]
"""The committed offset (the next to read) of an input ``(topic, partition)``; ``None``: none."""


def chunk_progress(
    items: Iterable[tuple[str, Any]], committed: Committed | None = None
) -> dict[tuple[str, int], float]:
    """The latest event time per input ``(topic, partition)`` in ``(chunk key, entries)`` items.

    With ``committed``, only chunks wholly before the committed offset count (a chunk's key
    names its last event's offset): the progress at the point the next owner resumes from.

    >>> items = [(chunk_key(1, "tx", 9), [["e1", "h", 5.0], ["e2", "h", 3.0]]),
    ...          (chunk_key(1, "tx", 20), [["e3", "h", 8.0]])]
    >>> chunk_progress(items)
    {('tx', 1): 8.0}
    >>> chunk_progress(items, lambda topic, partition: 15)
    {('tx', 1): 5.0}
    >>> chunk_progress(items, lambda topic, partition: None)
    {}
    >>> chunk_progress([(chunk_key(1, "tx", 9), [["e1", "h", 5.0], ["e2", "h", 4e9, 0]])])
    {('tx', 1): 5.0}
    """
    progress: dict[tuple[str, int], float] = {}
    for key, entries in items:
        if not entries:
            continue
        partition, topic, offset = str(key).split("/", 2)
        if committed is not None:
            resume = committed(topic, int(partition))
            if resume is None or int(offset) >= resume:
                continue
        times = [float(entry[2]) for entry in entries if counts_as_progress(entry)]
        if not times:
            continue
        latest = max(times)
        source = (topic, int(partition))
        progress[source] = max(progress.get(source, latest), latest)
    return progress


def counts_as_progress(entry: Sequence[Any]) -> bool:
    """Whether a chunk entry's time is progress: not when its event was dead-lettered for its
    time (``[event_id, digest, moment, 0]``; a 2099 event must not come back as progress).

    >>> counts_as_progress(["e1", "h", 5.0]), counts_as_progress(["e1", "h", 5.0, 0])
    (True, False)
    """
    return len(entry) < 4 or bool(entry[3])


def key_partition(key: str) -> int:
    """The input partition a chunk key belongs to.

    >>> key_partition(chunk_key(3, "bank.transactions", 42))
    3
    """
    return int(key.split("/", 1)[0])


class DedupTable(StandardJSONTable):
    """A Table whose changelog partition is the input partition written in the key."""

    def partition_for_key(self, key: Any) -> int:
        return key_partition(str(key))


def count_redelivery(metrics: RiskmonMetrics | None, kind: str) -> None:
    """A dropped redelivery: read, and finished with outcome ``redelivery``."""
    if metrics is not None:
        metrics.events_consumed.labels(kind).inc()
        metrics.events_processed.labels(kind, "redelivery").inc()


class DecoderDedup:
    """The decoder's deduplicators, one per owned input partition, saved to ``table`` in chunks.

    Use per batch: :meth:`prepare` with the owned input partitions, :meth:`admit` per decoded
    event, and :meth:`commit` once the batch's events are forwarded, before it is acknowledged.
    """

    def __init__(
        self,
        table: MutableMapping[str, Any],
        *,
        window_seconds: float,
        max_entries: int,
        committed: Committed | None = None,
    ) -> None:
        self.table = table
        self.committed = committed
        """Where the group resumes each input partition; bounds :attr:`progress`."""
        self.window = window_seconds
        self.max_entries = max_entries
        self.memories: dict[int, EventDeduplicator] = {}
        self.chunks: dict[int, dict[str, list[str]]] = {}
        """Per partition, the chunk keys in the Table, oldest first, with their event ids."""
        self.pending: dict[tuple[int, str], list[list[Any]]] = {}
        """Per input partition and topic, ``[event_id, content_hash, event_time]`` admitted and
        not yet written."""
        self.ends: dict[tuple[int, str], int] = {}
        """Per input partition and topic, the offset of the batch's last admitted event."""
        self.assigned: set[int] | None = None
        self.redeliveries = 0
        self.progress: dict[tuple[str, int], float] = {}
        """Per input ``(topic, partition)`` owned, at the last rebuild: the latest event time of
        the chunks before the committed offset (:func:`chunk_progress`)."""

    def prepare(self, assigned: set[int]) -> bool:
        """Start a batch: rebuild from the Table after a new assignment or an interrupted batch.

        ``True`` when it rebuilt (:attr:`progress` is then the Table's).
        """
        if assigned != self.assigned or self.pending:
            self.rebuild(assigned)
            return True
        return False

    def saved_progress(self, assigned: set[int]) -> dict[tuple[str, int], float]:
        """What :attr:`progress` would be after a rebuild for ``assigned``; reads the Table only."""
        return chunk_progress(
            (
                (str(key), value)
                for key, value in list(self.table.items())
                if value is not None and key_partition(str(key)) in assigned
            ),
            self.committed,
        )

    def rebuild(self, assigned: set[int]) -> None:
        """The memory of the ``assigned`` partitions, from the chunks in the Table."""
        loaded: dict[int, list[tuple[str, list[list[Any]]]]] = {p: [] for p in assigned}
        for key, value in list(self.table.items()):
            partition = key_partition(str(key))
            if partition in loaded and value is not None:
                loaded[partition].append((str(key), value))
        self.memories, self.chunks = {}, {}
        self.progress = chunk_progress(
            (item for items in loaded.values() for item in items), self.committed
        )
        for partition, items in loaded.items():
            items.sort()
            state: dict[str, Any] = {}
            chunks: dict[str, list[str]] = {}
            for key, entries in items:
                for event_id, digest, moment, *_ in entries:
                    state.pop(event_id, None)  # the newest entry of an id wins
                    state[event_id] = [digest, moment]
                chunks[key] = [entry[0] for entry in entries]
            self.memories[partition] = self._deduplicator(state)
            self.chunks[partition] = chunks
        self.pending, self.ends = {}, {}
        self.assigned = set(assigned)
        if any(self.chunks.values()):
            log.info(
                "event-id memory rebuilt: %d ids from %d chunks on partitions %s",
                sum(len(m) for m in self.memories.values()),
                sum(len(c) for c in self.chunks.values()),
                sorted(assigned),
            )

    def _deduplicator(self, state: dict[str, Any] | None = None) -> EventDeduplicator:
        return EventDeduplicator(state, window_seconds=self.window, max_entries=self.max_entries)

    def admit(
        self, topic: str, partition: int, offset: int, event: Transaction | OperatorAction
    ) -> bool:
        """``True`` for a new event, ``False`` for a redelivery (drop it, counted).

        Raises :class:`~monitor.errors.EventDecodeError` ``duplicate_event_id`` for a collision.
        """
        memory = self.memories.get(partition)
        if memory is None:
            memory = self.memories[partition] = self._deduplicator()
        if not memory.admit(event):
            self.redeliveries += 1
            return False
        known = memory.state.get(event.event_id)
        if known is None:  # forgotten at once: older than the window behind the newest event
            return True
        digest, moment = known
        self.pending.setdefault((partition, topic), []).append([event.event_id, digest, moment])
        self.ends[(partition, topic)] = offset
        return True

    def not_progress(self, topic: str, partition: int, event_id: str) -> None:
        """The event just admitted was dead-lettered for its time (out of range, or late): its
        time is no progress of the partition for whoever restores it (:func:`chunk_progress`)."""
        entries = self.pending.get((partition, topic))
        if entries and entries[-1][0] == event_id:
            entries[-1] = [*entries[-1][:3], 0]

    def commit(self, bind: Callable[[int], AbstractContextManager[None]]) -> None:
        """Write the batch's admitted ids, one chunk per input partition and topic (so that a
        chunk's key names the topic of all its events); drop forgotten chunks.

        Call only once the batch's events are forwarded, and before it is acknowledged. ``bind``
        makes a write land in the store of the given input partition.
        """
        for (partition, topic), entries in self.pending.items():
            key = chunk_key(partition, topic, self.ends[(partition, topic)])
            with bind(partition):
                self.table[key] = entries
                chunks = self.chunks.setdefault(partition, {})
                chunks[key] = [entry[0] for entry in entries]
                self._drop_forgotten(partition, chunks)
        self.pending, self.ends = {}, {}

    def _drop_forgotten(self, partition: int, chunks: dict[str, list[str]]) -> None:
        memory = self.memories[partition]
        while chunks:
            oldest = next(iter(chunks))
            if any(event_id in memory.state for event_id in chunks[oldest]):
                return
            del chunks[oldest]
            del self.table[oldest]


def partition_binder(
    batch: Sequence[faust.EventT[bytes]],
) -> Callable[[int], AbstractContextManager[None]]:
    """For an input partition, a context in which faust sees an event of it as current.

    The RocksDB store picks the partition database of a write from the current event.
    """
    by_partition: dict[int, faust.EventT[bytes]] = {}
    for event in batch:
        by_partition.setdefault(event.message.partition, event)

    @contextmanager
    def bind(partition: int) -> Iterator[None]:
        with current_event(by_partition[partition]):
            yield

    return bind


def decoder_dedup(app: faust.App, name: str, partitions: int, **bounds: Any) -> DecoderDedup:
    """A :class:`DecoderDedup` on a new :class:`DedupTable` named ``name`` of ``app``, bounding
    the progress it restores by the offsets ``app``'s consumer resumed from."""

    def committed(topic: str, partition: int) -> int | None:
        return committed_offset(app.consumer, TP(topic, partition))

    table = app.tables.add(
        DedupTable(
            app,
            name=name,
            default=None,
            partitions=partitions,
            key_type=str,
            beacon=app.tables.beacon,
        )
    )
    # A faust Table is a MutableMapping; its stubs do not say so.
    return DecoderDedup(cast(MutableMapping[str, Any], table), committed=committed, **bounds)


def input_partitions(app: faust.App, topics: Sequence[str]) -> set[int]:
    """The partitions of the input ``topics`` this worker owns now."""
    return {tp.partition for tp in app.consumer.assignment() if tp.topic in topics}
