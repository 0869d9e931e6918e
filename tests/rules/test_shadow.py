"""Shadow rules: alerts stored, marked and counted, never delivered (real Alertmanager)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.sinks import AlertmanagerSink, StoreSink
from alerts.store import AlertStore
from monitor.alerts import is_shadow
from monitor.backtest import run_rules
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example
from tests.alerts.alertkit import MemorySink, am_alerts
from tools.services import ServerHandle


def shadow_rules(tmp_path: Path, rule_id: str) -> Path:
    path = tmp_path / "shadow.yaml"
    path.write_text(
        f"""\
- rule: Single cash transaction above a lower trial threshold
  id: {rule_id}
  desc: Tries CNY 40,000 on live traffic before it replaces the CNY 50,000 line.
  kind: condition
  category: large_transfer
  entity: transaction
  mode: shadow
  condition: {{macro: is_cash}}
  threshold: {{CNY: 40000, USD: 8000}}
  output:
    en: "Trial: cash {{amount}} {{currency}}"
    zh-CN: "试行：现金 {{amount}} {{currency}}"
  severity: medium
""",
        encoding="utf-8",
    )
    return path


def cash(*amounts: str) -> list[Any]:
    return example_events(
        Example(
            events=[
                {
                    "txn_id": f"S{n}-{uuid.uuid4().hex[:6]}",
                    "txn_type": "deposit",
                    "channel": "counter",
                    "amount": amount,
                    "occurred_at": f"2026-03-03T1{n}:00:00+08:00",
                }
                for n, amount in enumerate(amounts)
            ],
            expect=[],
        )
    )


@pytest.mark.services
def test_shadow_alerts_are_stored_and_counted_but_never_delivered(
    tmp_path: Path, alertmanager: ServerHandle
) -> None:
    rule_id = f"trial_{uuid.uuid4().hex[:10]}"
    ruleset = load_rules([shadow_rules(tmp_path, rule_id)])
    alerts = run_rules(ruleset, cash("45000", "60000"))
    shadow = [a for a in alerts if is_shadow(a)]
    live = [a for a in alerts if not is_shadow(a)]
    assert {a.rule_id for a in shadow} == {rule_id} and len(shadow) == 2
    assert [a.rule_id for a in live] == ["large_cash_single"]

    registry = CollectorRegistry()
    webhook = MemorySink("webhook")
    with AlertStore.open(f"sqlite:///{tmp_path / 'alerts.db'}") as store, httpx.Client() as client:
        metrics = SinkMetrics(registry)
        sinks = {
            "store": StoreSink(store, metrics=metrics),
            "alertmanager": AlertmanagerSink(alertmanager.url, client=client, metrics=metrics),
            "webhook": webhook,
        }
        routes = parse_routes(
            {"routes": [{"name": "all", "sinks": ["store", "alertmanager", "webhook"]}]}
        )
        pipeline = AlertPipeline(routes, sinks, registry=registry)
        for alert in alerts:
            pipeline.add(alert)
        report = pipeline.flush()
        assert report.ok, report.failed
        stored = {s.alert.alert_id: s.alert for s in store.list_alerts(limit=100)}
    assert {a.alert_id for a in alerts} <= set(stored)
    assert all(is_shadow(stored[a.alert_id]) for a in shadow)
    assert registry.get_sample_value("riskmon_shadow_alerts_total", {"rule_id": rule_id}) == 2

    delivered = [a.alert_id for n in webhook.delivered for a in n.alerts]
    assert delivered == [live[0].alert_id]
    # The live alert reaches the real Alertmanager; the shadow ones, sent in the same flush,
    # never do.
    deadline = time.monotonic() + 20
    ids: set[str] = set()
    while time.monotonic() < deadline and live[0].alert_id not in ids:
        listed = am_alerts(alertmanager.url)
        ids = {a["annotations"].get("alert_id") for a in listed}
        time.sleep(0.2)
    assert live[0].alert_id in ids
    names = {a["labels"]["alertname"] for a in am_alerts(alertmanager.url)}
    assert rule_id not in names
    assert not ids & {a.alert_id for a in shadow}


def test_the_shadow_tag_is_reserved(tmp_path: Path) -> None:
    from monitor.errors import RulePackError

    path = shadow_rules(tmp_path, "trial_one")
    path.write_text(path.read_text().replace("mode: shadow", "tags: [shadow]"))
    with pytest.raises(RulePackError, match="reserved: write 'mode: shadow'"):
        load_rules([path])


def test_backtest_compares_a_shadow_rule_with_the_live_ones(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor.events import encode_event
    from riskmon.cli import app

    history = tmp_path / "history.jsonl"
    history.write_text("".join(encode_event(e) + "\n" for e in cash("45000", "60000")))
    trial = shadow_rules(tmp_path, "trial_cash")
    result = CliRunner().invoke(
        app, ["rules", "backtest", str(history), "--after", str(trial)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "trial_cash (shadow)" in result.output
    assert (
        "shadow rule trial_cash: 2 alert(s), 1 on events live rules of its category also alert "
        "on (1 live alert(s)); 1 would be new if it went live" in result.output
    )
