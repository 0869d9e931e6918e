"""Secrets and PII (issue 11, item 8).

Secrets come from the environment or from ``RISKMON_<NAME>_FILE`` files and never reach a log,
a repr, stdout or a payload; account numbers are masked in logs, metrics, webhook and
Alertmanager payloads even when the engine renders full values; the store's full-value mode is
off by default.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.store import AlertStore
from monitor.engine import Engine
from monitor.events import Transaction
from monitor.metrics import RiskmonMetrics
from monitor.rules.loader import load_rules
from monitor.simulator import SimConfig, simulate
from riskmon.alerts_cli import AlertsCliSettings
from riskmon.secrets import redact_url
from riskmon.settings import Settings
from streams.dispatch import DispatchConfig, open_pipeline
from streams.replay import SourceLine, replay
from tests.alerts.receiver import webhook_receiver

WEBHOOK_SECRET = "whsec-7f3a9c1e-do-not-log"
AM_PASSWORD = "am-pass-5d2b-do-not-log"
DB_PASSWORD = "db-pass-91ce-do-not-log"
TOKEN = "tok-0b8e44-do-not-log"
SECRETS = (WEBHOOK_SECRET, AM_PASSWORD, DB_PASSWORD, TOKEN)


def test_secret_files_and_reprs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "webhook-secret"
    secret.write_text(WEBHOOK_SECRET + "\n", encoding="utf-8")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({TOKEN: {"owner": "li.wei", "scope": "read"}}), encoding="utf-8")
    monkeypatch.setenv("RISKMON_WEBHOOK_SECRET_FILE", str(secret))
    monkeypatch.setenv("RISKMON_ALERT_API_TOKENS_FILE", str(tokens))
    monkeypatch.setenv("RISKMON_ALERT_STORE_URL", f"postgresql://riskmon:{DB_PASSWORD}@db/riskmon")
    settings, alerts = Settings(), AlertsCliSettings()
    assert settings.webhook_secret == WEBHOOK_SECRET  # file content without the newline
    assert alerts.alert_api_tokens == {TOKEN: {"owner": "li.wei", "scope": "read"}}
    for shown in (repr(settings), str(settings), repr(alerts), str(alerts)):
        assert not any(s in shown for s in SECRETS), shown
    assert redact_url(settings.alert_store_url) == "postgresql://riskmon:***@db/riskmon"
    monkeypatch.setenv("RISKMON_WEBHOOK_SECRET", "also-set")
    with pytest.raises(ValueError, match="keep one"):
        Settings()


def _events() -> list[SourceLine]:
    sim = simulate(SimConfig(seed=3, days=2, branches=3))
    return [SourceLine("sim", n, e.model_dump_json()) for n, e in enumerate(sim.events, 1)]


@pytest.mark.slow
def test_a_replay_and_dispatch_run_logs_no_secret_and_no_account_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Engine rendering with masking OFF (the worst case), delivered through dispatch's pipeline
    to a real webhook receiver and a receiver standing in for Alertmanager, every log record at
    DEBUG captured: no secret and no full account number appears anywhere people can see."""
    caplog.set_level(logging.DEBUG)
    lines = _events()
    accounts = {
        value
        for line in lines
        for key in ("account_id", "counterparty_account", "target_account_id")
        if len(value := str(json.loads(line.text).get(key) or "")) > 4
    }
    assert len(accounts) > 50
    registry = CollectorRegistry()
    metrics = RiskmonMetrics(registry, stages=["engine"])
    found = []
    engine = Engine(load_rules(), mask=False)
    stats = replay(lines, engine, found.append, lambda d: None, metrics=metrics)
    assert stats.alerts == len(found) > 3
    assert any(a.entity_type == "account" and a.entity_id in accounts for a in found)  # unmasked
    with (
        webhook_receiver(secret=WEBHOOK_SECRET.encode()) as hook,
        webhook_receiver() as manager,
    ):
        am_url = manager.url.replace("http://", f"http://riskmon:{AM_PASSWORD}@")
        config = DispatchConfig(
            store_url=f"sqlite:///{tmp_path}/alerts.db",
            alertmanager_url=am_url.removesuffix("/hook"),
            webhook_url=hook.url,
            webhook_secret=WEBHOOK_SECRET,
            dead_letter_dir=tmp_path / "dead",
        )
        with open_pipeline(config, CollectorRegistry()) as (pipeline, _store):
            for alert in found:
                pipeline.add(alert)
            assert pipeline.flush().ok
        assert hook.bad_signatures == 0 and hook.accepted and manager.requests
        payloads = json.dumps(hook.accepted) + json.dumps(manager.accepted)
    with AlertStore.open(config.store_url) as store:  # full-value mode is off by default
        stored = [store.get(a.alert_id) for a in found]
    seen = {
        "logs": caplog.text,
        "webhook and Alertmanager payloads": payloads,
        "metrics": generate_latest(registry).decode(),
        "store": "".join(s.alert.model_dump_json() for s in stored if s is not None),
    }
    assert caplog.records  # the run did log (httpx requests at least)
    for where, text in seen.items():
        assert not [s for s in SECRETS if s in text], where
        leaked = sorted(a for a in accounts if a in text)
        assert not leaked, f"{where}: full account numbers {leaked[:3]}"


@pytest.mark.slow
def test_cli_output_never_shows_secrets(tmp_path: Path) -> None:
    """`riskmon demo` with every secret set: nothing it prints or writes contains one."""
    secret = tmp_path / "secret"
    secret.write_text(WEBHOOK_SECRET, encoding="utf-8")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "COLUMNS": "300",
        "RISKMON_WEBHOOK_SECRET_FILE": str(secret),
        "RISKMON_ALERTMANAGER_URL": f"http://riskmon:{AM_PASSWORD}@127.0.0.1:9",
        "RISKMON_ALERT_API_TOKENS": json.dumps({TOKEN: {"owner": "a", "scope": "read"}}),
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{tmp_path}/alerts.db",
    }
    done = subprocess.run(
        [sys.executable, "-m", "riskmon.cli", "demo", "--days", "1", "--branches", "2",
         "--out-dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "demo").glob("*.jsonl"))
    for text in (done.stdout, done.stderr, written):
        assert not [s for s in SECRETS if s in text]
    alerts = [json.loads(x) for x in (tmp_path / "demo" / "alerts.jsonl").read_text().splitlines()]
    events = (tmp_path / "demo" / "events.jsonl").read_text().splitlines()
    accounts = {e["account_id"] for e in map(json.loads, events) if e["kind"] == "transaction"}
    shown = done.stdout + json.dumps(alerts)
    assert alerts and not [a for a in accounts if a in shown]  # masked by default


def test_the_store_keeps_full_values_only_when_allowed() -> None:
    assert AlertsCliSettings.model_fields["alert_store_allow_unmasked"].default is False
    assert Settings.model_fields["mask_accounts"].default is True
    assert Transaction.model_fields["account_id"].is_required()


def test_a_malformed_secret_setting_is_named_but_never_echoed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from riskmon.cli import main

    monkeypatch.setenv("RISKMON_ALERT_API_TOKENS", json.dumps({TOKEN: "read"}))  # wrong shape
    with pytest.raises(SystemExit) as exit_info:
        main(["alerts", "list"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "RISKMON_ALERT_API_TOKENS" in err and TOKEN not in err
    assert len(err.strip().splitlines()) == 1
