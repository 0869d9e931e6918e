"""The worker's configuration, built once by :meth:`riskmon.settings.Settings.worker_config`.

Fields that come from a setting have no default here (the setting holds it); the tuning fields
below them, which no setting exposes, keep theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
    tick_interval: float
    """How often every worker sends a tick to every stage partition (wall seconds)."""
    idle_after: float
    """A source partition without events for this long (wall seconds) counts as idle."""
    store: Literal["memory", "rocksdb"]
    data_dir: Path
    language: Literal["en", "zh-CN"]
    mask_accounts: bool
    session_timeout: float
    web_port: int | None
    """Serve faust's web (and /metrics) on this port; ``None`` disables the web server."""
    batch_size: int = 500
    batch_within: float = 0.05
    heartbeat_interval: float = 1.5
    commit_interval: float = 1.0
    producer_linger: float = 0.01
    """Seconds the producer waits to batch records (stage hops, changelog, alerts)."""
    dedup_window_seconds: float = 7 * 24 * 3600.0
    """Repeated event ids are detected within this much event time (as in replay)."""
    dedup_max_entries: int = 1_000_000
    """At most this many event ids are remembered per input partition."""
    processing_guarantee: Literal["at_least_once"] = "at_least_once"
    kafka: KafkaClientConfig = field(default_factory=KafkaClientConfig)
    """TLS and SASL for the worker's clients."""

    def stage_topic(self, stage: str) -> str:
        return f"{self.app_id}-stage-{stage}"
