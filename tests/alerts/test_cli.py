"""``riskmon alerts``: a risk officer's day, over SQLite and the real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.identity import Role
from alerts.store import AlertStore
from riskmon.alerts_cli import alerts_app
from riskmon.cli import app as main_app
from tests.alerts.alertkit import make_alert, who

runner = CliRunner()


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    return {"RISKMON_ALERT_STORE_URL": store_url, "COLUMNS": "250"}


def as_user(env: dict[str, str], name: str, role: Role = "officer") -> dict[str, str]:
    """``env`` with RISKMON_TOKEN set to a new API token of ``name`` (added if needed)."""
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        who(store, name, role)
        return dict(env, RISKMON_TOKEN=store.users.issue_token(name))


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(alerts_app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def test_a_risk_officers_day(env: dict[str, str], tmp_path: Path) -> None:
    first, second, third = make_alert(), make_alert(severity="low"), make_alert()
    jsonl = tmp_path / "alerts.jsonl"
    jsonl.write_text("".join(a.to_json() + "\n" for a in (first, second, third, first)))

    assert "4 alert(s) read, 3 new, 1 already stored" in run(env, "ingest", str(jsonl))
    assert "4 alert(s) read, 0 new, 4 already stored" in run(env, "ingest", str(jsonl))

    listed = run(env, "list", "--severity", "high")
    assert first.alert_id in listed and third.alert_id in listed
    assert second.alert_id not in listed
    assert "2 alert(s)" in listed
    assert "1 alert(s); more on --page 2" in run(env, "list", "--page-size", "1")

    li = as_user(env, "li.wei")
    run(li, "ack", first.alert_id, "--comment", "calling the branch")
    run(li, "resolve", first.alert_id, "-m", "customer confirmed fraud")
    run(li, "ack", third.alert_id)
    assert "pending_approval" in run(li, "false-positive", third.alert_id, "-m", "payroll batch")
    assert "false_positive (by zhang.min)" in run(
        as_user(env, "zhang.min", "supervisor"), "approve-close", third.alert_id
    )
    refused = run(li, "resolve", second.alert_id, code=1)
    assert "is open; it cannot become resolved" in refused

    shown = run(env, "show", first.alert_id)
    assert first.message in shown
    assert first.event_ids[0] in shown
    assert "limit" in shown and "500000.00" in shown
    assert "customer confirmed fraud" in shown
    assert "resolved" in run(env, "list", "--status", "resolved")

    labels = [json.loads(line) for line in run(env, "export-labels").splitlines()]
    assert {(label["alert_id"], label["label"]) for label in labels} == {
        (first.alert_id, "true_positive"),
        (third.alert_id, "false_positive"),
    }


def test_silences_from_the_command_line(env: dict[str, str]) -> None:
    zhang = as_user(env, "zhang.min")
    added = run(
        zhang, "silence", "add", "--reason", "branch drill",
        "--ticket", "CHG-1234", "--branch", "BR001", "--rule", "large_transfer_over_limit",
        "--duration", "90m",
    )  # fmt: skip
    silence_id = added.split()[1]
    assert "pending approval" in added
    assert silence_id not in run(env, "silence", "list")
    assert "pending approval" in run(env, "silence", "list", "--show", "all")
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:  # the same user, other case
        zhang_again = dict(env, RISKMON_TOKEN=store.users.issue_token(" Zhang.Min "))
    refused = run(zhang_again, "silence", "approve", silence_id, code=1)
    assert "cannot approve" in refused
    assert "approved (by wang.fang)" in run(
        as_user(env, "wang.fang"), "silence", "approve", silence_id
    )
    listed = run(env, "silence", "list")
    assert silence_id in listed and "CHG-1234" in listed and "active" in listed

    assert "expired (by li.wei)" in run(as_user(env, "li.wei"), "silence", "expire", silence_id)
    assert silence_id not in run(env, "silence", "list")
    assert "ended" in run(env, "silence", "list", "--show", "all")


def test_bad_input_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(make_alert().to_json() + "\n")
    run(env, "ingest", str(good))  # a store must exist: a missing one is an error of its own
    assert "no alert with id 'nope'" in run(env, "show", "nope", code=1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(make_alert().to_json() + "\n{}\n")
    assert "bad.jsonl:2" in run(env, "ingest", str(bad), code=2)
    a = as_user(env, "a")
    missing_ticket = run(
        a, "silence", "add", "--reason", "r", "--ticket", " ", "--branch", "B", code=1
    )
    assert "non-empty ticket" in missing_ticket
    assert "e.g. 2h" in run(
        a, "silence", "add", "--reason", "r", "--ticket", "T", "--duration", "2w", code=2
    )


def test_changes_need_a_token_and_free_text_names_are_gone(
    env: dict[str, str], tmp_path: Path
) -> None:
    alert = make_alert()
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        store.upsert(alert)
        who(store, "li.wei")
        token = store.users.issue_token("li.wei")

    assert "No such option: --by" in run(env, "ack", alert.alert_id, "--by", "", code=2)
    assert "RISKMON_TOKEN" in run(env, "ack", alert.alert_id, code=2)
    assert "unknown or revoked API token" in run(
        dict(env, RISKMON_TOKEN="rmk_made_up"), "ack", alert.alert_id, code=1
    )
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    acked = run(dict(env, RISKMON_TOKEN_FILE=str(token_file)), "ack", alert.alert_id)
    assert "acknowledged (by li.wei)" in acked
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        assert [e.actor for e in store.history(alert.alert_id)] == ["riskmon", "li.wei"]


def test_assign_comment_reopen_and_reveal_from_the_command_line(env: dict[str, str]) -> None:
    account = "6222020200004321"
    alert = make_alert(severity="low", entity_id=account, event_ids=("cli-ev",))
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        store.upsert(alert, events=[{"event_id": "cli-ev", "account_id": account}])
    li, boss = as_user(env, "li.wei"), as_user(env, "zhang.min", "supervisor")

    assert "open (by li.wei)" in run(li, "assign", alert.alert_id, "Zhang.Min")
    run(li, "comment", alert.alert_id, "called the branch")
    run(li, "ack", alert.alert_id)
    assert "duplicate" in run(li, "resolve", alert.alert_id, "--outcome", "duplicate")
    assert "Invalid value" in run(li, "resolve", alert.alert_id, "--outcome", "fine", code=2)
    assert "acknowledged" in run(li, "reopen", alert.alert_id, "--reason", "other account")
    assert "may not reveal" in run(li, "reveal", alert.alert_id, "--reason", "x", code=1)
    revealed = run(boss, "reveal", alert.alert_id, "--reason", "police request 7")
    assert account in revealed

    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        entries = store.history(alert.alert_id)
        assert store.get(alert.alert_id).assignee == "zhang.min"
    assert [(e.action, e.actor) for e in entries[1:]] == [
        ("assigned", "li.wei"), ("commented", "li.wei"), ("transition", "li.wei"),
        ("transition", "li.wei"), ("reopened", "li.wei"), ("revealed", "zhang.min"),
    ]  # fmt: skip


def test_users_are_added_listed_and_given_tokens(env: dict[str, str], tmp_path: Path) -> None:
    AlertStore.open(env["RISKMON_ALERT_STORE_URL"]).close()
    password = tmp_path / "password"
    password.write_text("correct horse battery\n")
    users = ["--password-file", str(password)]
    added = runner.invoke(
        main_app, ["users", "add", "Zhang.Min", "--role", "supervisor", *users], env=env
    )
    again = runner.invoke(
        main_app, ["users", "add", " zhang.min", "--role", "officer", *users], env=env
    )
    bad_role = runner.invoke(main_app, ["users", "add", "x", "--role", "boss", *users], env=env)
    listed = runner.invoke(main_app, ["users", "list"], env=env)
    token = runner.invoke(main_app, ["users", "token", "ZHANG.MIN"], env=env)

    assert "user zhang.min (supervisor) added" in added.output
    assert (again.exit_code, bad_role.exit_code) == (1, 2)
    assert "already exists" in again.output
    assert "zhang.min" in listed.output and "1 user(s)" in listed.output
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        me = store.users.identity_for_token(token.stdout.strip())
        assert (me.user_id, me.role) == ("zhang.min", "supervisor")
        assert store.users.authenticate("zhang.min", "correct horse battery").role == "supervisor"


def test_evidence_is_attached_from_an_events_file(env: dict[str, str], tmp_path: Path) -> None:
    alert = make_alert(event_ids=("t-1", "t-2"))
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        store.upsert(alert)
    events = tmp_path / "events.jsonl"
    lines = [{"event_id": "t-2", "account_id": "6222020200001111"}, {"event_id": "other"}]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n")

    assert "1 evidence event(s) kept; 1 still missing" in run(env, "attach-evidence", str(events))
    assert "0 evidence event(s) kept" in run(env, "attach-evidence", str(events))
    with AlertStore.open(env["RISKMON_ALERT_STORE_URL"]) as store:
        assert store.evidence(alert.alert_id) == [
            {"event_id": "t-2", "account_id": "************1111"}
        ]
