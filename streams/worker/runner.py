"""Broker-free parts of the worker: batch overlays and per-partition event-time clocks.

A stage topic partition receives events from several input partitions, so the worker keeps one
watermark per stage partition. Idle partitions catch up through *ticks*: small messages every
worker sends to every stage partition, carrying the largest event time its decoder has seen. A
partition with no events for ``idle_after`` seconds of wall time moves its watermark up to that
global progress, which is exactly what replay's end-of-input flush does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from aiokafka.partitioner import murmur2

from monitor.deadlines import DeadlineQueue
from monitor.engine import Stage
from monitor.events import OperatorAction, Transaction
from monitor.rules.compiled import Finding

_DELETED = object()


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2, as in Java)."""
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

    def commit(self) -> int:
        """Write the buffered values to ``base``; returns how many keys changed."""
        for key, value in self.writes.items():
            if value is _DELETED:
                if self.base.get(key) is not None:
                    del self.base[key]
            else:
                self.base[key] = value
        changed = len(self.writes)
        self.writes = {}
        return changed


class StageRunner:
    """One stage's watermarks and deadlines, per partition, over a table-like mapping."""

    def __init__(self, stage: Stage, partitions: int, lateness: float) -> None:
        self.stage = stage
        self.partitions = partitions
        self.lateness = lateness
        self.watermarks: dict[int, float] = {}
        self.queues: dict[int, DeadlineQueue] = {}
        self.global_progress = float("-inf")

    def rebuild(self, assigned: set[int], state: Mapping[str, Any]) -> None:
        """Recreate deadline queues from state for the partitions this worker now owns."""
        self.queues = {p: DeadlineQueue() for p in assigned}
        self.watermarks = {p: w for p, w in self.watermarks.items() if p in assigned}
        for key, value in state.items():
            partition = partition_for(key, self.partitions)
            if partition in self.queues:
                self.queues[partition].schedule(key, self.stage.next_deadline(value))

    def on_event(
        self,
        partition: int,
        key: str,
        event: Transaction | OperatorAction,
        state: MutableMapping[str, Any],
    ) -> list[Finding]:
        findings = self.stage.process(key, event, state)
        queue = self.queues.setdefault(partition, DeadlineQueue())
        queue.schedule(key, self.stage.next_deadline(state.get(key)))
        moment = event.occurred_at.timestamp()
        self.global_progress = max(self.global_progress, moment)
        return findings + self.advance(partition, moment - self.lateness, state)

    def on_tick(
        self, partition: int, progress: float, idle: bool, state: MutableMapping[str, Any]
    ) -> list[Finding]:
        """A tick: remember global progress; an idle partition catches up to it."""
        self.global_progress = max(self.global_progress, progress)
        if not idle:
            return []
        return self.advance(partition, self.global_progress, state)

    def advance(
        self, partition: int, watermark: float, state: MutableMapping[str, Any]
    ) -> list[Finding]:
        if watermark <= self.watermarks.get(partition, float("-inf")):
            return []
        self.watermarks[partition] = watermark
        queue = self.queues.setdefault(partition, DeadlineQueue())
        findings: list[Finding] = []
        for key in queue.pop_due(watermark):
            findings.extend(self.stage.expire(key, watermark, state))
            queue.schedule(key, self.stage.next_deadline(state.get(key)))
        return findings

    def pending(self) -> int:
        return sum(len(q) for q in self.queues.values())
