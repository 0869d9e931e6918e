"""The simulated month with operational incidents: recall, false alarms and outage delay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.ops_eval import run_ops_eval


@pytest.mark.slow
def test_operations_alerts_on_a_small_simulated_month() -> None:
    report, _ = run_ops_eval(days=18, branches=4, seed=11, rate=0.3)
    assert report.incidents >= 6
    assert report.recall >= 0.9, report.to_dict()
    assert report.false_per_branch_day <= 1 / 20, report.to_dict()
    outage = report.median_delay("outage")
    assert outage is not None and outage <= 15.0, report.to_dict()


@pytest.mark.slow
def test_riskmon_eval_reports_operations_and_holds_the_targets(tmp_path: Path) -> None:
    from riskmon.cli import app

    figures = tmp_path / "eval.json"
    month = ["--days", "18", "--branches", "4", "--seed", "11", "--customers", "60"]
    out = ["--png", str(tmp_path / "e.png"), "--json", str(figures)]
    args = ["eval", *month, "--ops-rate", "0.3", *out]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "operations alerts against injected incidents" in result.output
    ops = json.loads(figures.read_text(encoding="utf-8"))["operations"]
    assert ops["incidents"] >= 6
    assert ops["recall"] >= 0.9, ops
    assert ops["false_alarms_per_branch_day"] <= 1 / 20, ops
    assert ops["median_delay_minutes"]["outage"] <= 15.0, ops
