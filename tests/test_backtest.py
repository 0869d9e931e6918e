"""Backtest: a threshold change shows exactly the alerts it adds and removes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from monitor.backtest import diff_alerts, run_rules
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example
from riskmon.cli import app
from tests.shipped import shipped_rules

EVENTS = example_events(
    Example(
        events=[
            {"kind": "transaction", "txn_id": f"C{n}", "txn_type": "deposit", "channel": "counter",
             "amount": amount, "occurred_at": f"2026-03-03T1{n}:00:00+08:00"}
            for n, amount in enumerate(["52000", "58000", "61000", "30000"])
        ],
        expect=[],
    )
)  # fmt: skip


def test_raising_a_threshold_removes_exactly_the_alerts_below_it(tmp_path: Path) -> None:
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("- override: large_cash_single\n  threshold: {CNY: 60000, USD: 12000}\n")
    before = run_rules(shipped_rules(), EVENTS)
    after = run_rules(load_rules([tuned]), EVENTS)
    diff = diff_alerts(before, after)
    (change,) = [c for c in diff.by_rule if c.rule_id == "large_cash_single"]
    assert (change.before, change.after) == (3, 1)
    assert [a.event_ids for a in change.removed] == [("ex-1",), ("ex-2",)]
    assert change.added == ()
    # The cumulative rule sums only transactions below *its own* line (CNY 50,000), so the
    # two deposits are no longer reported at all: the backtest makes that visible.
    assert not any(c.rule_id == "large_cash_daily" for c in diff.by_rule)
    assert diff.added == 0 and diff.removed == 2


def test_backtest_command_prints_the_diff(tmp_path: Path) -> None:
    from monitor.events import encode_event

    history = tmp_path / "history.jsonl"
    history.write_text("".join(encode_event(e) + "\n" for e in EVENTS))
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("- override: large_cash_single\n  threshold: {CNY: 60000, USD: 12000}\n")
    result = CliRunner().invoke(
        app, ["rules", "backtest", str(history), "--after", str(tuned)], env={"COLUMNS": "120"}
    )
    assert result.exit_code == 0, result.output
    assert "0 alerts added, 2 removed" in result.output
    assert "- large_cash_single: Large cash deposit: 52,000.00 CNY" in result.output
