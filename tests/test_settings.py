"""One settings object: every configuration below the entry points is built from it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from riskmon.settings import _WORKER_RENAMED, Settings, default_store_url
from streams.worker.config import WorkerConfig

REPO = Path(__file__).resolve().parents[1]


def test_worker_config_takes_every_setting_it_has_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "RISKMON_KAFKA_BOOTSTRAP": "broker:9092",
        "RISKMON_TOPIC_PARTITIONS": "12",
        "RISKMON_WORKER_APP_ID": "bank-a",
        "RISKMON_WORKER_IDLE_AFTER": "7.5",
        "RISKMON_LATENESS_SECONDS": "60",
        "RISKMON_LANGUAGE": "zh-CN",
        "RISKMON_WORKER_WEB_PORT": "6066",
    }.items():
        monkeypatch.setenv(name, value)
    config = Settings().worker_config()
    assert (config.bootstrap, config.partitions, config.app_id) == ("broker:9092", 12, "bank-a")
    assert (config.idle_after, config.lateness_seconds) == (7.5, 60)
    assert (config.language, config.web_port) == ("zh-CN", 6066)


def test_worker_config_has_no_second_default_for_a_setting() -> None:
    settings = Settings.model_fields
    for item in dataclasses.fields(WorkerConfig):
        from_settings = item.name in settings or f"worker_{item.name}" in settings
        from_settings = from_settings or item.name in _WORKER_RENAMED
        has_default = (
            item.default is not dataclasses.MISSING
            or item.default_factory is not dataclasses.MISSING
        )
        assert from_settings != has_default, item.name


def test_dispatch_config_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKMON_TOPIC_ALERTS", "risk.alerts.bank-a")
    monkeypatch.setenv("RISKMON_DISPATCH_KAFKA_TOPIC", "risk.notifications.bank-a")
    config = Settings().dispatch_config()
    assert config.store_url == default_store_url()
    assert (config.alerts_topic, config.kafka_topic) == (
        "risk.alerts.bank-a",
        "risk.notifications.bank-a",
    )


def test_the_default_alert_store_url_is_written_once_in_the_code() -> None:
    """One definition (``default_store_url``), and no module keeps a default of its own."""
    defining, stale = [], []
    for package in ("monitor", "alerts", "streams", "riskmon"):
        for p in (REPO / package).rglob("*.py"):
            text = p.read_text(encoding="utf-8")
            if "def default_store_url" in text:
                defining.append(p.relative_to(REPO).as_posix())
            if "alert_store_url: str =" in text or "store_url: str =" in text:
                stale.append(p.relative_to(REPO).as_posix())
    assert defining == ["riskmon/settings.py"]
    assert stale == ["riskmon/settings.py"]  # the one field, whose default is that function
