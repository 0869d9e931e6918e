"""Keyed stages and the one timer service that replay and the worker share.

Vocabulary
----------
- An :data:`~monitor.events.Event` is a validated transaction or operator action.
- A *stage* (:class:`KeyedStage`) runs the rules or models of one entity kind. It keys an event
  by its entity (``key_for``) and runs on that key's state value in a :data:`StateMap` (a dict in
  replay, a changelog-backed faust Table in the worker). Values are JSON-shaped and always written
  back (``state[key] = new``), never changed in place.
- A stage declares, per state value, its next *deadline* in event time (``next_deadline``) and
  fires what is due when the watermark passes it (``expire``).
- :class:`Timers` is the one timer service: per partition, the watermark and a deadline queue;
  it runs events through the stage and reschedules their keys, advances the watermark, pops and
  expires due keys, and rebuilds its queues from state after a restart or a rebalance. Replay
  (:class:`monitor.engine.Engine`, one partition) and the worker (one per stage partition) both
  use it; they differ only in the watermark generator they plug in (:mod:`monitor.watermark`).

Nothing here reads the wall clock or does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any, Protocol

from monitor.deadlines import DeadlineQueue
from monitor.events import Event
from monitor.findings import Finding

__all__ = [
    "Event",
    "KeyedStage",
    "StateMap",
    "Timers",
    "partition_key",
    "partition_of_key",
]

_NEVER = float("-inf")

StateMap = MutableMapping[str, Any]
"""One stage's state: entity key (or :func:`partition_key`) to a JSON-shaped value."""


def partition_key(partition: int, name: str) -> str:
    """A state key that belongs to a partition rather than an entity (``#<partition>:<name>``).

    Stages that keep per-partition state (a model shared by every entity of a partition) use it;
    the worker's tables send such keys to that partition's changelog.

    >>> partition_key(3, "model")
    '#3:model'
    >>> partition_of_key("#3:model")
    3
    >>> partition_of_key("acct-1") is None
    True
    """
    return f"#{partition}:{name}"


def partition_of_key(key: str) -> int | None:
    """The partition a :func:`partition_key` names, or ``None`` for an entity key."""
    if key.startswith("#"):
        head, _, _ = key[1:].partition(":")
        if head.isdigit():
            return int(head)
    return None


class KeyedStage(Protocol):
    """What replay and the worker need from a stage: the rules or models of one entity kind."""

    name: str

    def key_for(self, event: Event) -> str | None:
        """The state key of ``event`` in this stage, or ``None`` if the stage ignores it."""
        ...

    def process(self, key: str, event: Event, state: StateMap, partition: int = 0) -> list[Finding]:
        """Run ``event`` on ``state[key]``; writes the new value back (or deletes it)."""
        ...

    def expire(self, key: str, watermark: float, state: StateMap) -> list[Finding]:
        """Fire every deadline of ``key`` at or before ``watermark``."""
        ...

    def next_deadline(self, value: Any) -> float | None:
        """The earliest deadline (epoch seconds) of one state value, ``None`` if it has none."""
        ...

    def forget(self, partition: int) -> None:
        """Drop what is kept in memory for a partition this process no longer owns."""
        ...

    def snapshot(self, state: StateMap, partition: int | None = None) -> None:
        """Write what is kept in memory (for ``partition``, or all) into ``state``."""
        ...


class Timers:
    """One stage's watermarks and deadlines, per partition, over its state mapping.

    ``partition_of(key)`` tells which partition a state key belongs to when queues are rebuilt
    from state (replay has a single partition, 0). ``watermarks`` may be a mapping shared with
    the caller (the engine keeps it in its state, so a restored engine continues where it
    stopped).
    """

    def __init__(
        self,
        stage: KeyedStage,
        partition_of: Callable[[str], int] = lambda key: 0,
        watermarks: MutableMapping[int, float] | None = None,
    ) -> None:
        self.stage = stage
        self.partition_of = partition_of
        self.watermarks: MutableMapping[int, float] = watermarks if watermarks is not None else {}
        self.queues: dict[int, DeadlineQueue] = {}

    def rebuild(self, state: Mapping[str, Any], assigned: Iterable[int] | None = None) -> None:
        """Recreate the deadline queues from state, for the ``assigned`` partitions (all if
        ``None``); the stage forgets partitions it no longer owns."""
        if assigned is not None:
            owned = set(assigned)
            for partition in set(self.queues) - owned:
                self.stage.forget(partition)
            for partition in [p for p in self.watermarks if p not in owned]:
                del self.watermarks[partition]
            self.queues = {p: DeadlineQueue() for p in owned}
        else:
            self.queues = {}
        for key, value in state.items():
            partition = self.partition_of(key)
            if assigned is None or partition in self.queues:
                self.queue(partition).schedule(key, self.stage.next_deadline(value))

    def queue(self, partition: int) -> DeadlineQueue:
        found = self.queues.get(partition)
        if found is None:
            found = self.queues[partition] = DeadlineQueue()
        return found

    def process(self, partition: int, key: str, event: Event, state: StateMap) -> list[Finding]:
        """Run one event through the stage and reschedule its key; deadlines wait for
        :meth:`advance`."""
        before = state.get(key)
        stage = self.stage
        findings = stage.process(key, event, state, partition)
        after = state.get(key)
        if after is not before:
            queue = self.queues.get(partition) or self.queue(partition)
            queue.schedule(key, stage.next_deadline(after))
        return findings

    def advance(self, partition: int, watermark: float, state: StateMap) -> list[Finding]:
        """Move ``partition``'s watermark forward to ``watermark`` and fire what is due.

        A watermark never moves back: an older value is ignored.
        """
        if watermark <= self.watermarks.get(partition, _NEVER):
            return []
        self.watermarks[partition] = watermark
        queue = self.queues.get(partition) or self.queue(partition)
        if not queue.due(watermark):
            return []  # the common case: nothing is due
        findings: list[Finding] = []
        for key in queue.pop_due(watermark):
            findings.extend(self.stage.expire(key, watermark, state))
            queue.schedule(key, self.stage.next_deadline(state.get(key)))
        return findings

    def pending(self) -> int:
        """Keys with a pending deadline, over every partition (no state scan)."""
        return sum(len(q) for q in self.queues.values())
