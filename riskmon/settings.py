"""Settings, read once at the entry points from the environment (prefix ``RISKMON_``).

This is the one place that holds a default for anything riskmon reads from the environment. The
configurations below it (:class:`streams.worker.config.WorkerConfig`,
:class:`streams.dispatch.DispatchConfig`) are built from it by :meth:`Settings.worker_config` and
:meth:`Settings.dispatch_config` and have no defaults of their own for these values.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from monitor.dedup import DEDUP_MAX_ENTRIES, DEDUP_WINDOW_SECONDS
from monitor.watermark import TimeBounds
from riskmon.secrets import FileSecretSettings

if TYPE_CHECKING:
    from streams.dispatch import DispatchConfig
    from streams.kafka_client import KafkaClientConfig
    from streams.worker.config import WorkerConfig

# WorkerConfig fields whose setting has another name; the others are `name` or `worker_<name>`.
_WORKER_RENAMED = {
    "bootstrap": "kafka_bootstrap",
    "partitions": "topic_partitions",
    "event_time_max_ahead": "event_time_max_ahead_seconds",
    "operations": "operations_enabled",
}


def default_store_url() -> str:
    """The alert store when ``RISKMON_ALERT_STORE_URL`` is unset: a SQLite file in the user's data
    folder (``$XDG_DATA_HOME/riskmon/alerts.db``, else ``~/.local/share/riskmon/alerts.db``), so
    the current folder does not matter."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return f"sqlite:///{Path(base) / 'riskmon' / 'alerts.db'}"


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (``None`` for other databases and in-memory SQLite)."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            name = url[len(prefix) :].split("?", 1)[0]
            return Path(name) if name and name != ":memory:" else None
    return None


