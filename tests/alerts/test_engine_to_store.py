"""End to end: alerts the real engine raises on the shipped rule packs' examples, into the store."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from alerts.store import AlertStore
from monitor.alerts import Alert
from monitor.rule_examples import run_examples
from riskmon.alerts_cli import alerts_app
from tests.shipped import shipped_rules


def engine_alerts() -> list[Alert]:
    return [alert for result in run_examples(shipped_rules()) for alert in result.alerts]


def test_engine_alerts_ingested_three_times_are_stored_once(store_url: str, tmp_path: Path) -> None:
    alerts = engine_alerts()
    # Examples reuse event ids (ex-1, ex-2, ...), so two examples of one rule may share an
    # alert_id; the store keeps the first delivery of each id.
    first: dict[str, Alert] = {}
    for alert in alerts:
        first.setdefault(alert.alert_id, alert)
    unique = set(first)
    assert len(unique) >= 3, "the shipped packs' examples should raise several alerts"
    jsonl = tmp_path / "replay-alerts.jsonl"
    jsonl.write_text("".join(alert.to_json() + "\n" for alert in alerts))
    env = {"RISKMON_ALERT_STORE_URL": store_url}

    for _ in range(3):
        result = CliRunner().invoke(alerts_app, ["ingest", str(jsonl)], env=env)
        assert result.exit_code == 0, result.output

    with AlertStore.open(store_url) as store:
        stored = store.list_alerts(limit=10_000)
        assert sorted(s.alert.alert_id for s in stored) == sorted(unique)
        for alert_id, alert in first.items():
            assert store.get(alert_id).alert == alert  # the core masked account ids already
        assert {s.delivery_count for s in stored} == {3}
