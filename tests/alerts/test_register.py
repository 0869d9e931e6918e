"""The risk-event register (四不放过): opened from confirmed alerts, closed only when the root
cause, the people dealt with, the staff education and every remediation action are done."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from prometheus_client import CollectorRegistry

from alerts.errors import IdentityError, PermissionDeniedError, RegisterError
from alerts.register import RegisterCollector, RiskRegister
from alerts.store import AlertStore
from alerts.store.tables import register_history
from tests.alerts.alertkit import make_alert, who


def _confirmed(store: AlertStore, count: int = 1) -> list[str]:
    officer = who(store, "li.wei")
    ids = []
    for _ in range(count):
        alert = make_alert()
        store.upsert(alert)
        store.acknowledge(alert.alert_id, by=officer)
        store.resolve(alert.alert_id, "confirmed", by=officer)
        ids.append(alert.alert_id)
    return ids


def test_a_risk_event_closes_only_when_all_four_follow_ups_are_done(store: AlertStore) -> None:
    officer, supervisor = who(store, "li.wei"), who(store, "zhang.min", "supervisor")
    register = RiskRegister(store)
    alert_ids = _confirmed(store, 2)

    event = register.open_event(
        alert_ids, owner="Zhang.Min", title="Teller split deposits", by=officer
    )
    assert (event.status, event.owner, set(event.alert_ids)) == (
        "open",
        "zhang.min",
        set(alert_ids),
    )
    assert event.missing() == [
        "root_cause",
        "people_dealt_with",
        "staff_education",
        "remediation_actions",
    ]

    steps = [
        lambda: register.set_root_cause(
            event.event_id, "control_failure", "no dual review", by=officer
        ),
        lambda: register.set_people_dealt_with(
            event.event_id, "teller warned in writing", by=supervisor
        ),
        lambda: register.set_staff_education(
            event.event_id, "branch training 2026-03-10", by=supervisor
        ),
        lambda: register.add_action(
            event.event_id,
            description="dual review on cash deposits",
            owner="li.wei",
            due=date(2026, 3, 31),
            proposal_id="RCP-7",
            by=supervisor,
        ),
    ]
    for step in steps:
        with pytest.raises(RegisterError, match="cannot close yet"):
            register.close(event.event_id, by=supervisor)
        step()
    action = register.get(event.event_id).actions[0]
    assert (action.owner, action.proposal_id, action.status) == ("li.wei", "RCP-7", "open")
    with pytest.raises(RegisterError, match=f"action {action.action_id} not done"):
        register.close(event.event_id, by=supervisor)

    register.set_action_status(event.event_id, action.action_id, "done", by=officer)
    closed = register.close(event.event_id, by=supervisor, comment="all four done")

    assert (closed.status, closed.closed_by) == ("closed", "zhang.min")
    assert closed.missing() == []
    with pytest.raises(RegisterError, match="is closed"):
        register.add_comment(event.event_id, "late note", by=officer)
    assert [e.action for e in register.history(event.event_id)] == [
        "opened",
        "root_cause",
        "people_dealt_with",
        "staff_education",
        "action_added",
        "action_status",
        "closed",
    ]
    assert {e.actor for e in register.history(event.event_id)} == {"li.wei", "zhang.min"}
    assert register.verify_history() is None


def test_only_confirmed_alerts_open_a_risk_event_with_a_known_owner(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    register = store.register
    open_alert = make_alert()
    store.upsert(open_alert)
    [confirmed] = _confirmed(store)

    with pytest.raises(RegisterError, match="only confirmed alerts"):
        register.open_event([open_alert.alert_id], owner="li.wei", title="t", by=officer)
    with pytest.raises(RegisterError, match="at least one"):
        register.open_event([], owner="li.wei", title="t", by=officer)
    with pytest.raises(IdentityError, match="no user"):
        register.open_event([confirmed], owner="nobody", title="t", by=officer)
    with pytest.raises(PermissionDeniedError):
        register.open_event([confirmed], owner="li.wei", title="t", by=who(store, "a", "auditor"))
    with pytest.raises(RegisterError, match="category"):
        event = register.open_event([confirmed], owner="li.wei", title="t", by=officer)
        register.set_root_cause(event.event_id, "bad luck", "it happened", by=officer)
    assert register.events_for_alert(confirmed) == [event.event_id]


def test_overdue_actions_are_listed_counted_and_exported(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    register = RiskRegister(store)
    event = register.open_event(_confirmed(store), owner="li.wei", title="late", by=officer)
    due_early = register.add_action(
        event.event_id, description="fix limits", owner="li.wei", due=date(2026, 3, 5), by=officer
    )
    register.add_action(
        event.event_id, description="retrain", owner="li.wei", due=date(2026, 3, 20), by=officer
    )
    done = register.add_action(
        event.event_id, description="memo", owner="li.wei", due=date(2026, 3, 1), by=officer
    )
    register.set_action_status(event.event_id, done.action_id, "done", by=officer)

    # 2026-03-05 23:30 UTC is already 03-06 in Beijing: the 03-05 action is overdue there
    now = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    assert [a.action_id for a in register.overdue(now)] == [due_early.action_id]
    assert register.overdue(datetime(2026, 3, 5, 12, tzinfo=UTC)) == []

    registry = CollectorRegistry()
    registry.register(RegisterCollector(register, clock=lambda: now))
    assert registry.get_sample_value("riskmon_risk_event_actions_overdue") == 1.0

    rows = list(csv.DictReader(io.StringIO(register.export_csv(now=now))))
    assert [(r["action"], r["overdue"], r["action_status"]) for r in rows] == [
        ("fix limits", "yes", "open"),
        ("retrain", "no", "open"),
        ("memo", "no", "done"),
    ]
    assert {r["event_id"] for r in rows} == {event.event_id}


def test_tampering_with_the_register_history_is_detected(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    register = RiskRegister(store)
    event = register.open_event(_confirmed(store), owner="li.wei", title="t", by=officer)
    register.add_comment(event.event_id, "looked at the tapes", by=officer)
    second = register.history(event.event_id)[1]
    with store.engine.begin() as connection:
        connection.execute(
            register_history.update()
            .where(register_history.c.entry_id == second.entry_id)
            .values(actor="mallory")
        )
    assert register.verify_history() == second.entry_id


def test_a_remediation_links_to_the_rule_change_proposed_for_it(store: AlertStore) -> None:
    """A pack proposal named by a prefix of its hash is linked by its full hash (closing the loop
    from an incident to a better control); an external ticket stays as written."""
    supervisor = who(store, "wang.fang", "supervisor")
    store.pack_history.propose(
        who(store, "li.wei"),
        version="bank-tuning@1.1.0",
        pack_hash="3f9a0c1d2e4b5a69",
        diff_summary="patch: large_cash_single threshold",
        ticket="CHG-9",
    )
    event = store.register.open_event(
        _confirmed(store), owner="wang.fang", title="cash structuring", by=supervisor
    )
    linked = store.register.add_action(
        event.event_id, description="lower the cash line", owner="li.wei",
        due=date(2026, 3, 31), proposal_id="3f9a0c", by=supervisor,
    )  # fmt: skip
    ticket = store.register.add_action(
        event.event_id, description="retrain tellers", owner="li.wei",
        due=date(2026, 3, 31), proposal_id="HR-12", by=supervisor,
    )  # fmt: skip
    assert (linked.proposal_id, ticket.proposal_id) == ("3f9a0c1d2e4b5a69", "HR-12")
