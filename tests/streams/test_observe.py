"""The worker's gauge refresh, without a broker: consumer lag and stage gauges over fakes."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry

from monitor.metrics import RiskmonMetrics
from streams.worker.observe import ObservedStage, consumer_lag, refresh, stage_gauges
from streams.worker.runner import StageRunner
from streams.worker.sources import SourceTracker


class TP(NamedTuple):
    topic: str
    partition: int


class FakeConsumer:
    def __init__(self, owned: set[TP], highwaters: dict[TP, int], fail: bool = False) -> None:
        self.owned = owned
        self.marks = highwaters
        self.fail = fail
        self._committed_offset = {TP("in", 1): 7}

    def assignment(self) -> set[TP]:
        return self.owned

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        if self.fail:
            raise RuntimeError("rebalancing")
        return {tp: self.marks[tp] for tp in tps}


class FakeApp:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer


def lag(metrics: RiskmonMetrics, partition: str) -> float | None:
    return metrics.registry.get_sample_value(
        "riskmon_consumer_lag_messages", {"topic": "in", "partition": partition}
    )


def test_consumer_lag_uses_processed_then_committed_offsets_and_drops_lost_partitions() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False)
    sources = SourceTracker()
    sources.processed("in", 0, 41, None)  # next offset 42
    owned = {TP("in", 0), TP("in", 1), TP("other", 0)}
    consumer = FakeConsumer(owned, {TP("in", 0): 50, TP("in", 1): 10, TP("other", 0): 99})
    asyncio.run(consumer_lag(metrics, FakeApp(consumer), sources, ["in"]))
    assert (lag(metrics, "0"), lag(metrics, "1")) == (8, 3)
    consumer.owned = {TP("in", 1)}
    asyncio.run(consumer_lag(metrics, FakeApp(consumer), sources, ["in"]))
    assert (lag(metrics, "0"), lag(metrics, "1")) == (None, 3)


def test_refresh_survives_a_broker_error_and_sets_stage_gauges() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False)

    class NoDeadlines:
        name = "account"

        def next_deadline(self, value: Any) -> float | None:
            return None

    runner = StageRunner(NoDeadlines(), partitions=2, lateness=0.0)  # type: ignore[arg-type]
    runner.advance(0, 1000.0, {})
    runner.advance(1, 900.0, {})
    stage = ObservedStage("account", runner, {"a": 1, "b": 2})
    app = FakeApp(FakeConsumer({TP("in", 0)}, {}, fail=True))
    asyncio.run(refresh(metrics, app, SourceTracker(), ["in"], [stage]))
    get = metrics.registry.get_sample_value
    assert get("riskmon_state_entries", {"stage": "account"}) == 2
    assert get("riskmon_deadlines_pending", {"stage": "account"}) == 0
    stage_gauges(metrics, [stage], wall=1000.0)
    assert get("riskmon_watermark_lag_seconds", {"stage": "account"}) == 100.0
