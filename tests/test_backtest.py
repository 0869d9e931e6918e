"""Backtest: a threshold change shows exactly the alerts it adds and removes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.backtest import diff_alerts, run_rules
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example
from riskmon.cli import app
from tests.alerts.alertkit import who
from tests.shipped import shipped_rules

EVENTS = example_events(
    Example(
        events=[
            {
                "kind": "transaction",
                "txn_id": f"C{n}",
                "txn_type": "deposit",
                "channel": "counter",
                "amount": amount,
                "occurred_at": f"2026-03-03T1{n}:00:00+08:00",
            }
            for n, amount in enumerate(["52000", "58000", "61000", "30000"])
        ],
        expect=[],
    )
)


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


def test_nothing_to_compare_is_refused(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("")
    result = CliRunner().invoke(app, ["rules", "backtest", str(history)])
    assert result.exit_code == 2
    assert "nothing to compare" in result.output


@pytest.mark.slow
def test_raised_threshold_on_a_simulated_week_with_labels_and_decisions(tmp_path: Path) -> None:
    """Issue 13's "done when": a copy of the shipped pack with a higher large-cash threshold and
    a severity-only change, backtested against the baseline on a small simulated week."""
    import shutil
    from decimal import Decimal

    from alerts.store import AlertStore
    from monitor.simulator import SimConfig, simulate
    from streams.simfile import write_simulation

    sim = simulate(SimConfig(days=7, branches=3, customers_per_branch=200))
    events, labels = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    write_simulation(sim, events, labels)
    packs = Path(__file__).resolve().parents[1] / "monitor" / "rules" / "packs"
    baseline, candidate = tmp_path / "baseline", tmp_path / "candidate"
    for folder in (baseline, candidate):
        shutil.copytree(packs, folder, ignore=shutil.ignore_patterns("tests"))
    pack = candidate / "10_large_transfers.yaml"
    text = pack.read_text(encoding="utf-8")
    line = "threshold: {CNY: 50000, USD: 10000}"
    text = text.replace(line, line.replace("50000", "100000"), 1)
    daily = text.index("id: large_cash_daily")
    text = text[:daily] + text[daily:].replace("severity: medium", "severity: high", 1)
    pack.write_text(text.replace("version: 1.0.0", "version: 1.0.1"), encoding="utf-8")

    # The independent count: live CNY cash at a counter or ATM in [50,000, 100,000), per txn.
    removed_txns = {
        e.txn_id
        for e in sim.events
        if getattr(e, "txn_type", None) in ("deposit", "withdrawal")
        and e.channel in ("counter", "atm")
        and e.currency == "CNY"
        and e.status != "reversed"
        and Decimal(50000) <= e.amount < Decimal(100000)
    }
    assert removed_txns, "the simulated week must hold cash in the band the change removes"

    # Risk officers' decisions on the baseline alerts: one in the band confirmed, one false.
    before = run_rules(load_rules(), sim.events)
    in_band = [
        a
        for a in before
        if a.rule_id == "large_cash_single"
        and Decimal(50000) <= Decimal(str(a.explanation["amount"])) < Decimal(100000)
        and a.explanation.get("currency") == "CNY"
    ]
    assert len(in_band) == len(removed_txns)
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    with AlertStore.open(url) as store:
        store.upsert_many(before)
        confirmed = in_band[0]
        first, second = who(store, "officer-1"), who(store, "officer-2")
        store.acknowledge(confirmed.alert_id, by=first)
        store.resolve(confirmed.alert_id, by=first, comment="reported to PBOC")
        if len(in_band) > 1:
            store.acknowledge(in_band[1].alert_id, by=second)
            store.mark_false_positive(in_band[1].alert_id, by=second)

    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app,
        [
            "rules",
            "backtest",
            str(events),
            "--alone",
            "--before",
            str(baseline),
            "--after",
            str(candidate),
            "--labels",
            str(labels),
            "--store",
            url,
            "--report",
            str(report),
        ],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    daily_count = sum(1 for a in before if a.rule_id == "large_cash_daily")
    out = result.output
    row = next(line for line in out.splitlines() if "│ large_cash_single " in line)
    assert f"-{len(removed_txns)} " in row and "+0 " in row
    daily_row = next(line for line in out.splitlines() if "│ large_cash_daily " in line)
    assert "+0 " in daily_row and "-0 " in daily_row and f"~{daily_count} " in daily_row
    assert "~ large_cash_daily: severity medium -> high" in out
    assert f"{len(removed_txns)} removed" in out
    assert "past false positives removed: " + str(1 if len(in_band) > 1 else 0) in out
    assert f"WARNING: confirmed case lost: large_cash_single alert {confirmed.alert_id}" in out
    assert "precision (labels)" in out and "confirmed cases lost" in out
    assert "Alerts per day (UTC), before -> after" in out
    day_rows = [line for line in out.splitlines() if line.startswith("│ 2026-03-0")]
    assert len(day_rows) >= 5  # a simulated week, one row per day with alerts
    html = report.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2
    assert "Alert volume per day" in html and "confirmed case(s) would no longer raise" in html
