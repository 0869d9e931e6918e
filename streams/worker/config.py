"""The worker's configuration, built once by :meth:`riskmon.settings.Settings.worker_config`.

Fields that come from a setting have no default here (the setting holds it); the tuning fields
below them, which no setting exposes, keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from monitor.watermark import TimeBounds
from streams.kafka_client import KafkaClientConfig


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the faust worker needs; passed in, never read from the environment here."""

    bootstrap: str
    app_id: str
    topic_transactions: str
    topic_operator_actions: str
    topic_alerts: str
    topic_deadletter: str
    partitions: int
    lateness_seconds: float
    event_time_earliest: float | None
    """Events dated before this (epoch seconds) are dead-lettered ``time_out_of_range``."""
    event_time_max_ahead: float | None
    """Seconds an event may be ahead of the wall clock; further is ``time_out_of_range``."""
    tick_interval: float
    """How often every worker sends a tick to every stage partition (wall seconds)."""
    idle_after: float
    """A source partition without events for this long (wall seconds) counts as idle."""
    store: Literal["memory", "packed", "rocksdb"]
    data_dir: Path
    language: Literal["en", "zh-CN"]
    mask_accounts: bool
    session_timeout: float
    web_port: int | None
    """Serve faust's web (and /metrics) on this port; ``None`` disables the web server."""
    operations: bool
    """Run the per-branch KPI stage (``operations`` alerts)."""
    dedup_window_seconds: float
    """Repeated event ids are detected within this much event time (as in replay)."""
    dedup_max_entries: int
    """At most this many event ids are remembered per input partition."""
    commit_interval: float
    """Seconds between offset commits; after a crash the input since the last one is read again."""
    input_partitions: int | None = None
    """Partitions of each input topic, as the broker has them (``riskmon worker`` asks it);
    ``None``: :attr:`partitions`."""
    batch_size: int = 500
    batch_within: float = 0.05
    heartbeat_interval: float = 1.5
    producer_linger: float = 0.01
    """Seconds the producer waits to batch records (stage hops, changelog, alerts)."""
    processing_guarantee: Literal["at_least_once"] = "at_least_once"
    kafka: KafkaClientConfig = field(default_factory=KafkaClientConfig)
    """TLS and SASL for the worker's clients."""

    @property
    def time_bounds(self) -> TimeBounds:
        """Which event times the decoder admits (late: behind its input partition's progress)."""
        return TimeBounds(
            self.lateness_seconds, self.event_time_max_ahead, self.event_time_earliest
        )

    @property
    def source_partitions(self) -> int:
        """Partitions of the input topics, and of the decoder's event-id table (co-partitioned
        with them); the stage topics have :attr:`partitions`."""
        return self.input_partitions if self.input_partitions is not None else self.partitions

    def stage_topic(self, stage: str) -> str:
        return f"{self.app_id}-stage-{stage}"
