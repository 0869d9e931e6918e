"""Settings, read once at the entry points from the environment (prefix ``RISKMON_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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

    worker_app_id: str = "riskmon"
    worker_store: Literal["memory", "rocksdb"] = "memory"
    worker_data_dir: Path = Path(".riskmon-worker")
    worker_tick_interval: float = 2.0
    worker_idle_after: float = 5.0
    worker_web_port: int | None = None
    worker_session_timeout: float = 6.0
