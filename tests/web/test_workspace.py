"""The workspace over HTTP (Starlette's test client, no browser): sessions, CSRF, secure headers,
roles, language and the bank's time zone."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from alerts.store import AlertStore
from alerts.web import WorkspaceConfig, create_workspace
from alerts.web.security import SECURE_HEADERS
from monitor.alerts import Alert, make_alert_id
from tests.web.webkit import PASSWORDS, SECRET, add_users

AT = datetime(2026, 3, 3, 14, 27, tzinfo=UTC)  # 22:27 in Beijing


def _alert(n: int, **overrides: object) -> Alert:
    fields: dict[str, object] = {
        "alert_id": make_alert_id("after_hours_operator_login", [f"e{n}"]),
        "category": "after_hours",
        "reason": None,
        "rule_id": "after_hours_operator_login",
        "title": "After-hours login",
        "severity": "high",
        "entity_type": "account",
        "entity_id": "6222020200001234",
        "branch_id": "BR001",
        "event_ids": (f"e{n}",),
        "occurred_at": AT,
        "message": "Account 6222020200001234 moved money after hours",
        "messages": {
            "en": "Account 6222020200001234 moved money after hours",
            "zh-CN": "账户 6222020200001234 在营业时间外转账",
        },
        "language": "en",
        "explanation": {"hour": 22, "business_hours": "08:30-17:30"},
        "pack_version": "core@1.0.0",
        "pack_hash": "sha256:abc",
    }
    fields.update(overrides)
    return Alert.model_validate(fields)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file with the users and two alerts, made once (argon2 hashing is slow on purpose)."""
    path = tmp_path_factory.mktemp("seed") / "alerts.db"
    with AlertStore.open(f"sqlite:///{path}") as opened:
        add_users(opened)
        evidence = {"event_id": "e1", "kind": "transaction", "account_id": "6222020200001234"}
        opened.upsert(_alert(1), events=[evidence])
        opened.upsert(_alert(2, severity="medium", branch_id="BR002"))
    return path


@pytest.fixture
def store(seeded: Path, tmp_path: Path) -> Iterator[AlertStore]:
    """A fresh copy of the seeded store for each test."""
    shutil.copyfile(seeded, tmp_path / "alerts.db")
    with AlertStore.open(f"sqlite:///{tmp_path / 'alerts.db'}") as opened:
        yield opened


@pytest.fixture
def client(store: AlertStore) -> TestClient:
    return TestClient(create_workspace(store, WorkspaceConfig(secret_key=SECRET)))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "every page with a form carries the CSRF token"
    return found.group(1)


