"""The worker's periodic gauges: consumer lag, watermark lag, pending deadlines, state entries.

Counters and histograms are updated where things happen (the agents in :mod:`.app`); gauges that
describe a state are refreshed here on a timer, so the hot path pays nothing for them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from typing import Any

from monitor.metrics import RiskmonMetrics
from streams.worker.faust_private import committed_offset
from streams.worker.runner import StageRunner
from streams.worker.sources import SourceTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObservedStage:
    name: str
    runner: StageRunner
    table: Sized


def stage_gauges(metrics: RiskmonMetrics, stages: Iterable[ObservedStage], wall: float) -> None:
    """Entries, pending deadlines and watermark lag (wall minus the lowest owned watermark)."""
    for stage in stages:
        metrics.state_entries.labels(stage.name).set(len(stage.table))
        metrics.deadlines_pending.labels(stage.name).set(stage.runner.pending())
        marks = stage.runner.watermarks.values()
        if marks:
            metrics.watermark_lag.labels(stage.name).set(wall - min(marks))


async def consumer_lag(
    metrics: RiskmonMetrics, app: Any, sources: SourceTracker, topics: Iterable[str]
) -> None:
    """High watermark minus the next offset to process, for each input partition owned now.

    Partitions this worker no longer owns lose their series, so a sum over workers stays right
    after a rebalance.
    """
    names = set(topics)
    owned = [tp for tp in app.consumer.assignment() if tp.topic in names]
    highwaters = await app.consumer.highwaters(*owned) if owned else {}
    lags: dict[tuple[str, str], float] = {}
    for tp in owned:
        position = sources.next_offset.get((tp.topic, tp.partition))
        if position is None:
            position = committed_offset(app.consumer, tp) or 0
        highwater = highwaters.get(tp)
        if highwater is not None:
            lags[(tp.topic, str(tp.partition))] = max(0, highwater - position)
    metrics.consumer_lag.clear()
    for (topic, partition), lag in lags.items():
        metrics.consumer_lag.labels(topic, partition).set(lag)


async def refresh(
    metrics: RiskmonMetrics,
    app: Any,
    sources: SourceTracker,
    topics: Iterable[str],
    stages: Iterable[ObservedStage],
) -> None:
    """One refresh of every worker gauge; a failure is logged, never raised into faust's timer."""
    stage_gauges(metrics, stages, time.time())
    try:
        await consumer_lag(metrics, app, sources, topics)
    except Exception:  # adapter boundary: a rebalance or broker hiccup must not stop the worker
        log.warning("consumer lag not refreshed", exc_info=True)
