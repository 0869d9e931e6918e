"""``riskmon alerts``: a risk officer's day, over SQLite and the real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.alerts_cli import alerts_app
from tests.alerts.alertkit import make_alert

runner = CliRunner()


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    return {"RISKMON_ALERT_STORE_URL": store_url, "COLUMNS": "250"}


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

    run(env, "ack", first.alert_id, "--by", "li.wei", "--comment", "calling the branch")
    run(env, "resolve", first.alert_id, "--by", "li.wei", "-m", "customer confirmed fraud")
    run(env, "ack", third.alert_id, "--by", "li.wei")
    run(env, "false-positive", third.alert_id, "--by", "li.wei", "-m", "payroll batch")
    refused = run(env, "resolve", second.alert_id, "--by", "li.wei", code=1)
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
    added = run(
        env, "silence", "add", "--by", "zhang.min", "--reason", "branch drill",
        "--ticket", "CHG-1234", "--branch", "BR001", "--rule", "large_transfer_over_limit",
        "--duration", "90m",
    )  # fmt: skip
    silence_id = added.split()[1]
    assert "pending approval" in added
    assert silence_id not in run(env, "silence", "list")
    assert "pending approval" in run(env, "silence", "list", "--show", "all")
    refused = run(env, "silence", "approve", silence_id, "--by", "zhang.min", code=1)
    assert "cannot approve" in refused
    assert "approved" in run(env, "silence", "approve", silence_id, "--by", "wang.fang")
    listed = run(env, "silence", "list")
    assert silence_id in listed and "CHG-1234" in listed and "active" in listed

    assert "expired" in run(env, "silence", "expire", silence_id, "--by", "li.wei")
    assert silence_id not in run(env, "silence", "list")
    assert "ended" in run(env, "silence", "list", "--show", "all")


def test_bad_input_is_reported(env: dict[str, str], tmp_path: Path) -> None:
    assert "no alert with id 'nope'" in run(env, "show", "nope", code=1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(make_alert().to_json() + "\n{}\n")
    assert "bad.jsonl:2" in run(env, "ingest", str(bad), code=2)
    missing_ticket = run(
        env, "silence", "add", "--by", "a", "--reason", "r", "--ticket", " ", "--branch", "B",
        code=1,
    )  # fmt: skip
    assert "non-empty ticket" in missing_ticket
    assert "e.g. 2h" in run(
        env, "silence", "add", "--by", "a", "--reason", "r", "--ticket", "T", "--duration", "2w",
        code=2,
    )  # fmt: skip
