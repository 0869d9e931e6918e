"""The embedded monitor's acceptance, through the CLI and files as a user runs it.

`riskmon simulate` writes a week of a 20-branch bank with labels; `riskmon replay` writes alerts;
the test reads both files back.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.alerts import Alert
from monitor.scoring import rule_recall, unexplained
from riskmon.cli import app

pytestmark = pytest.mark.slow


def simulate_and_replay(tmp_path: Path, *args: str) -> tuple[list[dict], list[Alert]]:
    runner = CliRunner()
    result = runner.invoke(app, ["simulate", "--out-dir", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    alerts_path = tmp_path / "alerts.jsonl"
    result = runner.invoke(
        app, ["replay", str(tmp_path / "events.jsonl"), "--alerts-out", str(alerts_path)]
    )
    assert result.exit_code == 0, result.output
    labels = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    alerts = [Alert.from_json(line) for line in alerts_path.read_text().splitlines()]
    return labels, alerts


def test_a_simulated_week_detects_every_injected_violation(tmp_path: Path) -> None:
    labels, alerts = simulate_and_replay(tmp_path, "--days", "7", "--branches", "20")
    rows = rule_recall(labels, alerts)
    kinds = {(r.category, r.reason) for r in rows}
    assert {
        ("dual_review", "missing"),
        ("dual_review", "self_approval"),
        ("dual_review", "unauthorised_reviewer"),
        ("dual_review", "late"),
        ("large_transfer", None),
        ("structuring", None),
        ("after_hours", None),
    } <= kinds
    assert all(row.recall == 1.0 for row in rows), [r for r in rows if r.missed]
    assert unexplained(labels, alerts) == []


def test_without_injection_only_genuine_large_transfers_alert(tmp_path: Path) -> None:
    labels, alerts = simulate_and_replay(
        tmp_path, "--days", "7", "--branches", "6", "--inject-rate", "0"
    )
    assert {a.category for a in alerts} == {"large_transfer"}
    genuine = {
        e for label in labels if label["category"] == "large_transfer" for e in label["event_ids"]
    }
    assert all(label["injected"] is False for label in labels)
    assert all(set(a.event_ids) & genuine for a in alerts)
