"""``riskmon register``: a risk event followed to closing from the command line."""

from __future__ import annotations

import csv
import io
import re

from typer.testing import CliRunner

from alerts.store import AlertStore
from alerts.store.tables import history
from riskmon.cli import app
from tests.alerts.alertkit import make_alert, who

runner = CliRunner()


def run(env: dict[str, str], *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["register", *args], env=env)
    assert result.exit_code == code, result.output
    return result.output


def test_a_risk_event_from_the_command_line(store_url: str) -> None:
    alert = make_alert(severity="medium")
    with AlertStore.open(store_url) as store:
        store.upsert(alert)
        officer = who(store, "li.wei")
        store.acknowledge(alert.alert_id, by=officer)
        store.resolve(alert.alert_id, by=officer)
        env = {
            "RISKMON_ALERT_STORE_URL": store_url,
            "RISKMON_TOKEN": store.users.issue_token("li.wei"),
            "COLUMNS": "250",
        }

    opened = run(env, "open", alert.alert_id, "--owner", "Li.Wei", "--title", "Split deposits")
    found = re.search(r"(RE-[0-9a-f]+) \[open\] owner li\.wei", opened)
    assert found, opened
    event_id = found.group(1)
    assert "cannot close yet: missing root_cause" in run(env, "close", event_id, code=1)
    assert "RISKMON_TOKEN" in run(dict(env, RISKMON_TOKEN=""), "close", event_id, code=2)

    run(env, "root-cause", event_id, "--category", "process_gap", "--text", "no split limit")
    run(env, "people", event_id, "teller warned")
    run(env, "education", event_id, "all tellers trained")
    added = run(env, "action-add", event_id, "--description", "cash structuring rule",
                "--owner", "li.wei", "--due", "2026-03-20", "--proposal", "RCP-3")  # fmt: skip
    action_id = re.search(r"action (\d+) added", added).group(1)  # type: ignore[union-attr]
    assert "1 overdue action(s)" in run(env, "overdue", "--now", "2026-03-21T09:00:00+08:00")
    assert "still missing: action" in run(env, "show", event_id)
    run(env, "action", event_id, action_id, "--status", "done")
    assert "[closed]" in run(env, "close", event_id, "-m", "四不放过 met")

    rows = list(csv.DictReader(io.StringIO(run(env, "export"))))
    assert [(r["event_id"], r["status"], r["proposal_id"]) for r in rows] == [
        (event_id, "closed", "RCP-3")
    ]
    assert "1 risk event(s)" in run(env, "list", "--status", "closed")


def test_verify_reports_a_broken_chain(store_url: str) -> None:
    alert = make_alert(severity="low")
    with AlertStore.open(store_url) as store:
        store.upsert(alert)
        store.comment(alert.alert_id, "first", by=who(store, "li.wei"))
    env = {"RISKMON_ALERT_STORE_URL": store_url}
    assert "alert history: intact" in run(env, "verify")
    with AlertStore.open(store_url) as store, store.engine.begin() as connection:
        connection.execute(history.update().values(comment="edited"))
    assert "alert history: BROKEN at entry" in run(env, "verify", code=1)