class Settings(FileSecretSettings):  # + RISKMON_<NAME>_FILE
    """Everything riskmon reads from the environment. Nothing below the entry points does."""

    model_config = SettingsConfigDict(env_prefix="RISKMON_", extra="ignore")

    language: Literal["en", "zh-CN"] = "en"
    timezone: str = "Asia/Shanghai"
    """The bank's time zone: times in CLI and API output, and naive ``--since``/``--until``."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    mask_accounts: bool = True
    rules_dir: Path | None = None
    lateness_seconds: int = 300
    """How far the watermark stays behind event time; events later than this behind their
    source's progress are dead-lettered ``late_event``."""
    event_time_earliest: AwareDatetime = datetime(2000, 1, 1, tzinfo=UTC)
    """Events dated before this are dead-lettered ``time_out_of_range`` (a broken clock)."""
    event_time_max_ahead_seconds: float = Field(default=7 * 86400, gt=0)
    """How far an event may be ahead of the stream's progress (replay) or of the wall clock
    (worker); further ahead is ``time_out_of_range``."""
    dedup_window_seconds: float = Field(default=DEDUP_WINDOW_SECONDS, gt=0)
    """Event-time window in which a repeated ``event_id`` is recognised (redelivery/collision)."""
    dedup_max_entries: int = Field(default=DEDUP_MAX_ENTRIES, gt=0)
    """At most this many event ids are remembered (oldest forgotten first)."""
    currency_rates_file: Path | None = None
    """YAML/JSON ``{base: CNY, rates: {USD: 7.10, ...}}`` replacing the packs' default table."""

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
    produce_delivery_timeout: float = 30.0
    """Seconds ``riskmon produce`` waits for the broker to take a line before calling it lost."""

    worker_app_id: str = "riskmon"
    worker_store: Literal["memory", "packed", "rocksdb"] = "memory"
    worker_data_dir: Path = Path(".riskmon-worker")
    worker_tick_interval: float = 2.0
    worker_idle_after: float = 5.0
    """An input partition without events for this long (wall seconds) counts as idle."""
    worker_web_port: int | None = None
    worker_session_timeout: float = 6.0
    worker_commit_interval: float = Field(default=1.0, gt=0)
    """Seconds between the worker's offset commits: after a crash, up to this much input is
    read again (dropped as redeliveries; their alerts are not raised twice)."""

    operations_enabled: bool = True
    """Keep per-branch KPIs and raise ``operations`` alerts (replay, demo and worker)."""
    models_enabled: bool = False
    """Run the online anomaly models (``model_anomaly`` alerts) beside the rules."""
    models_alerts_per_10k: float | None = None
    """Model alerts per 10,000 scored events, every model (default: account 1.0, operator 2.5)."""
    models_alerts_per_day: float | None = None
    """Fix the daily volume per account-model partition instead (operators: half)."""

    alert_store_url: str = Field(default_factory=default_store_url, repr=False)
    """The alert store: ``sqlite:///file.db`` or ``postgresql://user@host:port/db``."""
    alert_store_allow_unmasked: bool = False
    """Store account ids as given instead of masked."""
    alert_silence_approval: bool = True
    """Maker-checker on silences: a second person approves before a silence mutes anything."""
    alert_api_tokens: dict[str, dict[str, str]] = Field(default_factory=dict, repr=False)
    """Bearer tokens of ``riskmon alerts serve``: ``{"<token>": {"owner": ..., "scope": ...}}``."""
    routes_file: Path | None = None
    """Alert routing YAML for ``riskmon dispatch``; default: store all, notify what is set."""
    alertmanager_url: str | None = Field(default=None, repr=False)
    webhook_url: str | None = Field(default=None, repr=False)
    webhook_secret: str | None = Field(default=None, repr=False)
    """Secrets: never in a repr or a log line; give them as *_FILE to keep them out of env."""
    dispatch_group: str = "riskmon-dispatch"
    dispatch_session_timeout: float = 10.0
    """Seconds before the group gives a silent dispatcher's partitions to another one."""
    dispatch_instance_id: str | None = None
    """Static group membership (``group.instance.id``): a restarted dispatcher with the same id
    gets its partitions back at once, without a rebalance. Unique per dispatcher."""
    dispatch_dead_letter_dir: Path = Path("dead-letters")
    dispatch_kafka_topic: str = "risk.notifications"
    """Where a route's ``kafka`` sink publishes (never the alerts topic dispatch reads)."""
    dispatch_jsonl_file: Path = Path("dispatched-alerts.jsonl")
    """The file a route's ``jsonl`` sink appends to."""

    require_pack_approval: bool = False
    """The worker and ``replay --follow`` run only a rule pack that a second person approved, in
    the approval log of the alert store (on in docker-compose)."""

    metrics_port: int | None = None
    """Serve Prometheus ``/metrics`` on this port (worker; replay and demo unless overridden)."""
    metrics_addr: str = "127.0.0.1"
    """Bind address of ``/metrics``; ``0.0.0.0`` in a container so Prometheus can reach it."""

    token: str | None = Field(default=None, repr=False)
    """The CLI's API token (``riskmon users token NAME``): who makes each change; or
    ``RISKMON_TOKEN_FILE``, whose first line is the token."""
    api_url: str | None = None
    """With it, the ``alerts``, ``register`` and ``rules`` commands call that riskmon server."""

    web_secret: str | None = Field(default=None, repr=False)
    """``riskmon serve``: the key (32+ characters) that signs session cookies; random if unset.
    ``RISKMON_WEB_SECRET_FILE`` reads it from a file (e.g. a Docker secret), like every setting."""
    web_https_only: bool = False
    """``riskmon serve``: mark the session cookie ``Secure`` (behind TLS)."""
    web_poll_seconds: int = 5
    """``riskmon serve``: how often the inbox asks for new alerts."""

    def worker_config(self) -> WorkerConfig:
        """The worker's configuration: each field from the setting of the same meaning."""
        from streams.worker.config import WorkerConfig

        names = type(self).model_fields
        values: dict[str, Any] = {}
        for item in dataclasses.fields(WorkerConfig):
            source = _WORKER_RENAMED.get(item.name) or next(
                (n for n in (item.name, f"worker_{item.name}") if n in names), None
            )
            if source is not None:
                value = getattr(self, source)
                values[item.name] = value.timestamp() if isinstance(value, datetime) else value
        return WorkerConfig(**values)

    def dispatch_config(self) -> DispatchConfig:
        """The dispatcher's configuration."""
        from streams.dispatch import DispatchConfig

        return DispatchConfig(
            store_url=self.alert_store_url,
            routes_file=self.routes_file,
            alertmanager_url=self.alertmanager_url,
            webhook_url=self.webhook_url,
            webhook_secret=self.webhook_secret,
            dead_letter_dir=self.dispatch_dead_letter_dir,
            kafka_bootstrap=self.kafka_bootstrap,
            kafka_topic=self.dispatch_kafka_topic,
            alerts_topic=self.topic_alerts,
            jsonl_file=self.dispatch_jsonl_file,
        )

    def kafka_client(self) -> KafkaClientConfig:
        """The checked Kafka client security config (TLS, SASL); raises
        :class:`~streams.kafka_client.KafkaClientConfigError` with one clear line."""
        from streams.kafka_client import KafkaClientConfig

        # RISKMON_KAFKA_SASL_PASSWORD_FILE works like every other *_FILE setting (riskmon.secrets).
        password = self.kafka_sasl_password.get_secret_value() if self.kafka_sasl_password else None
        return KafkaClientConfig(
            security_protocol=self.kafka_security_protocol,
            ssl_cafile=self.kafka_ssl_cafile,
            ssl_certfile=self.kafka_ssl_certfile,
            ssl_keyfile=self.kafka_ssl_keyfile,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=password,
        ).validate()

    def time_bounds(self) -> TimeBounds:
        """Which event times replay and the worker admit (the rest is dead-lettered)."""
        return TimeBounds(
            lateness=float(self.lateness_seconds),
            max_ahead=self.event_time_max_ahead_seconds,
            earliest=self.event_time_earliest.timestamp(),
        )


def prepare_store(url: str) -> None:
    """Create the folder of a SQLite store, for the commands that create the store (demo,
    dispatch, ``alerts ingest``); the others refuse a missing store instead."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
