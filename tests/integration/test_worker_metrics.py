"""A real Prometheus scrapes a real `riskmon worker` (RISKMON_METRICS_PORT) on the real broker.

Covers what replay cannot: Kafka consumer lag, the Kafka alert sink, detection latency, and the
worker's per-stage gauges; and checks every dashboard expression against a live worker.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from monitor.events import encode_event
from monitor.simulator import SimConfig, simulate
from tests.fixtures_kafka import broker_tool
from tests.fixtures_services import PrometheusFactory
from tests.integration.prom_harness import dashboard_exprs, fast_rules, query, value, wait_for
from tests.integration.stream_harness import Pipeline, WorkerProcess
from tools import services

pytestmark = [pytest.mark.kafka, pytest.mark.services, pytest.mark.slow]


def test_worker_metrics_in_prometheus(
    kafka_bootstrap: str,
    prometheus_factory: PrometheusFactory,
    promtool: str,
    tmp_path: Path,
) -> None:
    sim = simulate(SimConfig(seed=3, days=1, branches=3))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(encode_event(e) + "\n" for e in sim.events), encoding="utf-8")
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    pipe.create_topics(broker_tool)
    port = services.free_port()
    worker = WorkerProcess(
        pipe, "metrics", RISKMON_METRICS_PORT=str(port), RISKMON_MODELS_ENABLED="true"
    ).start()
    try:
        prom = prometheus_factory([f"127.0.0.1:{port}"], [fast_rules(tmp_path / "rules.yml")]).url
        wait_for("the worker's first scrape", lambda: _up(prom, worker), 90)
        sent = pipe.produce_file(events)
        pipe.produce_raw(pipe.topics["transactions"], [b"{broken", b"\xff\xfe"])
        total = sent + 2
        consumed = 'sum(riskmon_events_consumed_total{job="riskmon"})'
        wait_for("every message consumed", lambda: _value(prom, consumed) == total, 180)
        alerts = pipe.collect(pipe.topics["alerts"], lambda m: False, 8, worker.check_alive)
        assert alerts
        wait_for(
            "the alert counters to settle",
            lambda: _value(prom, 'riskmon_sink_sent_total{sink="kafka"}') == len(alerts),
            30,
        )
        assert value(prom, "sum(riskmon_alerts_total)") == len(alerts)
        assert value(prom, "riskmon_detection_latency_seconds_count") == len(alerts)
        assert value(prom, "sum(riskmon_dead_letters_total)") == 2
        assert value(prom, 'riskmon_dead_letters_total{reason="encoding"}') == 1
        categories = {json.loads(m.value)["category"] for m in alerts}
        got = {r["metric"]["category"] for r in query(prom, "riskmon_alerts_total > 0")}
        assert got == categories
        lag = "sum(riskmon_consumer_lag_messages)"
        wait_for("consumer lag to reach 0", lambda: query(prom, f"{lag} == 0"), 30)
        partitions = query(prom, "riskmon_consumer_lag_messages")
        assert len(partitions) == 2 * pipe.partitions  # two input topics, one worker owns all
        for stage in ("transaction", "account", "operator"):
            assert query(prom, f'riskmon_watermark_lag_seconds{{stage="{stage}"}}'), stage
            assert query(prom, f'riskmon_state_entries{{stage="{stage}"}}'), stage
            assert query(prom, f'riskmon_batch_processing_seconds_count{{stage="{stage}"}} > 0')
        empty = [f"{where}: {expr}" for where, expr in dashboard_exprs() if not query(prom, expr)]
        assert not empty, "\n".join(empty)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read()
        done = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, check=False
        )
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    finally:
        worker.stop()
    assert worker.process is not None and worker.process.returncode in (0, -15), worker.tail()


def _up(prom: str, worker: WorkerProcess) -> bool:
    worker.check_alive()
    return bool(query(prom, 'up{job="riskmon"} == 1'))


def _value(prom: str, expr: str) -> float:
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else -1.0
