"""Decisions on alerts: outcomes, two-person false-positive closes, reopen, assign, comment,
reveal, bulk actions and evidence events; every history entry names an authenticated user."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from alerts.errors import (
    ApprovalError,
    IdentityError,
    InvalidTransitionError,
    PermissionDeniedError,
)
from alerts.store import AlertStore
from tests.alerts.alertkit import make_alert, who


def _acked(store: AlertStore, **overrides: object) -> str:
    alert = make_alert(**overrides)
    store.upsert(alert)
    store.acknowledge(alert.alert_id, by=who(store, "li.wei"))
    return alert.alert_id


def test_resolve_takes_an_outcome(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    outcomes = {}
    for outcome in ("confirmed", "false_positive", "duplicate"):
        alert_id = _acked(store, severity="medium")
        outcomes[outcome] = store.resolve(alert_id, outcome, by=officer).status  # type: ignore[arg-type]
    assert outcomes == {
        "confirmed": "resolved",
        "false_positive": "false_positive",
        "duplicate": "duplicate",
    }


@pytest.mark.parametrize("severity", ["high", "critical"])
def test_a_false_positive_close_of_a_high_alert_waits_for_a_supervisor(
    store: AlertStore, severity: str
) -> None:
    officer, other_officer = who(store, "li.wei"), who(store, "wang.fang")
    supervisor = who(store, "zhang.min", "supervisor")
    alert_id = _acked(store, severity=severity)

    pending = store.mark_false_positive(alert_id, by=officer, comment="payroll batch")
    assert (pending.status, pending.pending_by) == ("pending_approval", "li.wei")
    assert store.export_labels() == []
    with pytest.raises(PermissionDeniedError, match="supervisor"):
        store.approve_close(alert_id, by=other_officer)
    with pytest.raises(InvalidTransitionError):
        store.resolve(alert_id, "confirmed", by=officer)

    closed = store.approve_close(alert_id, by=supervisor, comment="payroll file checked")
    assert closed.status == "false_positive"
    entries = store.history(alert_id)
    assert [(e.action, e.actor, e.to_status) for e in entries[2:]] == [
        ("close_requested", "li.wei", "pending_approval"),
        ("close_approved", "zhang.min", "false_positive"),
    ]
    [label] = store.export_labels()
    assert (label.label, label.decided_by) == ("false_positive", "zhang.min")
    assert store.verify_history() is None


def test_a_supervisor_cannot_approve_their_own_false_positive_close(store: AlertStore) -> None:
    supervisor = who(store, "zhang.min", "supervisor")
    alert_id = _acked(store, severity="high")
    store.mark_false_positive(alert_id, by=supervisor)
    for spelling in ("zhang.min", " Zhang.Min "):
        with pytest.raises(ApprovalError, match="second person"):
            store.approve_close(alert_id, by=store.users.identity(spelling))
    assert store.get(alert_id).status == "pending_approval"

    rejected = store.reject_close(alert_id, by=who(store, "chen.jie", "supervisor"), comment="no")
    assert (rejected.status, rejected.pending_by) == ("acknowledged", None)
    with pytest.raises(ApprovalError, match="not pending"):
        store.approve_close(alert_id, by=who(store, "chen.jie"))


def test_a_closed_alert_can_be_reopened_with_a_reason_and_corrected(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    alert_id = _acked(store, severity="low")
    store.resolve(alert_id, "duplicate", by=officer)
    with pytest.raises(InvalidTransitionError, match="reason"):
        store.reopen(alert_id, by=officer, reason="  ")

    reopened = store.reopen(alert_id, by=officer, reason="not a duplicate: other account")
    corrected = store.resolve(alert_id, "confirmed", by=officer)

    assert (reopened.status, corrected.status) == ("acknowledged", "resolved")
    assert [e.action for e in store.history(alert_id)][-2:] == ["reopened", "transition"]
    [label] = store.export_labels()
    assert label.label == "true_positive"
    with pytest.raises(InvalidTransitionError):
        store.reopen(_acked(store), by=officer, reason="open alerts are not closed")


def test_assignment_and_comments_do_not_change_the_status(store: AlertStore) -> None:
    officer, colleague = who(store, "li.wei"), who(store, "wang.fang")
    who(store, "audit.ma", "auditor")
    alert = make_alert()
    store.upsert(alert)

    assigned = store.assign(alert.alert_id, " Wang.Fang ", by=officer, comment="your branch")
    store.comment(alert.alert_id, "called the branch", by=colleague)

    assert (assigned.status, assigned.assignee) == ("open", "wang.fang")
    assert [s.alert.alert_id for s in store.list_alerts(assignee="wang.fang")] == [alert.alert_id]
    entries = store.history(alert.alert_id)[1:]
    assert [(e.action, e.actor, e.comment, e.to_status) for e in entries] == [
        ("assigned", "li.wei", "assigned to wang.fang: your branch", "open"),
        ("commented", "wang.fang", "called the branch", "open"),
    ]
    with pytest.raises(IdentityError, match="no user"):
        store.assign(alert.alert_id, "nobody", by=officer)
    with pytest.raises(PermissionDeniedError, match="cannot work alerts"):
        store.assign(alert.alert_id, "audit.ma", by=officer)
    assert store.assign(alert.alert_id, None, by=officer).assignee is None


def test_bulk_actions_report_each_alert(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    first, second = make_alert(severity="low"), make_alert(severity="low")
    store.upsert_many([first, second])
    store.acknowledge(first.alert_id, by=officer)

    acked = store.bulk([first.alert_id, second.alert_id, "nope"], "acknowledge", by=officer)
    closed = store.bulk(
        [first.alert_id, second.alert_id], "resolve", by=officer, outcome="duplicate"
    )

    assert [(r.alert_id, r.ok, r.status) for r in acked] == [
        (first.alert_id, False, None),
        (second.alert_id, True, "acknowledged"),
        ("nope", False, None),
    ]
    assert acked[0].error is not None and "cannot become" in acked[0].error
    assert [r.status for r in closed] == ["duplicate", "duplicate"]
    with pytest.raises(PermissionDeniedError):
        store.bulk([first.alert_id], "comment", by=who(store, "audit.ma", "auditor"), comment="x")


def test_evidence_events_are_kept_masked_and_revealed_only_with_a_recorded_reason(
    store: AlertStore,
) -> None:
    account = "6222020200001234"
    events = {
        "e-1": {"event_id": "e-1", "kind": "transaction", "account_id": account, "amount": "9.00"},
        "e-2": {"event_id": "e-2", "kind": "transaction", "account_id": account, "amount": "8.00"},
        "other": {"event_id": "other", "kind": "transaction", "account_id": "x", "amount": "1"},
    }
    alert = make_alert(event_ids=("e-2", "e-1"), entity_id=account)
    store.upsert_many([alert], events=events)
    store.upsert(alert, events=list(events.values()))  # a redelivery keeps nothing twice

    kept = store.evidence(alert.alert_id)
    assert [e["event_id"] for e in kept] == ["e-2", "e-1"]
    assert {e["account_id"] for e in kept} == {"************1234"}
    assert store.get(alert.alert_id).alert.entity_id == "************1234"

    officer = who(store, "li.wei")
    with pytest.raises(PermissionDeniedError, match="supervisor"):
        store.reveal(alert.alert_id, by=officer, reason="curious")
    supervisor = who(store, "zhang.min", "supervisor")
    with pytest.raises(PermissionDeniedError, match="reason"):
        store.reveal(alert.alert_id, by=supervisor, reason=" ")
    revealed = store.reveal(alert.alert_id, by=supervisor, reason="police request 2026-17")

    assert revealed.entity_id == account
    assert [e["account_id"] for e in revealed.events] == [account, account]
    last = store.history(alert.alert_id)[-1]
    assert (last.action, last.actor, last.comment) == (
        "revealed",
        "zhang.min",
        "police request 2026-17",
    )


def test_evidence_can_be_attached_after_the_alert_was_stored(store: AlertStore) -> None:
    alert = make_alert(event_ids=("late-1",))
    store.upsert(alert)
    assert store.evidence(alert.alert_id) == []
    assert store.attach_evidence([{"event_id": "late-1", "kind": "operator_action"}]) == 1
    assert store.attach_evidence([{"event_id": "late-1", "kind": "operator_action"}]) == 0
    assert store.evidence(alert.alert_id) == [{"event_id": "late-1", "kind": "operator_action"}]


def test_every_history_entry_names_a_known_user_and_the_chain_verifies(
    store: AlertStore,
) -> None:
    officer, supervisor = who(store, "li.wei"), who(store, "zhang.min", "supervisor")
    alert_id = _acked(store, severity="critical")
    store.assign(alert_id, "li.wei", by=supervisor)
    store.comment(alert_id, "checked", by=officer)
    store.mark_false_positive(alert_id, by=officer)
    store.approve_close(alert_id, by=supervisor)
    store.reopen(alert_id, by=supervisor, reason="new evidence")
    store.reveal(alert_id, by=supervisor, reason="case file")

    known = {u.user_id for u in store.users.list_users()}
    actors = [e.actor for e in store.history(alert_id)]
    assert actors[0] == "riskmon"  # the system stored it
    assert set(actors[1:]) <= known
    assert store.verify_history() is None


def test_concurrent_writers_keep_one_unbroken_history_chain(store: AlertStore) -> None:
    officer = who(store, "li.wei")
    batch = [make_alert(severity="low") for _ in range(8)]
    store.upsert_many(batch)

    def work(alert_id: str) -> None:
        store.comment(alert_id, "first look", by=officer)
        store.acknowledge(alert_id, by=officer)
        store.resolve(alert_id, "duplicate", by=officer)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, [alert.alert_id for alert in batch]))

    assert len(store.history()) == 8 * 4
    assert store.verify_history() is None
