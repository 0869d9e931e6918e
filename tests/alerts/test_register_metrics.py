"""The register's overdue actions, scraped by a real Prometheus."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from prometheus_client import start_http_server

from alerts.register import workspace_registry
from alerts.store import AlertStore
from tests.alerts.alertkit import make_alert, who
from tests.alerts.receiver import free_port
from tests.integration.prom_harness import value, wait_for


@pytest.mark.services
def test_prometheus_scrapes_the_overdue_action_count(
    tmp_path: Path, prometheus_factory: object
) -> None:
    now = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    with AlertStore.open(f"sqlite:///{tmp_path / 'alerts.db'}", clock=lambda: now) as store:
        officer = who(store, "li.wei")
        alert = make_alert(severity="low")
        store.upsert(alert)
        store.acknowledge(alert.alert_id, by=officer)
        store.resolve(alert.alert_id, by=officer)
        event = store.register.open_event([alert.alert_id], owner="li.wei", title="t", by=officer)
        for due in (date(2026, 3, 1), date(2026, 3, 9), date(2026, 3, 30)):
            store.register.add_action(
                event.event_id, description=f"due {due}", owner="li.wei", due=due, by=officer
            )
        port = free_port()
        server, thread = start_http_server(
            port, addr="127.0.0.1", registry=workspace_registry(store, clock=lambda: now)
        )
        try:
            prom = prometheus_factory([f"127.0.0.1:{port}"]).url  # type: ignore[operator]
            overdue = wait_for(
                "the overdue count in Prometheus",
                lambda: _maybe(prom, "riskmon_risk_event_actions_overdue"),
                timeout=30,
            )
            stored = value(prom, 'riskmon_alert_store_alerts{status="resolved"}')
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
    assert (overdue, stored) == (2.0, 1.0)


def _maybe(prom: str, expr: str) -> float | None:
    try:
        return value(prom, expr)
    except AssertionError:
        return None
