"""AlertmanagerSink against the real Alertmanager (fixture ``alertmanager``)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.sinks import AlertmanagerSink, RetryPolicy, StoreSink, replay_dead_letters
from alerts.store import AlertStore
from tests.alerts.alertkit import (
    T0,
    SettableClock,
    SleepRecorder,
    am_alerts,
    am_groups,
    fresh_postgres_database,
    make_alert,
    wait_until,
)
from tests.alerts.receiver import free_port
from tools.services import ServerHandle

pytestmark = pytest.mark.services


def unique_rule() -> str:
    return f"riskmon_test_{uuid.uuid4().hex[:10]}"


def test_alertmanager_shows_riskmon_alerts_with_low_cardinality_labels(
    alertmanager: ServerHandle, http_client: httpx.Client, sink_metrics: SinkMetrics
) -> None:
    rule = unique_rule()
    alert = make_alert(rule_id=rule, branch_id="BR042", severity="critical")
    sink = AlertmanagerSink(alertmanager.url, client=http_client, metrics=sink_metrics)
    pipeline = AlertPipeline(
        parse_routes({"routes": [{"name": "am", "sinks": ["alertmanager"]}]}),
        {"alertmanager": sink}, registry=CollectorRegistry(),
    )  # fmt: skip
    pipeline.add(alert)

    assert pipeline.flush().ok
    listed = wait_until(lambda: am_alerts(alertmanager.url, alertname=rule))

    assert len(listed) == 1
    assert listed[0]["labels"] == {
        "alertname": rule, "category": "large_transfer", "severity": "critical", "branch": "BR042",
    }  # fmt: skip
    annotations = listed[0]["annotations"]
    assert annotations["alert_id"] == alert.alert_id
    assert annotations["entity"] == "account:************1234"
    assert annotations["message"] == alert.message
    assert (annotations["pack_version"], annotations["pack_hash"]) == ("1.2.0", "sha256:abc123")
    assert listed[0]["startsAt"].startswith("2026-03-02T09:30")


def test_a_grouped_burst_arrives_as_one_group(
    alertmanager: ServerHandle, http_client: httpx.Client, sink_metrics: SinkMetrics
) -> None:
    rule = unique_rule()
    # Same rule and entity, five branches: five Alertmanager alerts, one riskmon notification.
    burst = [
        make_alert(rule_id=rule, branch_id=f"BR{i:03}", occurred_at=T0 + timedelta(seconds=i))
        for i in range(5)
    ]
    sink = AlertmanagerSink(alertmanager.url, client=http_client, metrics=sink_metrics)
    pipeline = AlertPipeline(
        parse_routes({"routes": [{"name": "am", "sinks": ["alertmanager"]}]}),
        {"alertmanager": sink}, registry=CollectorRegistry(),
    )  # fmt: skip
    for alert in burst:
        pipeline.add(alert)

    report = pipeline.flush()
    groups = wait_until(
        lambda: [g for g in am_groups(alertmanager.url, alertname=rule) if len(g["alerts"]) == 5]
    )

    assert report.notifications == {"alertmanager": 1}
    assert len(am_groups(alertmanager.url, alertname=rule)) == 1
    assert groups[0]["labels"] == {"alertname": rule, "category": "large_transfer"}
    assert {a["annotations"]["alert_id"] for a in groups[0]["alerts"]} == {
        a.alert_id for a in burst
    }
    assert {a["annotations"]["group_count"] for a in groups[0]["alerts"]} == {"5"}


def test_redelivery_three_times_gives_one_stored_row_and_one_alertmanager_alert_each(
    alertmanager: ServerHandle,
    postgres_url: str,
    http_client: httpx.Client,
    sink_metrics: SinkMetrics,
    clock: SettableClock,
) -> None:
    rule = unique_rule()
    alerts = [make_alert(rule_id=rule, branch_id=f"BR{i:03}") for i in range(4)]
    routes = parse_routes({"routes": [{"name": "all", "sinks": ["store", "alertmanager"]}]})
    with fresh_postgres_database(postgres_url) as url, AlertStore.open(url, clock=clock) as store:
        sinks = {
            "store": StoreSink(store, metrics=sink_metrics),
            "alertmanager": AlertmanagerSink(
                alertmanager.url, client=http_client, metrics=sink_metrics
            ),
        }
        for _ in range(3):  # three deliveries, as after two consumer restarts
            pipeline = AlertPipeline(routes, sinks, registry=CollectorRegistry(), clock=clock)
            for alert in alerts:
                pipeline.add(alert)
            assert pipeline.flush().ok

        stored = store.list_alerts()
        listed = wait_until(lambda: am_alerts(alertmanager.url, alertname=rule))

    assert sorted(s.alert.alert_id for s in stored) == sorted(a.alert_id for a in alerts)
    assert {s.delivery_count for s in stored} == {3}
    assert sorted(a["annotations"]["alert_id"] for a in listed) == sorted(
        a.alert_id for a in alerts
    )


def test_an_alertmanager_outage_loses_nothing(
    alertmanager: ServerHandle,
    http_client: httpx.Client,
    sink_metrics: SinkMetrics,
    registry: CollectorRegistry,
    sleeps: SleepRecorder,
    tmp_path: Path,
) -> None:
    """Down for the whole run: every alert is in the dead-letter file, then replayed after."""
    rule = unique_rule()
    alerts = [make_alert(rule_id=rule, branch_id=f"BR{i:03}") for i in range(6)]
    dead = tmp_path / "am-dead.jsonl"
    down = AlertmanagerSink(
        f"http://127.0.0.1:{free_port()}", client=http_client, metrics=sink_metrics,
        retry=RetryPolicy(attempts=3), sleep=sleeps, dead_letter=dead,
    )  # fmt: skip
    routes = parse_routes({"group_window_seconds": 0, "routes": [{"name": "am", "sinks": ["am"]}]})
    pipeline = AlertPipeline(routes, {"am": down}, registry=CollectorRegistry())
    for batch in (alerts[:3], alerts[3:]):
        for alert in batch:
            pipeline.add(alert)
        assert pipeline.flush().ok  # dead-lettered counts as taken: offsets may be committed

    dead_ids = [
        a["alert_id"]
        for line in dead.read_text().splitlines()
        for a in json.loads(line)["notification"]["alerts"]
    ]
    assert sorted(dead_ids) == sorted(a.alert_id for a in alerts)
    assert (
        registry.get_sample_value("riskmon_sink_dead_lettered_total", {"sink": "alertmanager"}) == 6
    )

    recovered = AlertmanagerSink(
        alertmanager.url, client=http_client, metrics=sink_metrics, dead_letter=dead
    )
    assert replay_dead_letters(dead, recovered) == 6
    assert wait_until(lambda: len(am_alerts(alertmanager.url, alertname=rule)) == 6)
    assert not dead.exists()