def _login(client: TestClient, user: str = "li.wei") -> str:
    token = _csrf(client.get("/login").text)
    answer = client.post(
        "/login",
        data={"username": user, "password": PASSWORDS[user][2], "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return _csrf(client.get("/inbox").text)


def test_pages_need_a_session_and_carry_secure_headers(client: TestClient) -> None:
    answer = client.get("/inbox", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")
    page = client.get("/login")
    for name, value in SECURE_HEADERS.items():
        assert page.headers[name] == value
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text, "no inline script: the CSP forbids it"
    static = client.get("/static/htmx-2.0.11.min.js")
    assert static.status_code == 200
    assert static.headers["x-content-type-options"] == "nosniff"


def test_login_checks_the_password_and_sets_a_signed_http_only_cookie(client: TestClient) -> None:
    token = _csrf(client.get("/login").text)
    wrong = client.post(
        "/login", data={"username": "li.wei", "password": "guess", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "Wrong user name or password" in wrong.text
    answer = client.post(
        "/login",
        data={"username": " LI.WEI ", "password": PASSWORDS["li.wei"][2], "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "Li Wei" in client.get("/inbox").text


def test_a_tampered_session_cookie_is_not_accepted(client: TestClient, store: AlertStore) -> None:
    _login(client)
    value = client.cookies.get("riskmon_session")
    assert value
    client.cookies.clear()
    cookie = {"cookie": f"riskmon_session={value}"}
    assert client.get("/inbox", headers=cookie, follow_redirects=False).status_code == 200
    client.cookies.clear()
    forged = value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    cookie = {"cookie": f"riskmon_session={forged}"}
    assert client.get("/inbox", headers=cookie, follow_redirects=False).status_code == 303


def test_every_post_needs_the_csrf_token(client: TestClient, store: AlertStore) -> None:
    token = _login(client)
    alert_id = store.list_alerts()[0].alert.alert_id
    for path, data in (
        (f"/alerts/{alert_id}/ack", {}),
        (f"/alerts/{alert_id}/comment", {"text": "x"}),
        ("/alerts/bulk", {"alert_id": alert_id, "action": "acknowledge"}),
        ("/logout", {}),
        ("/login", {"username": "li.wei", "password": PASSWORDS["li.wei"][2]}),
    ):
        assert client.post(path, data=data).status_code == 403, path
        wrong = {**data, "csrf_token": token[:-1] + "x"}
        assert client.post(path, data=wrong).status_code == 403, path
    assert store.get(alert_id).status == "open"
    assert [e.action for e in store.history(alert_id)] == ["stored"]
    answer = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token})
    assert answer.status_code == 200
    assert store.get(alert_id).status == "acknowledged"
    assert store.history(alert_id)[-1].actor == "li.wei"


def test_an_auditor_reads_but_cannot_change_anything(client: TestClient, store: AlertStore) -> None:
    token = _login(client, "zhao.lei")
    alert_id = store.list_alerts()[0].alert.alert_id
    page = client.get(f"/alerts/{alert_id}").text
    assert 'id="ack-form"' not in page and 'id="comment-form"' not in page
    assert "Your role may only read" in page
    answer = client.post(f"/alerts/{alert_id}/ack", data={"csrf_token": token})
    assert answer.status_code == 403
    assert store.get(alert_id).status == "open"


def test_only_a_supervisor_reveals_an_account_and_the_reveal_is_recorded(
    client: TestClient, store: AlertStore
) -> None:
    alert_id = _alert(1).alert_id  # the one stored with its evidence event
    token = _login(client, "li.wei")
    assert 'id="reveal-form"' not in client.get(f"/alerts/{alert_id}").text
    client.post(f"/alerts/{alert_id}/reveal", data={"csrf_token": token, "reason": "curious"})
    assert "6222020200001234" not in client.get(f"/alerts/{alert_id}").text
    assert all(e.action != "revealed" for e in store.history(alert_id))

    client.post("/logout", data={"csrf_token": token})
    token = _login(client, "zhang.min")
    page = client.post(
        f"/alerts/{alert_id}/reveal", data={"csrf_token": token, "reason": "police request 17"}
    ).text
    assert page.count("6222020200001234") == 2  # the entity and the evidence event
    assert "6222020200001234" not in client.get(f"/alerts/{alert_id}").text  # only that once
    last = store.history(alert_id)[-1]
    assert (last.action, last.actor, last.comment) == ("revealed", "zhang.min", "police request 17")


def test_inbox_filters_count_and_show_bank_time_masked_in_the_users_language(
    client: TestClient, store: AlertStore
) -> None:
    token = _login(client)
    page = client.get("/inbox?branch=BR002").text
    assert re.search(r'id="total">1 alert\(s\)<', page)
    assert "BR001 (1)" in page and "BR002 (1)" in page  # counts per branch, beside the filter
    assert "2026-03-03 22:27 Tue" in page  # 14:27 UTC shown in Asia/Shanghai
    assert "6222020200001234" not in page and "************1234" in page
    client.post("/language", data={"csrf_token": token, "lang": "zh-CN", "next": "/inbox"})
    page = client.get("/inbox").text
    assert "在营业时间外转账" in page and "2026年3月3日 星期二 22:27" in page
    assert "待办" in page and "高" in page
    alert_id = store.list_alerts()[0].alert.alert_id
    page = client.get(f"/alerts/{alert_id}").text
    assert "营业时间" in page and "非营业时间" in page and "触发依据" in page
    assert "2026年3月3日 星期二 22:27:00" in page


def test_redirects_after_login_stay_on_this_site(client: TestClient) -> None:
    token = _csrf(client.get("/login").text)
    answer = client.post(
        "/login",
        data={
            "username": "li.wei",
            "password": PASSWORDS["li.wei"][2],
            "csrf_token": token,
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/inbox"


def test_register_shows_overdue_actions_exports_csv_and_prints(
    client: TestClient, store: AlertStore
) -> None:
    token = _login(client)
    alert_id = store.list_alerts()[1].alert.alert_id  # the medium one: no second approval
    for path, data in (
        ("ack", {}),
        ("resolve", {"outcome": "confirmed", "comment": "real"}),
    ):
        client.post(f"/alerts/{alert_id}/{path}", data={"csrf_token": token, **data})
    assert store.get(alert_id).status == "resolved"
    answer = client.post(
        "/register",
        data={"csrf_token": token, "alert_id": alert_id, "owner": "wang.fang", "title": "BR002"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    event_url = answer.headers["location"]
    yesterday = (store.clock() - timedelta(days=2)).date().isoformat()
    client.post(
        event_url + "/actions",
        data={"csrf_token": token, "description": "Fix the limit", "owner": "li.wei",
              "due": yesterday, "proposal_id": "RCP-7"},
    )  # fmt: skip
    register = client.get("/register").text
    assert re.search(r'id="overdue-count">1 overdue action\(s\)<', register)
    event = client.get(event_url).text
    assert "RCP-7" in event and 'class="action-row overdue"' in event
    assert "the root cause" in event  # what still blocks closing, in words
    refused = client.post(event_url + "/close", data={"csrf_token": token})
    assert "cannot close yet" in refused.text
    exported = client.get("/register/export.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = exported.text.splitlines()
    assert rows[0].startswith("event_id,") and "BR002" in rows[1] and "RCP-7" in rows[1]
    printed = client.get(event_url + "/print").text
    assert "print.css" in printed and "Fix the limit" in printed and "<form" not in printed


def test_bulk_actions_and_reopen_with_a_reason(client: TestClient, store: AlertStore) -> None:
    token = _login(client)
    ids = [s.alert.alert_id for s in store.list_alerts()]
    answer = client.post(
        "/alerts/bulk",
        data={"csrf_token": token, "alert_id": ids, "action": "assign", "assignee": "wang.fang"},
    )
    assert "2 of 2 done" in answer.text
    assert {store.get(i).assignee for i in ids} == {"wang.fang"}
    client.post(
        "/alerts/bulk", data={"csrf_token": token, "alert_id": ids, "action": "acknowledge"}
    )
    answer = client.post(
        "/alerts/bulk",
        data={"csrf_token": token, "alert_id": ids, "action": "resolve", "outcome": "duplicate"},
    )
    assert {store.get(i).status for i in ids} == {"duplicate"}
    again = client.post(
        "/alerts/bulk", data={"csrf_token": token, "alert_id": ids, "action": "acknowledge"}
    )
    assert "0 of 2 done" in again.text  # each refusal is reported, none is silent
    page = client.post(
        f"/alerts/{ids[0]}/reopen", data={"csrf_token": token, "reason": "not a duplicate"}
    )
    assert page.status_code == 200 and store.get(ids[0]).status == "acknowledged"
    last = store.history(ids[0])[-1]
    assert (last.action, last.actor, last.comment) == ("reopened", "li.wei", "not a duplicate")
    blank = client.post(f"/alerts/{ids[1]}/reopen", data={"csrf_token": token, "reason": ""})
    assert blank.status_code == 422 and store.get(ids[1]).status == "duplicate"


def test_the_inbox_poll_answers_204_until_something_changes(
    client: TestClient, store: AlertStore
) -> None:
    _login(client)
    rows = client.get("/inbox/rows").text
    found = re.search(r'hx-get="(/inbox/rows\?[^"]*)"', rows)
    assert found
    poll = found.group(1).replace("&amp;", "&")
    assert client.get(poll).status_code == 204
    store.upsert(_alert(3, branch_id="BR009"))
    answer = client.get(poll)
    assert answer.status_code == 200 and "BR009" in answer.text


def test_bad_form_input_gets_a_page_and_a_deactivated_user_is_signed_out(
    client: TestClient, store: AlertStore
) -> None:
    token = _login(client)
    alert_id = store.list_alerts()[0].alert.alert_id
    answer = client.post(f"/alerts/{alert_id}/comment", data={"csrf_token": token, "text": ""})
    assert answer.status_code == 422
    assert 'id="error-detail">text:' in answer.text and "Traceback" not in answer.text
    store.users.deactivate("li.wei")
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_repeated_wrong_passwords_lock_the_login_for_a_while(client: TestClient) -> None:
    token = _csrf(client.get("/login").text)
    for _ in range(5):
        wrong = {"username": "li.wei", "password": "guess", "csrf_token": token}
        assert client.post("/login", data=wrong).status_code == 401
    right = {"username": "Li.Wei", "password": PASSWORDS["li.wei"][2], "csrf_token": token}
    locked = client.post("/login", data=right)
    assert locked.status_code == 429 and "Too many wrong passwords" in locked.text
    other = {"username": "wang.fang", "password": PASSWORDS["wang.fang"][2], "csrf_token": token}
    assert client.post("/login", data=other, follow_redirects=False).status_code == 303
