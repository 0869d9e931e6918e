"""The decoder's view of its input partitions, reported to every stage partition in ticks."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from streams.worker.faust_private import committed_offset, partition_count
from streams.worker.runner import SourceReport, encode_tick, merge_progress

Progress = Mapping[tuple[str, int], float]
"""Event time per input ``(topic, partition)``."""


class SourceTracker:
    """Per input partition: event-time progress, next offset to process, last activity.

    Progress outlives the process: what earlier owners of a partition processed comes back from
    the decoder's changelog (:meth:`restore`), so a successor with nothing new to read still
    reports how far the partition got, and the stages can flush once the input is quiet.
    """

    def __init__(self) -> None:
        self.progress: dict[tuple[str, int], float] = {}
        self.next_offset: dict[tuple[str, int], int] = {}
        self.last_active: dict[tuple[str, int], float] = {}
        self.started = time.monotonic()
        self.restored_for: tuple[frozenset[Any], int] | None = None
        self.earliest: dict[Any, int] = {}
        """Earliest offsets of owned partitions with no position yet, asked once (one request
        for all of them) per assignment: asking every tick, one partition at a time, took
        seconds per tick through faust's consumer thread."""
        self.earliest_for: frozenset[Any] | None = None

    def restore(self, progress: Progress) -> None:
        """Take the progress earlier owners saved; a partition's progress never moves back."""
        merge_progress(self.progress, progress)

    def processed(self, topic: str, partition: int, offset: int, moment: float | None) -> None:
        tp = (topic, partition)
        self.next_offset[tp] = offset + 1
        self.last_active[tp] = time.monotonic()
        if moment is not None:
            self.progress[tp] = max(self.progress.get(tp, float("-inf")), moment)

    async def tick(
        self,
        app: Any,
        topics: Iterable[str],
        idle_after: float,
        saved: Callable[[set[int]], Progress] | None = None,
    ) -> bytes | None:
        """The tick payload for the input partitions this worker owns (``None``: nothing yet).

        ``saved(partitions)`` reads the progress earlier owners left in the changelog; it is
        asked once per assignment, after faust has recovered the tables.
        """
        names = set(topics)
        owned = [tp for tp in app.consumer.assignment() if tp.topic in names]
        counts = {t: partition_count(app.consumer, t) for t in names}
        if not owned or any(n is None for n in counts.values()):
            return None
        if saved is not None and not getattr(app, "rebalancing", False):
            assignment = (frozenset(owned), int(getattr(app, "rebalancing_count", 0)))
            if assignment != self.restored_for:
                self.restore(saved({tp.partition for tp in owned}))
                self.restored_for = assignment
        highwaters = await app.consumer.highwaters(*owned)
        positions = {}
        for tp in owned:
            # Processed by this incarnation, or else where the group left off.
            position = self.next_offset.get((tp.topic, tp.partition))
            positions[tp] = position if position is not None else committed_offset(app.consumer, tp)
        unplaced = frozenset(tp for tp, position in positions.items() if position is None)
        if unplaced and (self.earliest_for is None or not unplaced <= self.earliest_for):
            self.earliest = dict(await app.consumer.earliest_offsets(*unplaced))
            self.earliest_for = unplaced
        now = time.monotonic()
        reports = {}
        for tp in owned:
            key = (tp.topic, tp.partition)
            position = positions[tp]
            if position is None:
                position = self.earliest.get(tp)
            highwater = highwaters.get(tp)
            caught_up = position is not None and highwater is not None and position >= highwater
            idle = now - self.last_active.get(key, self.started) >= idle_after
            reports[f"{tp.topic}:{tp.partition}"] = SourceReport(
                self.progress.get(key, float("-inf")), caught_up, idle
            )
        return encode_tick(reports, {t: int(n) for t, n in counts.items() if n is not None})
