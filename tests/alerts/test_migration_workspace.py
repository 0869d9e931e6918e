"""Migration 0003_workspace: a store made before users and the register keeps its alerts."""

from __future__ import annotations

import sqlalchemy as sa

from alerts.store import AlertStore, engine_url
from alerts.store.migrate import HEAD, current_revision, upgrade
from tests.alerts.alertkit import make_alert, who


def test_an_older_store_upgrades_and_its_alerts_can_be_worked(empty_store_url: str) -> None:
    engine = sa.create_engine(engine_url(empty_store_url))
    alert = make_alert(severity="low")
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("alerts")}
        assert "assignee" not in columns
        # an alert stored by the older schema, through its own columns only
        payload = alert.to_json()
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO alerts (alert_id, category, rule_id, severity, entity_type,"
                    " entity_id, branch_id, occurred_at, title, language, pack_version, payload,"
                    " status, status_changed_at, first_seen_at, last_seen_at, delivery_count)"
                    " VALUES (:id, 'large_transfer', 'r', 'low', 'account', :entity, 'BR001',"
                    " :at, 't', 'en', '1.2.0', :payload, 'open', :at, :at, :at, 1)"
                ),
                {
                    "id": alert.alert_id,
                    "entity": alert.entity_id,
                    "at": alert.occurred_at.replace(tzinfo=None),
                    "payload": payload,
                },
            )
        upgrade(engine)
        assert current_revision(engine) == HEAD
        store = AlertStore(engine)
        officer = who(store, "li.wei")
        assert store.get(alert.alert_id).assignee is None
        store.assign(alert.alert_id, "li.wei", by=officer)
        store.acknowledge(alert.alert_id, by=officer)
        assert store.resolve(alert.alert_id, "duplicate", by=officer).status == "duplicate"
        assert store.evidence(alert.alert_id) == []
        assert store.register.list_events() == []
        assert store.verify_history() is None
    finally:
        engine.dispose()
