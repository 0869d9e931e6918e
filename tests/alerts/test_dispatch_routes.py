"""Every sink the README offers, named by a route, built by ``open_pipeline`` and delivering.

One test per sink, each against the real thing it writes to: a file, the store, a webhook
receiver, the real Alertmanager, the real Kafka broker. Then the silence record: an alert that a
silence keeps from people is stored with the silence's id and a history entry saying so.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry

from alerts.errors import RouteConfigError
from alerts.pipeline import AlertPipeline
from alerts.silences import SilenceMatchers
from alerts.store import AlertStore
from monitor.alerts import Alert
from streams.dispatch import SINKS, DispatchConfig, open_pipeline
from tests.alerts.alertkit import make_alert, who
from tests.alerts.receiver import webhook_receiver
from tests.fixtures_kafka import broker_tool, unique_topic_name
from tools.services import ServerHandle


def routes_file(tmp_path: Path, *sinks: str, store_ignores_silences: bool = False) -> Path:
    routes = [{"name": "people", "sinks": list(sinks), "group": False}]
    if store_ignores_silences:
        routes.insert(0, {"name": "store-everything", "sinks": ["store"], "ignore_silences": True})
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump({"routes": routes}), encoding="utf-8")
    return path


def config(tmp_path: Path, routes: Path, **fields: object) -> DispatchConfig:
    values: dict[str, object] = {
        "store_url": f"sqlite:///{tmp_path / 'alerts.db'}",
        "routes_file": routes,
        "dead_letter_dir": tmp_path / "dead",
    }
    return DispatchConfig(**(values | fields))  # type: ignore[arg-type]


@contextmanager
def delivered(cfg: DispatchConfig, *alerts: Alert) -> Iterator[tuple[AlertPipeline, AlertStore]]:
    with open_pipeline(cfg, CollectorRegistry()) as (pipeline, store):
        for alert in alerts:
            pipeline.add(alert)
        report = pipeline.flush()
        assert report.ok, report.failed
        yield pipeline, store


def test_the_readme_names_every_sink_a_route_may_use() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    offered = " ".join(readme.split("picks sinks (", 1)[1].split(")", 1)[0].split())
    assert offered == "store, Alertmanager v2 API, webhook with HMAC-SHA256 signature, Kafka, JSONL"
    assert SINKS == ("store", "alertmanager", "webhook", "kafka", "jsonl")


def test_store_sink_from_a_route(tmp_path: Path) -> None:
    alert = make_alert()
    with delivered(config(tmp_path, routes_file(tmp_path, "store")), alert) as (pipeline, store):
        assert sorted(pipeline.sinks) == ["store"]
        assert store.get(alert.alert_id).alert.alert_id == alert.alert_id


def test_jsonl_sink_from_a_route(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    alerts = [make_alert(), make_alert()]
    cfg = config(tmp_path, routes_file(tmp_path, "jsonl"), jsonl_file=out)
    with delivered(cfg, *alerts) as (pipeline, _store):
        assert sorted(pipeline.sinks) == ["jsonl"]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert sorted(Alert.from_json(line).alert_id for line in lines) == sorted(
        a.alert_id for a in alerts
    )


def test_webhook_sink_from_a_route(tmp_path: Path) -> None:
    alert = make_alert()
    with webhook_receiver(b"s3cret") as receiver:
        cfg = config(
            tmp_path,
            routes_file(tmp_path, "webhook"),
            webhook_url=receiver.url,
            webhook_secret="s3cret",
        )
        with delivered(cfg, alert):
            pass
        assert receiver.accepted_alert_ids() == [alert.alert_id]
        assert receiver.bad_signatures == 0


@pytest.mark.services
def test_alertmanager_sink_from_a_route(tmp_path: Path, alertmanager: ServerHandle) -> None:
    rule = unique_topic_name("rule")
    alert = make_alert(rule_id=rule)
    cfg = config(tmp_path, routes_file(tmp_path, "alertmanager"), alertmanager_url=alertmanager.url)
    with delivered(cfg, alert):
        pass
    query = urllib.parse.urlencode([("filter", f'alertname="{rule}"')])
    deadline = time.monotonic() + 20
    while True:
        with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts?{query}", timeout=10) as r:
            shown = json.load(r)
        if shown or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [a["annotations"]["alert_id"] for a in shown] == [alert.alert_id]


@pytest.mark.kafka
def test_kafka_sink_from_a_route(tmp_path: Path, kafka_bootstrap: str) -> None:
    topic = unique_topic_name("notifications")
    broker_tool.create_topics(kafka_bootstrap, {topic: 1})
    alerts = [make_alert(), make_alert()]
    cfg = config(
        tmp_path, routes_file(tmp_path, "kafka"), kafka_bootstrap=kafka_bootstrap, kafka_topic=topic
    )
    with delivered(cfg, *alerts):
        pass
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    try:
        records = [record for _, record in zip(range(len(alerts)), consumer, strict=False)]
    finally:
        consumer.close()
    assert sorted(r.key.decode() for r in records) == sorted(a.alert_id for a in alerts)
    assert sorted(Alert.from_json(r.value).alert_id for r in records) == sorted(
        a.alert_id for a in alerts
    )


@pytest.mark.parametrize(
    ("sink", "fields", "problem"),
    [
        ("webhook", {}, "RISKMON_WEBHOOK_URL is not set"),
        ("alertmanager", {}, "RISKMON_ALERTMANAGER_URL is not set"),
        ("jsonl", {}, "RISKMON_DISPATCH_JSONL_FILE is not set"),
        ("kafka", {"kafka_bootstrap": "127.0.0.1:1"}, "RISKMON_DISPATCH_KAFKA_TOPIC is not set"),
        (
            "kafka",
            {"kafka_bootstrap": "127.0.0.1:1", "kafka_topic": "risk.alerts"},
            "alerts would loop",
        ),
        ("pager", {}, "unknown sink 'pager'"),
    ],
)
def test_a_route_naming_a_sink_without_its_settings_is_refused(
    tmp_path: Path, sink: str, fields: dict[str, object], problem: str
) -> None:
    cfg = config(tmp_path, routes_file(tmp_path, sink), **fields)
    with (
        pytest.raises(RouteConfigError, match=problem),
        open_pipeline(cfg, CollectorRegistry()),
    ):
        pass


def test_a_silenced_alert_records_its_silence_on_the_alert_and_in_its_history(
    tmp_path: Path,
) -> None:
    out = tmp_path / "people.jsonl"
    cfg = config(
        tmp_path,
        routes_file(tmp_path, "jsonl", store_ignores_silences=True),
        jsonl_file=out,
    )
    drill, other = make_alert(branch_id="BR-DRILL"), make_alert(branch_id="BR001")
    with AlertStore.open(cfg.store_url, require_silence_approval=False) as store:
        silence = store.add_silence(
            SilenceMatchers(branch_id=("BR-DRILL",)),
            starts_at=datetime.now(UTC) - timedelta(hours=1),  # the pipeline's clock is UTC now
            ends_at=datetime.now(UTC) + timedelta(days=1),
            by=who(store, "zhang.min"),
            reason="cash-centre drill",
            ticket="CHG-4711",
        )
    # Twice: a redelivered alert is recorded once.
    for _ in range(2):
        with delivered(cfg, drill, other) as (_pipeline, store):
            muted = store.get(drill.alert_id)
            assert muted.silenced_by == silence.silence_id
            assert store.get(other.alert_id).silenced_by is None
            entries = [e for e in store.history(drill.alert_id) if e.action == "silenced"]
            assert [(e.silence_id, e.alert_id) for e in entries] == [
                (silence.silence_id, drill.alert_id)
            ]
            assert store.verify_history() is None
    people = [Alert.from_json(line).alert_id for line in out.read_text().splitlines()]
    assert people == [other.alert_id, other.alert_id]
