"""Settings, read once at the entry points from the environment (prefix ``RISKMON_``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor.watermark import TimeBounds


class Settings(BaseSettings):
    """Everything riskmon reads from the environment. Nothing below the entry points does."""

    model_config = SettingsConfigDict(env_prefix="RISKMON_", extra="ignore")

    language: Literal["en", "zh-CN"] = "en"
    mask_accounts: bool = True
    rules_dir: Path | None = None
    lateness_seconds: int = 300
    """How far the watermark stays behind event time; events later than this behind their
    source's progress are dead-lettered ``late_event``."""
    event_time_earliest: AwareDatetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Events dated before this are dead-lettered ``time_out_of_range`` (a broken clock)."""
    event_time_max_ahead_seconds: float | None = 7 * 86400
    """How far an event may be ahead of the stream's progress (replay) or of the wall clock
    (worker); further ahead is ``time_out_of_range``. Empty: no bound."""

    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_transactions: str = "bank.transactions"
    topic_operator_actions: str = "bank.operator-actions"
    topic_alerts: str = "risk.alerts"
    topic_deadletter: str = "risk.deadletter"
    topic_partitions: int = 4

    worker_app_id: str = "riskmon"
    worker_store: Literal["memory", "rocksdb"] = "memory"
    worker_data_dir: Path = Path(".riskmon-worker")
    worker_tick_interval: float = 2.0
    worker_idle_after: float = 5.0
    worker_web_port: int | None = None
    worker_session_timeout: float = 6.0

    operations_enabled: bool = True
    """Keep per-branch KPIs and raise ``operations`` alerts (replay, demo and worker)."""
    models_enabled: bool = False
    """Run the online anomaly models (``model_anomaly`` alerts) beside the rules."""
    models_alerts_per_10k: float | None = None
    """Model alerts per 10,000 scored events, every model (default: account 1.0, operator 2.5)."""
    models_alerts_per_day: float | None = None
    """Fix the daily volume per account-model partition instead (operators: half)."""

    alert_store_url: str = "sqlite:///riskmon-alerts.db"
    """The alert store: ``sqlite:///file.db`` or ``postgresql://user@host:port/db``."""
    routes_file: Path | None = None
    """Alert routing YAML for ``riskmon dispatch``; default: store all, notify what is set."""
    alertmanager_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    dispatch_group: str = "riskmon-dispatch"
    dispatch_dead_letter_dir: Path = Path("dead-letters")

    metrics_port: int | None = None
    """Serve Prometheus ``/metrics`` on this port (worker; replay and demo unless overridden)."""
    metrics_addr: str = "127.0.0.1"
    """Bind address of ``/metrics``; ``0.0.0.0`` in a container so Prometheus can reach it."""

    def time_bounds(self) -> TimeBounds:
        """Which event times replay and the worker admit (the rest is dead-lettered)."""
        return TimeBounds(
            lateness=float(self.lateness_seconds),
            max_ahead=self.event_time_max_ahead_seconds,
            earliest=self.event_time_earliest.timestamp(),
        )
