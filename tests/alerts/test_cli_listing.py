"""Issue 12 item 7: a CLI (and API) that does not mislead a new user.

Each test is one case found when riskmon was tried as a new user would: a typo in a filter, a
store quietly created in the current folder, UTC times beside +08:00 messages, ids that must be
typed whole, and an API that paged differently and showed its docs to anyone.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from alerts.api import create_app
from alerts.store import AlertStore
from monitor.alerts import Alert
from riskmon.alerts_cli import alerts_app
from tests.alerts.alertkit import make_alert, who

runner = CliRunner()
BANK = datetime.fromisoformat


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    return {"RISKMON_ALERT_STORE_URL": store_url, "COLUMNS": "400"}


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(alerts_app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def ingest(env: dict[str, str], tmp_path: Path, *alerts: Alert) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(a.to_json() + "\n" for a in alerts))
    run(env, "ingest", str(jsonl))


@pytest.mark.parametrize(
    ("option", "typo", "valid"),
    [
        ("--status", "opn", "open, acknowledged"),
        ("--severity", "hgh", "info, low, medium, high, critical"),
        ("--category", "nosuch", "dual_review, large_transfer, structuring"),
    ],
)
def test_a_typo_in_a_filter_is_an_error_listing_the_valid_values(
    env: dict[str, str], tmp_path: Path, option: str, typo: str, valid: str
) -> None:
    ingest(env, tmp_path, make_alert())
    out = run(env, "list", option, typo, code=2)
    assert f"'{typo}' is not one of" in out and valid in out
    assert "alert(s)" not in out


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "alerts.db"
    env = {"RISKMON_ALERT_STORE_URL": f"sqlite:///{missing}"}
    for command in (["list"], ["show", "abcd1234"], ["silence", "list"], ["export-labels"]):
        out = run(env, *command, code=1)
        assert f"no alert store at {missing}" in out
    assert not missing.exists() and not missing.parent.exists()


def test_the_store_location_does_not_depend_on_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without RISKMON_ALERT_STORE_URL the store lives in the user's data folder."""
    data = tmp_path / "data"
    env = {"XDG_DATA_HOME": str(data), "COLUMNS": "400"}
    monkeypatch.delenv("RISKMON_ALERT_STORE_URL", raising=False)
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    monkeypatch.chdir(first)
    assert f"no alert store at {data / 'riskmon' / 'alerts.db'}" in run(env, "list", code=1)
    alert = make_alert()
    ingest(env, tmp_path, alert)
    monkeypatch.chdir(second)
    listed = run(env, "list")
    assert alert.alert_id in listed and "1 alert(s)" in listed
    assert (data / "riskmon" / "alerts.db").is_file()
    assert list(first.iterdir()) == [] and list(second.iterdir()) == []


def test_times_are_in_the_banks_time_zone_and_a_date_means_its_midnight(
    env: dict[str, str], tmp_path: Path
) -> None:
    late = make_alert(occurred_at=BANK("2026-03-03T22:27:00+08:00"))  # 14:27 UTC
    early = make_alert(occurred_at=BANK("2026-03-03T00:30:00+08:00"))  # 2 March in UTC
    before = make_alert(occurred_at=BANK("2026-03-02T23:59:00+08:00"))
    ingest(env, tmp_path, late, early, before)

    listed = run(env, "list")
    assert "event time (Asia/Shanghai)" in listed
    assert "2026-03-03 22:27 Tue" in listed and "14:27" not in listed

    day = run(env, "list", "--since", "2026-03-03", "--until", "2026-03-04")
    assert late.alert_id in day and early.alert_id in day
    assert before.alert_id not in day

    zh = run({**env, "RISKMON_LANGUAGE": "zh-CN"}, "list")
    assert "2026年3月3日 星期二 22:27" in zh

    shown = run(env, "show", late.alert_id)
    assert "2026-03-03 22:27 Tue" in shown and "at (Asia/Shanghai)" in shown
    other = run({**env, "RISKMON_TIMEZONE": "Europe/London"}, "list")
    assert "2026-03-03 14:27 Tue" in other
    assert "unknown time zone" in run({**env, "RISKMON_TIMEZONE": "Mars/Base"}, "list", code=2)


