"""Broker-free parts of the worker: batch overlays and per-partition event-time clocks.

A stage partition receives events re-keyed from every input partition, and Kafka consumers read
input partitions unevenly (a bulk load may run hours of event time ahead on one partition). So a
stage's watermark is not "the largest event time seen" but, as in Flink, the minimum over the
*sources* (input topic partitions):

- every few seconds each worker's decoder sends a *tick* to every stage partition reporting, for
  each input partition it owns, its event-time progress, whether it has read up to the partition's
  high watermark, and whether it has been idle for ``idle_after`` seconds;
- a stage partition's watermark is ``min(progress of every source) - lateness``; when every
  source is caught up *and* idle it is ``max(progress)``: exactly replay's end-of-input flush.
  No single source is ever left out for looking idle: during a bulk load an empty partition looks
  idle until its first events arrive, and leaving it out fired review deadlines before their
  approvals were read. The price: an input partition that never receives data holds deadlines
  back until the whole input goes quiet (use no more partitions than keys spread over).

Nothing advances until every input partition has been reported at least once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiokafka.partitioner import murmur2

from monitor.events import Event
from monitor.findings import Finding
from monitor.stage import KeyedStage, Timers, partition_of_key
from monitor.watermark import TimeBounds, TimeRejection

DELETED = object()
"""A buffered write that deletes its key (:meth:`Overlay.take`)."""
_DELETED = DELETED


@lru_cache(maxsize=1 << 16)
def partition_for(key: str, partitions: int) -> int:
    """The partition of a state key: Kafka's default partitioner (murmur2, as in Java), except
    ``#<partition>:<name>`` keys (see :func:`monitor.stage.partition_key`), which name theirs.

    Remembered for the most recent keys: aiokafka's murmur2 is pure Python (~25 µs a key), and
    the decoder, the stage tables and the batch binder each ask for the same account keys.
    """
    named = partition_of_key(key)
    if named is not None:
        return named % partitions
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


class Overlay(MutableMapping[str, Any]):
    """Reads through to ``base``; buffers writes until :meth:`commit` (once per batch)."""

    def __init__(self, base: MutableMapping[str, Any]) -> None:
        self.base = base
        self.writes: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self.writes:
            value = self.writes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        return self.base[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes[key] = value

    def __delitem__(self, key: str) -> None:
        if self.get(key) is None:
            raise KeyError(key)
        self.writes[key] = _DELETED

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key, value in self.writes.items():
            seen.add(key)
            if value is not _DELETED:
                yield key
        for key in self.base:
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def take(self) -> dict[str, Any]:
        """The buffered writes (a deletion as :data:`DELETED`), which the caller writes to
        ``base`` itself (:func:`streams.worker.changelog.write_batch`); the overlay is empty
        again."""
        writes, self.writes = self.writes, {}
        return writes

    def commit(self, around: Callable[[str], AbstractContextManager[Any]] | None = None) -> int:
        """Write the buffered values to ``base``; returns how many keys changed.

        ``around(key)``, if given, is entered for each write (the worker binds the key's
        partition there, which faust's RocksDB store needs).
        """
        for key, value in self.writes.items():
            with around(key) if around is not None else nullcontext():
                if value is _DELETED:
                    if self.base.get(key) is not None:
                        del self.base[key]
                else:
                    self.base[key] = value
        changed = len(self.writes)
        self.writes = {}
        return changed


@dataclass(frozen=True)
class SourceReport:
    """One input partition's state as its decoder sees it."""

    progress: float
    caught_up: bool
    idle: bool


class SourceClock:
    """Latest report per input partition, and the watermark they allow: the worker's
    :class:`monitor.watermark.WatermarkGenerator` (replay plugs in ``BoundedLateness``).

    Its events are the ticks (:meth:`update`, Flink's periodic emit); single events say nothing.
    A report not renewed within ``stale_after`` (wall seconds, e.g. its worker died) counts as
    lagging at its last progress until the partition's new owner reports.
    """

    def __init__(self, lateness: float, stale_after: float) -> None:
        self.lateness = lateness
        self.stale_after = stale_after
        self.reports: dict[str, SourceReport] = {}
        self.received: dict[str, float] = {}
        self.expected: dict[str, int] = {}

    def update(
        self, reports: Mapping[str, SourceReport], partitions: Mapping[str, int], now: float
    ) -> None:
        """Merge a tick: ``reports`` by ``"topic:partition"``, ``partitions`` by topic."""
        for name, report in reports.items():
            old = self.reports.get(name)
            progress = max(report.progress, old.progress) if old else report.progress
            self.reports[name] = SourceReport(progress, report.caught_up, report.idle)
            self.received[name] = now
        self.expected.update(partitions)

    def on_event(self, moment: float, source: str) -> None:
        """Progress comes from the decoders' ticks, never from one event."""

    def current(self, now: float | None = None) -> float | None:
        return None if now is None else self.watermark(now)

    def watermark(self, now: float) -> float | None:
        """The watermark the reports allow, or ``None`` while a source has never reported."""
        wanted = {f"{t}:{p}" for t, n in self.expected.items() for p in range(n)}
        if not wanted or not wanted <= self.reports.keys():
            return None
        reports = [self.reports[n] for n in wanted]
        top = max(r.progress for r in reports)
        fresh = all(now - self.received[n] <= self.stale_after for n in wanted)
        if fresh and all(r.caught_up and r.idle for r in reports):
            return top  # the whole input is quiet: flush, like replay's end of input
        # Otherwise every source holds the watermark back, even one that looks caught up or idle
        # now: its older events may still be on their way (a bulk load reaches partitions at
        # different moments, and an empty partition is "idle" until its first event arrives).
        return min(r.progress for r in reports) - self.lateness


def encode_tick(reports: Mapping[str, SourceReport], partitions: Mapping[str, int]) -> bytes:
    payload = {
        "sources": {k: [r.progress, r.caught_up, r.idle] for k, r in reports.items()},
        "partitions": dict(partitions),
    }
    return json.dumps(payload).encode()


def decode_tick(raw: bytes) -> tuple[dict[str, SourceReport], dict[str, int]]:
    data = json.loads(raw)
    reports = {
        k: SourceReport(float(v[0]), bool(v[1]), bool(v[2])) for k, v in data["sources"].items()
    }
    return reports, {str(k): int(v) for k, v in data["partitions"].items()}


def merge_progress(
    into: MutableMapping[tuple[str, int], float], progress: Mapping[tuple[str, int], float]
) -> None:
    """Merge event-time ``progress`` per input partition into ``into``: the later time wins.

    >>> seen = {("tx", 0): 5.0}
    >>> merge_progress(seen, {("tx", 0): 3.0, ("tx", 1): 7.0})
    >>> seen
    {('tx', 0): 5.0, ('tx', 1): 7.0}
    """
    for source, moment in progress.items():
        into[source] = max(into.get(source, moment), moment)


class EventTimeGate:
    """The decoder's check of each valid event's time, before it reaches any stage.

    Late is judged against the event's own input partition (read in order, like replay's file);
    too far ahead against the wall clock ``now``. The stage watermark is the slowest partition's
    progress minus the same lateness, so an admitted event is never behind it.
    """

    def __init__(self, bounds: TimeBounds) -> None:
        self.bounds = bounds
        self.progress: dict[tuple[str, int], float] = {}

    def restore(self, progress: Mapping[tuple[str, int], float]) -> None:
        """Take the progress earlier owners of the partitions saved (it never moves back)."""
        merge_progress(self.progress, progress)

    def check(self, topic: str, partition: int, moment: float, now: float) -> TimeRejection | None:
        tp = (topic, partition)
        progress = self.progress.get(tp)
        rejected = self.bounds.check(moment, progress=progress, reference=now)
        if rejected is None and (progress is None or moment > progress):
            self.progress[tp] = moment
        return rejected


class StageRunner:
    """One stage in the worker: the shared :class:`monitor.stage.Timers`, one partition per stage
    topic partition, with the watermark of each partition from its :class:`SourceClock`."""

    def __init__(
        self, stage: KeyedStage, partitions: int, lateness: float, stale_after: float = 10.0
    ) -> None:
        self.stale_after = stale_after
        self.partitions = partitions
        self.lateness = lateness
        self.timers = Timers(stage, partition_of=lambda key: partition_for(key, partitions))
        self.sources: dict[int, SourceClock] = {}

    @property
    def stage(self) -> KeyedStage:
        """The stage its timers run; replacing it (hot reload) keeps state, queues and clocks."""
        return self.timers.stage

    @stage.setter
    def stage(self, stage: KeyedStage) -> None:
        self.timers.stage = stage

    @property
    def watermarks(self) -> Mapping[int, float]:
        return self.timers.watermarks

    def rebuild(self, assigned: set[int], state: Mapping[str, Any]) -> None:
        """Recreate deadline queues from state for the partitions this worker now owns."""
        self.timers.rebuild(state, assigned)

    def on_event(
        self, partition: int, key: str, event: Event, state: MutableMapping[str, Any]
    ) -> list[Finding]:
        """Run the stage's rules on one event; deadlines wait for the next tick."""
        return self.timers.process(partition, key, event, state)

    def on_tick(
        self,
        partition: int,
        reports: Mapping[str, SourceReport],
        partitions: Mapping[str, int],
        state: MutableMapping[str, Any],
        now: float,
    ) -> list[Finding]:
        """A tick from one decoder: update the sources and advance to what they allow."""
        clock = self.sources.setdefault(partition, SourceClock(self.lateness, self.stale_after))
        clock.update(reports, partitions, now)
        watermark = clock.current(now)
        if watermark is None:
            return []
        return self.advance(partition, watermark, state)

    def advance(
        self, partition: int, watermark: float, state: MutableMapping[str, Any]
    ) -> list[Finding]:
        return self.timers.advance(partition, watermark, state)

    def pending(self) -> int:
        return self.timers.pending()
