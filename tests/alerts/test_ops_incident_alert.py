"""An operations incident is one alert: its resolution updates the stored alert and resolves the
Alertmanager alert (same labels, ``endsAt``), against the real PostgreSQL and Alertmanager."""

from __future__ import annotations

import time
from datetime import date

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.sinks import AlertmanagerSink, StoreSink
from alerts.sinks.alertmanager import to_alertmanager
from alerts.store import AlertStore
from monitor.alerts import Alert, is_resolution
from monitor.engine import Engine
from monitor.events import OperatorAction, Transaction
from monitor.rules.loader import load_rules
from tests.alerts.alertkit import SettableClock, am_alerts, fresh_postgres_database, wait_until
from tests.ops.opsdata import local, traffic
from tools.services import ServerHandle

# A branch name no other test uses, so Alertmanager's listing holds only this test's alerts.
BRANCH = f"OPS{int(time.time() * 1000) % 10**9}"


@pytest.fixture(scope="module")
def incident() -> tuple[Alert, Alert]:
    silent = {BRANCH: [(local("2026-09-16", 10, 0), local("2026-09-16", 12, 0))]}
    engine = Engine(load_rules())
    found: list[Alert] = []
    for raw in traffic((BRANCH, "B2"), date(2026, 9, 7), 10, silent, seed=5):
        kind = Transaction if raw["kind"] == "transaction" else OperatorAction
        found.extend(engine.process(kind.model_validate(raw)))
    found.extend(engine.flush())
    ops = [a for a in found if a.category == "operations"]
    assert [(a.entity_id, a.reason, is_resolution(a)) for a in ops] == [
        (BRANCH, "volume_drop", False),
        (BRANCH, "volume_drop", True),
    ]
    return ops[0], ops[1]


def test_the_resolution_is_the_same_alert(incident: tuple[Alert, Alert]) -> None:
    firing, resolved = incident
    assert firing.alert_id == resolved.alert_id
    assert (firing.severity, firing.rule_id) == (resolved.severity, resolved.rule_id)
    posted = to_alertmanager(firing), to_alertmanager(resolved)
    assert posted[0]["labels"] == posted[1]["labels"]
    assert posted[0]["labels"]["reason"] == "volume_drop"
    assert "endsAt" not in posted[0]
    assert posted[1]["endsAt"] == resolved.occurred_at.isoformat()
    assert posted[1]["startsAt"] < posted[1]["endsAt"]


@pytest.mark.services
def test_store_and_alertmanager_resolve_the_firing_alert(
    incident: tuple[Alert, Alert],
    alertmanager: ServerHandle,
    postgres_url: str,
    http_client: httpx.Client,
    sink_metrics: SinkMetrics,
    clock: SettableClock,
) -> None:
    firing, resolved = incident
    routes = parse_routes({"routes": [{"name": "all", "sinks": ["store", "alertmanager"]}]})
    with fresh_postgres_database(postgres_url) as url, AlertStore.open(url, clock=clock) as store:
        sinks = {
            "store": StoreSink(store, metrics=sink_metrics),
            "alertmanager": AlertmanagerSink(
                alertmanager.url, client=http_client, metrics=sink_metrics
            ),
        }
        pipeline = AlertPipeline(routes, sinks, registry=CollectorRegistry(), clock=clock)
        pipeline.add(firing)
        assert pipeline.flush().ok
        listed = wait_until(lambda: am_alerts(alertmanager.url, branch=BRANCH))
        assert [a["annotations"]["alert_id"] for a in listed] == [firing.alert_id]
        assert listed[0]["status"]["state"] == "active"
        assert [s.status for s in store.list_alerts()] == ["open"]

        pipeline.add(firing)  # redelivered before its resolution, as after a consumer restart
        pipeline.add(resolved)
        assert pipeline.flush().ok
        stored = store.list_alerts()
        history = store.history(firing.alert_id)
        assert wait_until(
            lambda: not am_alerts(alertmanager.url, branch=BRANCH)
        )  # resolved: no longer listed

    assert [(s.alert.alert_id, s.status) for s in stored] == [(firing.alert_id, "resolved")]
    assert stored[0].delivery_count == 3
    assert stored[0].alert.explanation["incident_status"] == "resolved"
    assert [(h.action, h.from_status, h.to_status) for h in history] == [
        ("stored", None, "open"),
        ("auto_resolved", "open", "resolved"),
    ]
    assert history[1].comment.startswith("RESOLVED")
