"""Per-rule quality telemetry from the store, checked by the real promtool."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerts.metrics import PipelineMetrics, SinkMetrics
from alerts.store import AlertStore, AlertStoreCollector
from tests.alerts.alertkit import SettableClock, make_alert, who


def populated(store: AlertStore, clock: SettableClock) -> None:
    hit, waiting = make_alert(), make_alert(rule_id="after_hours_login")
    miss = make_alert(severity="medium")  # a high one would wait for a supervisor's approval
    store.upsert_many([hit, miss, waiting])
    officer = who(store, "a")
    for alert in (hit, miss):
        store.acknowledge(alert.alert_id, by=officer)
    clock.advance(600)
    store.resolve(hit.alert_id, by=officer)
    clock.advance(300)
    store.mark_false_positive(miss.alert_id, by=officer)


def test_counts_and_disposition_times_per_rule(store: AlertStore, clock: SettableClock) -> None:
    populated(store, clock)
    registry = CollectorRegistry()
    registry.register(AlertStoreCollector(store))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    rule = "large_transfer_over_limit"
    assert value("riskmon_alert_store_alerts", rule_id=rule, pack_version="1.2.0",
                 status="resolved") == 1  # fmt: skip
    assert value("riskmon_alert_store_alerts", rule_id="after_hours_login",
                 pack_version="1.2.0", status="open") == 1  # fmt: skip
    assert value("riskmon_alert_disposition_seconds_count", rule_id=rule,
                 label="true_positive") == 1  # fmt: skip
    assert value("riskmon_alert_disposition_seconds_sum", rule_id=rule,
                 label="true_positive") == 600  # fmt: skip
    assert value("riskmon_alert_disposition_seconds_sum", rule_id=rule,
                 label="false_positive") == 900  # fmt: skip


@pytest.mark.services
def test_promtool_accepts_the_exposition(
    promtool: str, store: AlertStore, clock: SettableClock
) -> None:
    populated(store, clock)
    registry = CollectorRegistry()
    registry.register(AlertStoreCollector(store))
    sink_metrics, pipeline_metrics = SinkMetrics(registry), PipelineMetrics(registry)
    sink_metrics.sent.labels("webhook").inc()
    sink_metrics.dead_lettered.labels("webhook").inc()
    pipeline_metrics.suppressed.labels("large_transfer_over_limit").inc()
    scrape = generate_latest(registry)
    done = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True)
    assert done.returncode == 0, done.stdout + done.stderr
