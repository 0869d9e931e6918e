"""The worker's configuration, built once from :class:`riskmon.settings.Settings`-like values."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from monitor.watermark import EARLIEST_EVENT_TIME, TimeBounds


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the faust worker needs; passed in, never read from the environment here."""

    bootstrap: str = "127.0.0.1:19092"
    app_id: str = "riskmon"
    topic_transactions: str = "bank.transactions"
    topic_operator_actions: str = "bank.operator-actions"
    topic_alerts: str = "risk.alerts"
    topic_deadletter: str = "risk.deadletter"
    partitions: int = 4
    lateness_seconds: float = 300.0
    event_time_earliest: float | None = EARLIEST_EVENT_TIME
    """Events dated before this (epoch seconds) are dead-lettered ``time_out_of_range``."""
    event_time_max_ahead: float | None = 7 * 86400.0
    """Seconds an event may be ahead of the wall clock; further is ``time_out_of_range``."""
    tick_interval: float = 2.0
    """How often every worker sends a tick to every stage partition (wall seconds)."""
    idle_after: float = 5.0
    """A stage partition without events for this long (wall seconds) catches up on ticks."""
    store: Literal["memory", "rocksdb"] = "memory"
    data_dir: Path = field(default_factory=lambda: Path(".riskmon-worker"))
    language: Literal["en", "zh-CN"] = "en"
    mask_accounts: bool = True
    batch_size: int = 500
    batch_within: float = 0.05
    session_timeout: float = 6.0
    heartbeat_interval: float = 1.5
    commit_interval: float = 1.0
    producer_linger: float = 0.01
    """Seconds the producer waits to batch records (stage hops, changelog, alerts)."""
    web_port: int | None = None
    """Serve faust's web (and /metrics) on this port; ``None`` disables the web server."""
    processing_guarantee: Literal["at_least_once"] = "at_least_once"
    operations: bool = True
    """Run the per-branch KPI stage (``operations`` alerts)."""

    @property
    def time_bounds(self) -> TimeBounds:
        """Which event times the decoder admits (late: behind its input partition's progress)."""
        return TimeBounds(
            self.lateness_seconds, self.event_time_max_ahead, self.event_time_earliest
        )

    def stage_topic(self, stage: str) -> str:
        return f"{self.app_id}-stage-{stage}"
