"""Settings, read once at the entry points from the environment (prefix ``RISKMON_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from riskmon.secrets import FileSecretSettings


class Settings(FileSecretSettings):  # + RISKMON_<NAME>_FILE
    """Everything riskmon reads from the environment. Nothing below the entry points does."""

    model_config = SettingsConfigDict(env_prefix="RISKMON_", extra="ignore")

    language: Literal["en", "zh-CN"] = "en"
    mask_accounts: bool = True
    rules_dir: Path | None = None
    lateness_seconds: int = 300
    dedup_window_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    """Event-time window in which a repeated ``event_id`` is recognised (redelivery/collision)."""
    dedup_max_entries: int = Field(default=1_000_000, gt=0)
    """At most this many event ids are remembered (oldest forgotten first)."""
    currency_rates_file: Path | None = None
    """YAML/JSON ``{base: CNY, rates: {USD: 7.10, ...}}`` replacing the packs' default table."""

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

    models_enabled: bool = False
    """Run the online anomaly models (``model_anomaly`` alerts) beside the rules."""
    models_alerts_per_10k: float | None = None
    """Model alerts per 10,000 scored events, every model (default: account 1.0, operator 2.5)."""
    models_alerts_per_day: float | None = None
    """Fix the daily volume per account-model partition instead (operators: half)."""

    alert_store_url: str = Field(default="sqlite:///riskmon-alerts.db", repr=False)
    """The alert store: ``sqlite:///file.db`` or ``postgresql://user@host:port/db``."""
    routes_file: Path | None = None
    """Alert routing YAML for ``riskmon dispatch``; default: store all, notify what is set."""
    alertmanager_url: str | None = Field(default=None, repr=False)
    webhook_url: str | None = Field(default=None, repr=False)
    webhook_secret: str | None = Field(default=None, repr=False)
    """Secrets: never in a repr or a log line; give them as *_FILE to keep them out of env."""
    dispatch_group: str = "riskmon-dispatch"
    dispatch_dead_letter_dir: Path = Path("dead-letters")

    metrics_port: int | None = None
    """Serve Prometheus ``/metrics`` on this port (worker; replay and demo unless overridden)."""
    metrics_addr: str = "127.0.0.1"
    """Bind address of ``/metrics``; ``0.0.0.0`` in a container so Prometheus can reach it."""
