"""A real Prometheus scrapes a real `riskmon dispatch`, and the shipped dead-letter rule fires.

The dispatcher reads alerts from the real broker and routes them to a webhook nobody answers, so
the webhook sink dead-letters them. Prometheus evaluates a copy of the SRE rules with short
windows (prom_harness.fast_rules): `RiskmonSinkDeadLettering` must fire for sink `webhook`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaProducer

from monitor.alerts import Alert, make_alert_id
from tests.fixtures_kafka import broker_tool, unique_topic_name
from tests.fixtures_services import PrometheusFactory
from tests.integration.prom_harness import REPO, fast_rules, firing, query, wait_for
from tools import services

pytestmark = [pytest.mark.kafka, pytest.mark.services, pytest.mark.slow]


def alerts(count: int) -> list[Alert]:
    return [
        Alert.model_validate(
            {
                "alert_id": make_alert_id("large_cash_single", [f"E{n}"]),
                "category": "large_transfer",
                "rule_id": "large_cash_single",
                "title": "Large cash withdrawal",
                "severity": "medium",
                "entity_type": "transaction",
                "entity_id": f"T{n}",
                "branch_id": "BR001",
                "event_ids": [f"E{n}"],
                "occurred_at": f"2026-03-03T10:{n:02d}:00+08:00",
                "message": f"Large cash withdrawal #{n}",
                "language": "en",
                "pack_version": "riskmon-base@1",
                "pack_hash": "sha256:test",
            }
        )
        for n in range(count)
    ]


def test_prometheus_scrapes_the_dispatcher_and_dead_lettering_fires(
    kafka_bootstrap: str, prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    topic = unique_topic_name("alerts")
    broker_tool.create_topics(kafka_bootstrap, {topic: 1})
    port, nobody = services.free_port(), services.free_port()
    env = os.environ | {
        "RISKMON_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RISKMON_TOPIC_ALERTS": topic,
        "RISKMON_DISPATCH_GROUP": unique_topic_name("dispatch"),
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{tmp_path / 'alerts.db'}",
        "RISKMON_WEBHOOK_URL": f"http://127.0.0.1:{nobody}/hook",  # nothing listens here
        "RISKMON_DISPATCH_DEAD_LETTER_DIR": str(tmp_path / "dead"),
        "RISKMON_METRICS_PORT": str(port),
    }
    log = tmp_path / "dispatch.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "dispatch"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        prom = prometheus_factory([f"127.0.0.1:{port}"], [fast_rules(tmp_path / "rules.yml")]).url
        wait_for(
            "a scrape of the dispatcher's zero dead-letter count",
            lambda: query(prom, 'riskmon_sink_dead_lettered_total{sink="webhook"} == 0'),
            60,
        )
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        for alert in alerts(5):
            producer.send(topic, key=alert.alert_id.encode(), value=alert.to_json().encode())
        producer.flush()
        producer.close()

        fired = wait_for(
            "RiskmonSinkDeadLettering", lambda: firing(prom, "RiskmonSinkDeadLettering"), 90
        )
        assert {(a["labels"]["job"], a["labels"]["sink"]) for a in fired} == {
            ("riskmon", "webhook")
        }
        # The store took every alert; only the webhook gave up.
        stored = query(prom, 'riskmon_sink_sent_total{sink="store"}')
        assert float(stored[0]["value"][1]) >= 1
        assert query(prom, 'riskmon_alert_store_alerts{rule_id="large_cash_single"}')
        dead = (tmp_path / "dead" / "webhook.jsonl").read_text(encoding="utf-8").splitlines()
        assert dead
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0, log.read_text(encoding="utf-8")