def test_json_output_with_bank_times(env: dict[str, str], tmp_path: Path) -> None:
    alert = make_alert(occurred_at=BANK("2026-03-03T22:27:00+08:00"), reason="late")
    ingest(env, tmp_path, alert, make_alert(severity="low"))

    listed = json.loads(run(env, "list", "--json", "--severity", "high"))
    assert [item["alert"]["alert_id"] for item in listed] == [alert.alert_id]
    assert listed[0]["alert"]["occurred_at"] == "2026-03-03T22:27:00+08:00"
    assert listed[0]["status"] == "open" and listed[0]["alert"]["reason"] == "late"
    assert listed[0]["first_seen_at"].endswith("+08:00")

    shown = json.loads(run(env, "show", alert.alert_id[:8], "--json"))
    assert shown["alert"]["alert"]["message"] == alert.message
    assert isinstance(shown["history"], list)


def test_reason_and_message_columns(env: dict[str, str], tmp_path: Path) -> None:
    alert = make_alert(reason="self_approval", message="Transaction T9 approved by its initiator")
    ingest(env, tmp_path, alert)
    listed = run(env, "list")
    assert "reason" in listed and "message" in listed
    assert "self_approval" in listed and "Transaction T9 approved by its initiator" in listed


def test_alert_ids_by_unique_prefix_and_ambiguous_prefixes_are_refused(
    env: dict[str, str], tmp_path: Path
) -> None:
    one = make_alert().model_copy(update={"alert_id": "abcd0001" + "0" * 24})
    two = make_alert().model_copy(update={"alert_id": "abcd0002" + "0" * 24})
    ingest(env, tmp_path, one, two)

    assert one.message in run(env, "show", "abcd0001")
    refused = run(env, "show", "abcd", code=1)
    assert "ambiguous" in refused and one.alert_id in refused and two.alert_id in refused
    assert "no alert with id 'abcd9'" in run(env, "show", "abcd9", code=1)


def test_show_honours_the_language_setting(env: dict[str, str], tmp_path: Path) -> None:
    alert = make_alert(
        message="Large transfer on account ****1234",
        messages={"en": "Large transfer on account ****1234", "zh-CN": "账户 ****1234 大额转账"},
    )
    ingest(env, tmp_path, alert)
    assert "账户 ****1234 大额转账" in run(
        {**env, "RISKMON_LANGUAGE": "zh-CN"}, "show", alert.alert_id
    )
    assert "Large transfer on account" in run(env, "show", alert.alert_id)
    zh = {**env, "RISKMON_LANGUAGE": "zh-CN"}
    listed = run(zh, "list")
    assert "账户 ****1234 大额转账" in listed
    assert "级别" in listed and "高" in listed and "待处理" in listed and "大额转账" in listed
    shown = run(zh, "show", alert.alert_id)
    assert "状态" in shown and "待处理" in shown and "处理记录" in shown and "入库" in shown
    english = run(env, "list")
    assert "severity" in english and "high" in english and "open" in english


# -- the HTTP API pages like the CLI, shows bank times, and hides its docs without a token ------


@pytest.fixture
def token(api_store: AlertStore) -> str:
    who(api_store, "li.wei", "auditor")
    return api_store.users.issue_token("li.wei")


@pytest.fixture
def api_store(store_url: str) -> Iterator[AlertStore]:
    with AlertStore.open(store_url) as store:
        for n in range(5):
            store.upsert(make_alert(occurred_at=BANK(f"2026-03-03T22:2{n}:00+08:00")))
        yield store


@pytest.fixture
def client(api_store: AlertStore, token: str) -> Iterator[TestClient]:
    with TestClient(create_app(api_store)) as test_client:
        yield test_client


