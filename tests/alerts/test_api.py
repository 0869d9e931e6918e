"""The HTTP API: bearer tokens and scopes, audited changes, and a fuzz run finding no 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from alerts.api import ApiToken, create_app
from alerts.store import AlertStore
from tests.alerts.alertkit import SettableClock, make_alert, who

TOKENS = {
    "rw-token": ApiToken(owner="li.wei", scope="read-write"),
    "ro-token": ApiToken(owner="auditor", scope="read"),
    "checker-token": ApiToken(owner="wang.fang", scope="read-write"),
}
RW = {"Authorization": "Bearer rw-token"}
RO = {"Authorization": "Bearer ro-token"}
CHECKER = {"Authorization": "Bearer checker-token"}


@pytest.fixture
def api_store(store_url: str, clock: SettableClock) -> Iterator[AlertStore]:
    with AlertStore.open(store_url, clock=clock) as store:
        for owner, role in (
            ("li.wei", "officer"),
            ("auditor", "auditor"),
            ("wang.fang", "officer"),
        ):
            who(store, owner, role)  # the older token setting counts only for known users
        yield store


@pytest.fixture
def client(api_store: AlertStore) -> Iterator[TestClient]:
    with TestClient(create_app(api_store, TOKENS)) as test_client:
        yield test_client


def test_requests_without_a_valid_token_get_401(client: TestClient) -> None:
    assert client.get("/alerts").status_code == 401
    wrong = client.get("/alerts", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"


def test_read_only_tokens_read_but_get_403_on_changes(
    client: TestClient, api_store: AlertStore
) -> None:
    alert = make_alert()
    api_store.upsert(alert)
    assert client.get("/alerts", headers=RO).status_code == 200
    assert client.get(f"/alerts/{alert.alert_id}", headers=RO).status_code == 200
    assert client.post(f"/alerts/{alert.alert_id}/ack", headers=RO).status_code == 403
    body = {
        "matchers": {"branch_id": ["BR1"]},
        "duration_minutes": 60,
        "reason": "r",
        "ticket": "T",
    }
    assert client.post("/silences", headers=RO, json=body).status_code == 403
    assert api_store.get(alert.alert_id).status == "open"


def test_lifecycle_over_http_is_audited_with_the_token_owner(
    client: TestClient, api_store: AlertStore
) -> None:
    alert = make_alert(severity="medium")  # a high one would wait for a supervisor's approval
    api_store.upsert(alert)

    acked = client.post(f"/alerts/{alert.alert_id}/ack", headers=RW, json={"comment": "mine"})
    early = client.post(f"/alerts/{alert.alert_id}/ack", headers=RW)
    closed = client.post(f"/alerts/{alert.alert_id}/false-positive", headers=RW)
    detail = client.get(f"/alerts/{alert.alert_id}", headers=RO).json()
    listed = client.get("/alerts", headers=RO, params={"status": "false_positive"}).json()

    assert (acked.status_code, early.status_code, closed.status_code) == (200, 409, 200)
    assert [(h["to_status"], h["actor"]) for h in detail["history"]] == [
        ("open", "riskmon"),
        ("acknowledged", "li.wei"),
        ("false_positive", "li.wei"),
    ]
    assert detail["history"][1]["comment"] == "mine"
    assert [item["alert"]["alert_id"] for item in listed] == [alert.alert_id]
    assert client.get("/alerts/unknown", headers=RO).status_code == 404
    assert client.get("/alerts", headers=RO, params={"severity": "urgent"}).status_code == 422


def test_silences_over_http(client: TestClient, api_store: AlertStore) -> None:
    body = {
        "matchers": {"rule_id": ["large_transfer_over_limit"]},
        "duration_minutes": 90,
        "reason": "branch drill",
        "ticket": "CHG-9",
    }
    created = client.post("/silences", headers=RW, json=body)
    silence_id = created.json()["silence_id"]
    assert client.get("/silences", headers=RO).json() == []  # pending approval
    own = client.post(f"/silences/{silence_id}/approve", headers=RW)
    approved = client.post(f"/silences/{silence_id}/approve", headers=CHECKER)
    listed = client.get("/silences", headers=RO).json()
    expired = client.post(f"/silences/{silence_id}/expire", headers=RW, json={"comment": "done"})

    assert created.status_code == 201
    assert created.json()["author"] == "li.wei"
    assert own.status_code == 422
    assert approved.json()["approved_by"] == "wang.fang"
    assert [s["silence_id"] for s in listed] == [silence_id]
    assert expired.json()["expired_by"] == "li.wei"
    assert client.get("/silences", headers=RO).json() == []
    entries = api_store.history(silence_id=silence_id)
    assert [e.actor for e in entries] == ["li.wei", "wang.fang", "li.wei"]
    no_matchers = dict(body, matchers={})
    assert client.post("/silences", headers=RW, json=no_matchers).status_code == 422


@pytest.mark.slow
def test_fuzzed_requests_never_get_a_server_error(api_store: AlertStore) -> None:
    """Schemathesis draws valid and invalid requests for every operation; none may get a 5xx."""
    api_store.upsert(make_alert())
    app = create_app(api_store, TOKENS)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=RO)  # needs a token
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        response = case.call(headers=RW)
        case.validate_response(response, checks=[not_a_server_error])

    call()
