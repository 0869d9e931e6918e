"""The decoder's ticks: what an input partition reports, and what a successor restores."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from streams.worker.runner import decode_tick
from streams.worker.sources import SourceTracker


class TP(NamedTuple):
    topic: str
    partition: int


class Consumer:
    def __init__(self, owned: set[TP], ends: dict[TP, int], committed: dict[TP, int]) -> None:
        self.owned = owned
        self.ends = ends
        self._committed_offset = committed
        self.asked: list[set[TP]] = []
        # faust's consumer thread, and the aiokafka consumer in it (faust_private.partition_count)
        self._thread = self
        self._consumer = self

    def assignment(self) -> set[TP]:
        return self.owned

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1}

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self.ends[tp] for tp in tps}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        self.asked.append(set(tps))
        return {tp: 0 for tp in tps}


class App:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.rebalancing = False
        self.rebalancing_count = 1


def tick(tracker: SourceTracker, app: App, saved: Any = None) -> dict[str, Any]:
    raw = asyncio.run(tracker.tick(app, ["in"], idle_after=0.0, saved=saved))
    assert raw is not None
    return decode_tick(raw)[0]


def test_a_successor_with_nothing_to_read_reports_the_progress_saved_before_it() -> None:
    owned = {TP("in", 0), TP("in", 1)}
    app = App(Consumer(owned, {TP("in", 0): 5, TP("in", 1): 9}, {TP("in", 0): 5, TP("in", 1): 9}))
    asked: list[set[int]] = []

    def saved(partitions: set[int]) -> dict[tuple[str, int], float]:
        asked.append(partitions)
        return {("in", 0): 100.0, ("in", 1): 250.0}

    tracker = SourceTracker()
    tracker.processed("in", 1, 9, 300.0)  # this incarnation got further on partition 1
    reports = tick(tracker, app, saved)
    assert (reports["in:0"].progress, reports["in:1"].progress) == (100.0, 300.0)
    assert all(r.caught_up and r.idle for r in reports.values())
    tick(tracker, app, saved)
    assert asked == [{0, 1}]  # read once per assignment
    app.rebalancing_count = 2
    tick(tracker, app, saved)
    assert asked == [{0, 1}, {0, 1}]  # and again after a rebalance


def test_nothing_is_restored_while_faust_is_still_rebalancing() -> None:
    owned = {TP("in", 0)}
    app = App(Consumer(owned, {TP("in", 0): 3}, {TP("in", 0): 3}))
    app.rebalancing = True  # the tables are not recovered yet
    tracker = SourceTracker()
    reports = tick(tracker, app, lambda partitions: {("in", 0): 50.0})
    assert reports["in:0"].progress == float("-inf")
    app.rebalancing = False
    assert tick(tracker, app, lambda partitions: {("in", 0): 50.0})["in:0"].progress == 50.0


def test_partitions_never_committed_are_placed_at_their_earliest_offset_asked_once() -> None:
    owned = {TP("in", 0), TP("in", 1)}
    consumer = Consumer(owned, {TP("in", 0): 0, TP("in", 1): 4}, {})  # nothing committed
    app = App(consumer)
    tracker = SourceTracker()
    first = tick(tracker, app)
    assert first["in:0"].caught_up and not first["in:1"].caught_up  # empty; 4 to read
    tick(tracker, app)
    tracker.processed("in", 1, 3, 10.0)
    assert tick(tracker, app)["in:1"].caught_up
    assert consumer.asked == [owned]  # one request for both, not one per partition per tick
