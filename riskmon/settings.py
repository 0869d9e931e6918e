"""Settings, read once at the entry points from the environment (prefix ``RISKMON_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything riskmon reads from the environment. Nothing below the entry points does."""

    model_config = SettingsConfigDict(env_prefix="RISKMON_", extra="ignore")

    language: Literal["en", "zh-CN"] = "en"
    mask_accounts: bool = True
    rules_dir: Path | None = None
    lateness_seconds: int = 300

    kafka_bootstrap: str = "127.0.0.1:19092"
    topic_transactions: str = "bank.transactions"
    topic_operator_actions: str = "bank.operator-actions"
    topic_alerts: str = "risk.alerts"
    topic_deadletter: str = "risk.deadletter"
    topic_partitions: int = 4

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How every Kafka client connects (worker, produce, dispatch)."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle (PEM) that signed the brokers' certificates; default: the system's CAs."""
    kafka_ssl_certfile: Path | None = None
    """Client certificate (PEM), when the brokers require TLS client authentication."""
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
    """Read the SASL password from this file instead (first line); never logged."""
    produce_delivery_timeout: float = 30.0
    """Seconds ``riskmon produce`` waits for the broker to take a line before calling it lost."""

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

    alert_store_url: str = "sqlite:///riskmon-alerts.db"
    """The alert store: ``sqlite:///file.db`` or ``postgresql://user@host:port/db``."""
    routes_file: Path | None = None
    """Alert routing YAML for ``riskmon dispatch``; default: store all, notify what is set."""
    alertmanager_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    dispatch_group: str = "riskmon-dispatch"
    dispatch_session_timeout: float = 10.0
    """Seconds before the group gives a silent dispatcher's partitions to another one."""
    dispatch_instance_id: str | None = None
    """Static group membership (``group.instance.id``): a restarted dispatcher with the same id
    gets its partitions back at once, without a rebalance. Unique per dispatcher."""
    dispatch_dead_letter_dir: Path = Path("dead-letters")

    metrics_port: int | None = None
    """Serve Prometheus ``/metrics`` on this port (worker; replay and demo unless overridden)."""
    metrics_addr: str = "127.0.0.1"
    """Bind address of ``/metrics``; ``0.0.0.0`` in a container so Prometheus can reach it."""
