"""Decisions and the risk-event register over HTTP, with users' own API tokens."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from alerts.api import ApiToken, create_app
from alerts.store import AlertStore
from tests.alerts.alertkit import SettableClock, make_alert, who


@pytest.fixture
def api_store(store_url: str, clock: SettableClock) -> Iterator[AlertStore]:
    with AlertStore.open(store_url, clock=clock) as store:
        yield store


def _bearer(store: AlertStore, name: str, role: str) -> dict[str, str]:
    who(store, name, role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {store.users.issue_token(name)}"}


@pytest.fixture
def client(api_store: AlertStore) -> Iterator[TestClient]:
    with TestClient(create_app(api_store)) as test_client:
        yield test_client


def test_user_tokens_identify_the_caller_and_legacy_tokens_need_a_known_user(
    api_store: AlertStore,
) -> None:
    officer = _bearer(api_store, "Li.Wei", "officer")
    legacy = {
        "known": ApiToken(owner="LI.WEI ", scope="read-write"),
        "stranger": ApiToken(owner="nobody", scope="read-write"),
    }
    with TestClient(create_app(api_store, legacy)) as client:
        me = client.get("/me", headers=officer).json()
        assert (me["user_id"], me["role"]) == ("li.wei", "officer")
        assert client.get("/me", headers={"Authorization": "Bearer known"}).json()["user_id"] == (
            "li.wei"
        )
        assert client.get("/me", headers={"Authorization": "Bearer stranger"}).status_code == 401
        assert client.get("/me", headers={"Authorization": "Bearer "}).status_code == 401


def test_a_high_false_positive_waits_for_a_second_identity_over_http(
    client: TestClient, api_store: AlertStore
) -> None:
    officer = _bearer(api_store, "li.wei", "officer")
    supervisor = _bearer(api_store, "zhang.min", "supervisor")
    supervisor_again = {"Authorization": f"Bearer {api_store.users.issue_token('ZHANG.MIN')}"}
    alert = make_alert(severity="high")
    api_store.upsert(alert)
    path = f"/alerts/{alert.alert_id}"

    assert client.post(f"{path}/ack", headers=supervisor).status_code == 200
    pending = client.post(f"{path}/close", headers=supervisor, json={"outcome": "false_positive"})
    officer_try = client.post(f"{path}/approve-close", headers=officer)
    self_try = client.post(f"{path}/approve-close", headers=supervisor_again)
    assert pending.json()["status"] == "pending_approval"
    assert (officer_try.status_code, self_try.status_code) == (403, 409)
    assert "second person" in self_try.json()["detail"]

    rejected = client.post(
        f"{path}/reject-close",
        headers=_bearer(api_store, "chen.jie", "admin"),
        json={"comment": "the payroll file does not match"},
    )
    assert rejected.json()["status"] == "acknowledged"
    history = client.get(path, headers=officer).json()["history"]
    assert [(h["action"], h["actor"]) for h in history][-2:] == [
        ("close_requested", "zhang.min"),
        ("close_rejected", "chen.jie"),
    ]


def test_assign_comment_bulk_reopen_evidence_and_reveal_over_http(
    client: TestClient, api_store: AlertStore
) -> None:
    officer = _bearer(api_store, "li.wei", "officer")
    auditor = _bearer(api_store, "audit.ma", "auditor")
    supervisor = _bearer(api_store, "zhang.min", "supervisor")
    account = "6222020200009876"
    first = make_alert(severity="low", event_ids=("ev-a",), entity_id=account)
    second = make_alert(severity="low")
    api_store.upsert(first, events=[{"event_id": "ev-a", "account_id": account}])
    api_store.upsert(second)
    path = f"/alerts/{first.alert_id}"

    assigned = client.post(f"{path}/assign", headers=officer, json={"assignee": "Zhang.Min"})
    assert assigned.json()["assignee"] == "zhang.min"
    assert client.post(f"{path}/assign", headers=officer, json={"assignee": "x"}).status_code == 422
    assert client.post(f"{path}/comment", headers=officer, json={"comment": " "}).status_code == 422
    assert (
        client.post(f"{path}/comment", headers=auditor, json={"comment": "hi"}).status_code == 403
    )
    assert (
        client.post(f"{path}/comment", headers=officer, json={"comment": "hi"}).status_code == 200
    )

    ids = [first.alert_id, second.alert_id]
    acked = client.post(
        "/alerts/bulk", headers=officer, json={"alert_ids": ids, "action": "acknowledge"}
    )
    closed = client.post(
        "/alerts/bulk",
        headers=officer,
        json={"alert_ids": ids, "action": "resolve", "outcome": "duplicate"},
    )
    assert [item["ok"] for item in acked.json()] == [True, True]
    assert [item["status"] for item in closed.json()] == ["duplicate", "duplicate"]
    reopened = client.post(f"{path}/reopen", headers=officer, json={"reason": "not a duplicate"})
    assert reopened.json()["status"] == "acknowledged"
    assert client.post(f"{path}/reopen", headers=officer, json={"reason": ""}).status_code == 422

    assert client.get(f"{path}/evidence", headers=auditor).json() == [
        {"event_id": "ev-a", "account_id": "************9876"}
    ]
    refused = client.post(f"{path}/reveal", headers=officer, json={"reason": "curious"})
    revealed = client.post(f"{path}/reveal", headers=supervisor, json={"reason": "court order 12"})
    assert refused.status_code == 403
    assert revealed.json()["entity_id"] == account
    assert api_store.history(first.alert_id)[-1].actor == "zhang.min"


def test_the_risk_event_register_over_http(client: TestClient, api_store: AlertStore) -> None:
    officer = _bearer(api_store, "li.wei", "officer")
    supervisor = _bearer(api_store, "zhang.min", "supervisor")
    alert = make_alert(severity="medium")
    api_store.upsert(alert)
    for step, body in (("ack", None), ("close", {"outcome": "confirmed"})):
        assert client.post(
            f"/alerts/{alert.alert_id}/{step}", headers=officer, json=body
        ).is_success

    opened = client.post(
        "/risk-events",
        headers=officer,
        json={"alert_ids": [alert.alert_id], "owner": "zhang.min", "title": "Split cash deposits"},
    )
    assert opened.status_code == 201
    path = f"/risk-events/{opened.json()['event_id']}"
    refused = client.post(f"{path}/close", headers=supervisor)
    assert refused.status_code == 409
    assert "root_cause" in refused.json()["detail"]

    bad = client.post(f"{path}/root-cause", headers=officer, json={"category": "luck", "text": "x"})
    assert bad.status_code == 422
    for step, body in (
        ("root-cause", {"category": "process_gap", "text": "no limit on split deposits"}),
        ("people", {"text": "teller retrained, supervisor warned"}),
        ("education", {"text": "all tellers, 2026-03-12"}),
    ):
        assert client.post(f"{path}/{step}", headers=officer, json=body).status_code == 200
    action = client.post(
        f"{path}/actions",
        headers=officer,
        json={
            "description": "structuring rule for cash",
            "owner": "li.wei",
            "due": "2026-03-20",
            "proposal_id": "RCP-12",
        },
    )
    assert action.status_code == 201
    detail = client.get(path, headers=officer).json()
    assert detail["missing"] == [f"action {action.json()['action_id']} not done"]
    overdue = client.get(
        "/risk-events/overdue", headers=officer, params={"now": "2026-03-21T09:00:00+08:00"}
    )
    assert [a["action_id"] for a in overdue.json()] == [action.json()["action_id"]]

    done = client.post(
        f"{path}/actions/{action.json()['action_id']}", headers=officer, json={"status": "done"}
    )
    closed = client.post(f"{path}/close", headers=supervisor, json={"comment": "四不放过 met"})
    assert (done.status_code, closed.json()["status"]) == (200, "closed")

    exported = client.get("/risk-events.csv", headers=officer)
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert exported.headers["content-type"].startswith("text/csv")
    assert [(r["status"], r["proposal_id"], r["action_status"]) for r in rows] == [
        ("closed", "RCP-12", "done")
    ]
    assert client.get("/risk-events/RE-nope", headers=officer).status_code == 404
