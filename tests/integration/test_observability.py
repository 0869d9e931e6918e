"""A real Prometheus scrapes a real `riskmon replay --metrics-port` fed a simulated stream.

The stream arrives on stdin in one-second chunks, a sixth of its lines undecodable, then stops.
Prometheus evaluates a copy of the SRE rules with short windows (tests/integration/prom_harness.py):
the dead-letter alert must fire while the stream flows and the no-events alert once it stops.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.events import encode_event
from monitor.simulator import SimConfig, simulate
from tests.fixtures_services import PrometheusFactory
from tests.integration.prom_harness import (
    REPO,
    dashboard_exprs,
    fast_rules,
    firing,
    metric_names,
    query,
    rule_exprs,
    value,
    wait_for,
)
from tools import services

pytestmark = [pytest.mark.services, pytest.mark.slow]

# The one metric no replay can produce: Kafka consumer lag (test_worker_metrics.py covers it).
# Model scores and thresholds come from the replay's anomaly models (--models).
# Rule-pack hot reloads happen only in the worker (test_hot_reload.py covers them).
NOT_FROM_REPLAY = {"riskmon_consumer_lag_messages", "riskmon_rule_reloads_total"}
BAD_LINES = ("{not json", '{"kind": "transaction", "event_id": "x"}')
CHUNKS = 20


@dataclass
class Run:
    prometheus: str
    metrics_url: str
    lines: list[str]
    events: int
    bad: int
    alerts_out: Path
    dead_out: Path
    no_events_while_flowing: list[dict[str, object]]
    log: Path


def stream_lines() -> tuple[list[str], int, int]:
    sim = simulate(SimConfig(seed=3, days=1, branches=3))
    lines: list[str] = []
    bad = 0
    for index, event in enumerate(sim.events):
        lines.append(encode_event(event))
        if index % 5 == 4:
            lines.append(BAD_LINES[bad % 2])
            bad += 1
    return lines, len(sim.events), bad


def _scrapable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def run(
    prometheus_factory: PrometheusFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    tmp = tmp_path_factory.mktemp("observability")
    lines, events, bad = stream_lines()
    port = services.free_port()
    alerts_out, dead_out, log = tmp / "alerts.jsonl", tmp / "dead.jsonl", tmp / "replay.log"
    argv = [
        sys.executable, "-m", "riskmon.cli", "replay", "-", "--alerts-out", str(alerts_out),
        "--dead-letter", str(dead_out), "--metrics-port", str(port), "--metrics-linger", "600",
        "--models",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=REPO, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT
        )
    assert process.stdin is not None
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        wait_for("the replay's /metrics", lambda: _scrapable(url), 60)
        prom = prometheus_factory([f"127.0.0.1:{port}"], [fast_rules(tmp / "rules.yml")]).url
        wait_for("the first scrape", lambda: query(prom, 'up{job="riskmon"} == 1'), 60)
        size = len(lines) // CHUNKS + 1
        while_flowing: list[dict[str, object]] = []
        for n in range(CHUNKS):
            chunk = lines[n * size : (n + 1) * size]
            process.stdin.write("".join(line + "\n" for line in chunk).encode())
            process.stdin.flush()
            if n == CHUNKS - 3:
                while_flowing = firing(prom, "RiskmonNoEventsInBusinessHours")
            time.sleep(1)
        process.stdin.close()
        wait_for("the replay summary", lambda: b"Replay summary" in log.read_bytes(), 60)
        yield Run(prom, url, lines, events, bad, alerts_out, dead_out, while_flowing, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_prometheus_counts_match_the_replay(run: Run) -> None:
    total = run.events + run.bad
    consumed = 'sum(riskmon_events_consumed_total{job="riskmon"})'
    wait_for("every record scraped", lambda: value(run.prometheus, consumed) == total, 30)
    alerts = [json.loads(line) for line in run.alerts_out.read_text().splitlines()]
    dead = run.dead_out.read_text().splitlines()
    assert len(dead) == run.bad and alerts
    p = run.prometheus
    assert value(p, 'sum(riskmon_events_processed_total{outcome="ok"})') == run.events
    assert value(p, 'riskmon_events_consumed_total{kind="undecodable"}') == run.bad
    assert value(p, "sum(riskmon_dead_letters_total)") == run.bad
    assert value(p, 'riskmon_dead_letters_total{reason="invalid_json"}') == (run.bad + 1) // 2
    assert value(p, "sum(riskmon_alerts_total)") == len(alerts)
    assert value(p, "sum(riskmon_rule_hits_total)") == len(alerts)
    assert value(p, 'riskmon_sink_sent_total{sink="jsonl"}') == len(alerts)
    by_category = {
        r["metric"]["category"]: float(r["value"][1])
        for r in query(p, "sum by (category) (riskmon_alerts_total)")
    }
    assert by_category == {k: float(v) for k, v in Counter(a["category"] for a in alerts).items()}
    count = value(p, 'riskmon_event_processing_seconds_count{stage="engine"}')
    assert count == run.events


def test_dead_letter_alert_fires_while_the_stream_flows(run: Run) -> None:
    expr = 'max_over_time(ALERTS{alertname="RiskmonDeadLetterRateHigh", alertstate="firing"}[10m])'
    assert query(run.prometheus, expr), "RiskmonDeadLetterRateHigh never fired"


def test_no_events_alert_fires_once_the_stream_stops(run: Run) -> None:
    assert run.no_events_while_flowing == []
    alerts = wait_for(
        "RiskmonNoEventsInBusinessHours to fire",
        lambda: firing(run.prometheus, "RiskmonNoEventsInBusinessHours"),
        60,
    )
    assert alerts[0]["labels"]["job"] == "riskmon"


def test_every_dashboard_expression_parses_and_returns_series(run: Run) -> None:
    empty = []
    for where, expr in dashboard_exprs():
        if not query(run.prometheus, expr) and not metric_names(expr) & NOT_FROM_REPLAY:
            empty.append(f"{where}: {expr}")
    assert not empty, "\n".join(empty)
    instances = run_labels(run, "instance")
    assert instances, "the dashboards' $instance variable would be empty"


def run_labels(run: Run, label: str) -> list[str]:
    from tests.integration.prom_harness import api

    values: list[str] = api(
        run.prometheus, f"label/{label}/values", **{"match[]": "riskmon_events_consumed_total"}
    )
    return values


def test_every_rule_expression_parses_and_its_selectors_return_series(run: Run) -> None:
    empty = []
    for name, expr in rule_exprs():
        query(run.prometheus, expr)  # raises if Prometheus cannot parse it
        for metric in sorted(metric_names(expr) - NOT_FROM_REPLAY):
            if not query(run.prometheus, metric):
                empty.append(f"{name}: {metric}")
    assert not empty, "\n".join(empty)


def test_promtool_finds_no_problem_in_a_real_scrape(run: Run, promtool: str) -> None:
    with urllib.request.urlopen(run.metrics_url, timeout=10) as response:
        text = response.read()
    assert b"riskmon_rule_pack_info" in text
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, check=False, timeout=60
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