@pytest.fixture
def read(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_pages_like_the_cli_and_keeps_limit_offset(
    client: TestClient, env: dict[str, str], read: dict[str, str]
) -> None:
    everything = [a["alert"]["alert_id"] for a in client.get("/alerts", headers=read).json()]
    assert len(everything) == 5
    page2 = client.get("/alerts", params={"page": 2, "page_size": 2}, headers=read).json()
    assert [a["alert"]["alert_id"] for a in page2] == everything[2:4]
    old = client.get("/alerts", params={"limit": 2, "offset": 2}, headers=read).json()
    assert old == page2
    cli = json.loads(run(env, "list", "--json", "--page", "2", "--page-size", "2"))
    assert [a["alert"]["alert_id"] for a in cli] == everything[2:4]
    assert client.get("/alerts", params={"page": 0}, headers=read).status_code == 422


def test_api_times_are_in_the_banks_time_zone(
    client: TestClient, read: dict[str, str], api_store: AlertStore
) -> None:
    listed = client.get("/alerts", headers=read).json()
    assert listed[0]["alert"]["occurred_at"] == "2026-03-03T22:24:00+08:00"
    assert listed[0]["last_seen_at"].endswith("+08:00")
    naive = client.get("/alerts", params={"since": "2026-03-03T22:23:00"}, headers=read).json()
    assert len(naive) == 2  # 22:23 in Shanghai, not 22:23 UTC (which would match nothing)
    detail = client.get(f"/alerts/{listed[0]['alert']['alert_id']}", headers=read).json()
    assert detail["alert"]["status_changed_at"].endswith("+08:00")

    who(api_store, "wang.fang")
    officer = {"Authorization": f"Bearer {api_store.users.issue_token('wang.fang')}"}
    acked = client.post(f"/alerts/{listed[0]['alert']['alert_id']}/ack", headers=officer)
    assert acked.status_code == 200 and acked.json()["status_changed_at"].endswith("+08:00")
    body = {"matchers": {"branch_id": ["BR001"]}, "duration_minutes": 60, "reason": "drill",
            "ticket": "CHG-1"}  # fmt: skip
    silence = client.post("/silences", headers=officer, json=body)
    assert silence.status_code == 201 and silence.json()["ends_at"].endswith("+08:00")
    (listed_silence,) = client.get("/silences?active=false", headers=read).json()
    assert listed_silence["created_at"].endswith("+08:00")
    users = client.get("/users", headers=read).json()
    assert users and all(user["created_at"].endswith("+08:00") for user in users)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_need_a_token(
    client: TestClient, read: dict[str, str], token: str, path: str
) -> None:
    refused = client.get(path)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers=read).status_code == 200
    basic = base64.b64encode(f"li.wei:{token}".encode()).decode()
    assert client.get(path, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    bad = base64.b64encode(b"li.wei:nope").decode()
    assert client.get(path, headers={"Authorization": f"Basic {bad}"}).status_code == 401


def test_with_api_url_list_and_show_ask_the_server_and_page_the_same_way(
    api_store: AlertStore, token: str, tmp_path: Path
) -> None:
    """RISKMON_API_URL: `list` and `show` read over HTTP (no local store), with the same paging,
    bank times and id prefixes."""
    local = [s.alert.alert_id for s in api_store.list_alerts(limit=10)]
    server = uvicorn.Server(
        uvicorn.Config(create_app(api_store), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    nowhere = tmp_path / "not-here.db"
    env = {
        "RISKMON_API_URL": f"http://127.0.0.1:{port}",
        "RISKMON_TOKEN": token,
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{nowhere}",
        "COLUMNS": "400",
    }
    try:
        page2 = json.loads(run(env, "list", "--json", "--page", "2", "--page-size", "2"))
        day = json.loads(run(env, "list", "--json", "--since", "2026-03-03T22:23:00"))
        shown = run(env, "show", local[0][:8])
        listed = run(env, "list")
        bad = run({**env, "RISKMON_TOKEN": "rmk_wrong"}, "list", code=1)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert [a["alert"]["alert_id"] for a in page2] == local[2:4]
    assert len(day) == 2  # 22:23 in the bank's zone
    assert local[0] in shown and "2026-03-03 22:24 Tue" in shown
    assert "2026-03-03 22:24 Tue" in listed and "5 alert(s)" in listed
    assert "401" in bad
    assert not nowhere.exists()


def test_a_new_machine_starts_with_users_add_at_the_default_location(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No traceback and no store in the current folder: `users list` refuses a missing store,
    `users add` creates it in the user's data folder."""
    from riskmon.cli import app as main_app

    monkeypatch.delenv("RISKMON_ALERT_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    env = {"XDG_DATA_HOME": str(data), "COLUMNS": "400"}
    password = tmp_path / "pw"
    password.write_text("a long enough password\n")
    refused = runner.invoke(main_app, ["users", "list"], env=env)
    assert refused.exit_code == 1 and "no alert store at" in refused.output
    added = runner.invoke(
        main_app, ["users", "add", "li.wei", "--role", "officer", "--password-file", str(password)],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert (data / "riskmon" / "alerts.db").is_file()
    assert "li.wei" in runner.invoke(main_app, ["users", "list"], env=env).output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "pw"]
