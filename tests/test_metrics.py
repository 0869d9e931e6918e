"""The metric catalogue (monitor/metrics.py), replay's use of it, and pushing to a Pushgateway."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from monitor.engine import Engine
from monitor.events import encode_event
from monitor.metrics import RiskmonMetrics
from monitor.simulator import SimConfig, simulate
from riskmon.cli import app
from streams.exposition import push_metrics, serve_metrics
from streams.replay import SourceLine, replay
from tests.shipped import shipped_rules

FORBIDDEN_LABELS = {"account", "account_id", "operator", "operator_id", "txn_id", "alert_id"}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_names_units_and_labels_follow_the_style() -> None:
    registry = CollectorRegistry()
    RiskmonMetrics(registry, stages=("engine",))
    families = [f for f in registry.collect() if f.name.startswith("riskmon_")]
    assert len(families) >= 18
    for family in families:
        if family.type == "counter":
            assert not family.name.endswith("_total")  # the exposition adds it
        for s in family.samples:
            assert not (set(s.labels) & FORBIDDEN_LABELS), s
    names = {f.name for f in families}
    for sink in ("sent", "failed", "retried", "dead_lettered"):
        assert f"riskmon_sink_{sink}" in names
    text = generate_latest(registry).decode()
    assert 'riskmon_sink_failed_total{sink="kafka"} 0.0' in text
    assert "process_cpu_seconds_total" in text  # process collector on the passed registry


def test_two_catalogues_never_share_a_registry() -> None:
    one, two = RiskmonMetrics(CollectorRegistry()), RiskmonMetrics(CollectorRegistry())
    one.dead_letter("schema")
    assert sample(two.registry, "riskmon_dead_letters_total", reason="schema") == 0
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        RiskmonMetrics(one.registry)


def test_branch_label_is_capped() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False, max_branches=2)
    assert [metrics.branch(b) for b in ("B1", "B2", "B3", "B1", None)] == [
        "B1",
        "B2",
        "other",
        "B1",
        "none",
    ]


def test_model_scores_thresholds_and_rule_pack() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False)
    metrics.observe_score("hst", 0.93)
    metrics.set_threshold("hst", 0.9)
    metrics.set_rule_pack("base@1.0", "abc123", [("dual_review", "dual_review")])
    r = metrics.registry
    assert sample(r, "riskmon_model_score_bucket", scorer="hst", le="0.95") == 1
    assert sample(r, "riskmon_model_score_bucket", scorer="hst", le="0.9") == 0
    assert sample(r, "riskmon_model_threshold", scorer="hst") == 0.9
    assert sample(r, "riskmon_rule_pack_info", version="base@1.0", hash="abc123") == 1
    assert r.get_sample_value(
        "riskmon_rule_hits_total", {"rule_id": "dual_review", "category": "dual_review"}
    ) == pytest.approx(0)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim = simulate(SimConfig(seed=3, days=1, branches=3))
    path = tmp_path_factory.mktemp("day") / "events.jsonl"
    lines = [encode_event(e) for e in sim.events] + ["not json", '{"kind": "transaction"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_replay_counts_match_its_stats(day: Path) -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False, stages=("engine",))
    lines = [SourceLine("f", n, t) for n, t in enumerate(day.read_text().splitlines(), start=1)]
    engine = Engine(shipped_rules())
    stats = replay(lines, engine, lambda a: None, lambda d: None, metrics=metrics)
    r = metrics.registry
    consumed = sum(
        sample(r, "riskmon_events_consumed_total", kind=k)
        for k in ("transaction", "operator_action", "undecodable")
    )
    assert consumed == stats.events + stats.dead_letters
    assert sample(r, "riskmon_events_consumed_total", kind="undecodable") == 2
    assert sample(r, "riskmon_dead_letters_total", reason="invalid_json") == 1
    assert sample(r, "riskmon_dead_letters_total", reason="schema") == 1
    assert sample(r, "riskmon_source_dead_letters_total", source="f") == 2
    assert sample(r, "riskmon_event_processing_seconds_count", stage="engine") == stats.events
    alerts = sum(s.value for f in r.collect() if f.name == "riskmon_alerts" for s in f.samples
                 if s.name == "riskmon_alerts_total")  # fmt: skip
    assert alerts == stats.alerts > 0
    for stage in ("transaction", "account", "operator"):
        entries = sample(r, "riskmon_state_entries", stage=stage)
        assert entries == len(engine.state[stage])


class _Capture(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append(("PUT", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    """A stand-in Pushgateway on 127.0.0.1 that records what it is sent."""
    _Capture.requests = []
    server = HTTPServer(("127.0.0.1", 0), _Capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_push_uses_a_per_instance_grouping_key(gateway: str) -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False)
    metrics.dead_letter("schema")
    assert push_metrics(gateway, metrics.registry, instance="ci-7") == "ci-7"
    method, path, body = _Capture.requests[-1]
    assert (method, path) == ("PUT", "/metrics/job/riskmon/instance/ci-7")
    assert b'riskmon_dead_letters_total{reason="schema"} 1.0' in body


def test_replay_command_pushes_at_the_end(gateway: str, day: Path, tmp_path: Path) -> None:
    out = tmp_path / "alerts.jsonl"
    result = CliRunner().invoke(
        app,
        ["replay", str(day), "--alerts-out", str(out), "--dead-letter", str(tmp_path / "d"),
         "--pushgateway", gateway, "--instance", "replay-1"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    _, path, body = _Capture.requests[-1]
    assert path == "/metrics/job/riskmon/instance/replay-1"
    sent = len(out.read_text().splitlines())
    assert f'riskmon_sink_sent_total{{sink="jsonl"}} {float(sent)}'.encode() in body


def test_serve_metrics_binds_and_closes() -> None:
    import urllib.request

    registry = CollectorRegistry()
    RiskmonMetrics(registry, process=False)
    with serve_metrics(0, registry) as server, urllib.request.urlopen(server.url, timeout=5) as r:
        assert b"riskmon_events_consumed_total" in r.read()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=2)


def test_alert_sinks_share_the_catalogue_counters_on_one_registry() -> None:
    from alerts.metrics import SinkMetrics

    registry = CollectorRegistry()
    catalogue = RiskmonMetrics(registry, process=False)
    sinks = SinkMetrics.from_catalogue(catalogue)  # no "Duplicated timeseries"
    sinks.sent.labels("webhook").inc(2)
    assert registry.get_sample_value("riskmon_sink_sent_total", {"sink": "webhook"}) == 2.0
    # Alone on a registry, alerts/ defines exactly the catalogue's counters.
    other = CollectorRegistry()
    SinkMetrics(other).dead_lettered.labels("store").inc()
    assert other.get_sample_value("riskmon_sink_dead_lettered_total", {"sink": "store"}) == 1.0
