"""Rule test files (promtool-style) and file:line for failing examples (issue 13, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.rule_tests import parse_offset, run_test_file, shipped_test_files
from monitor.rules.loader import shipped_pack_texts
from riskmon.cli import app

TEXTS = shipped_pack_texts()
SHIPPED = [
    pytest.param(path, result, id=f"{path.name}:{result.line}")
    for path in shipped_test_files()
    for result in run_test_file(path, TEXTS)
]


def test_the_shipped_packs_come_with_test_files_for_the_edges() -> None:
    names = {path.name for path in shipped_test_files()}
    assert {"10_large_transfers.yaml", "30_dual_review.yaml", "40_after_hours.yaml"} <= names
    titles = " | ".join(result.name for _path, result in (p.values for p in SHIPPED))
    for edge in (
        "exactly at",
        "one cent below",
        "one second before the deadline",
        "one second after the deadline",
        "make-up working day",
        "overtime window",
        "across midnight in Asia/Shanghai",
    ):
        assert edge in titles


@pytest.mark.parametrize(("path", "result"), SHIPPED)
def test_shipped_rule_test(path: Path, result: object) -> None:
    from monitor.rule_tests import RuleTestResult

    assert isinstance(result, RuleTestResult)
    assert result.passed, f"{result.where} {result.name}\n{result.diff}"


WRONG = """\
- setup:
    rules: [large_cash_single]
    start: "2026-03-03T10:00:00+08:00"
- test: a deliberately wrong expectation
  events:
    - {at: 0s, txn_type: withdrawal, channel: counter, amount: "50000.00"}
    - {at: +1h, txn_type: withdrawal, channel: counter, amount: "49999.99"}
  expect:
    - {at: +1h, rule_id: large_cash_single, severity: high}
- test: expects nothing, gets one
  events:
    - {at: -1s, txn_type: deposit, channel: atm, amount: "60000"}
  expect: []
"""


def test_a_wrong_expectation_fails_with_a_readable_diff(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(WRONG, encoding="utf-8")
    first, second = run_test_file(path, TEXTS)
    assert not first.passed and first.where == f"{path}:4"
    assert first.diff.splitlines() == [
        "--- expected",
        "+++ got",
        "@@ -1 +1 @@",
        "-at=+1h rule_id=large_cash_single severity=high",
        "+at=0s rule_id=large_cash_single severity=medium",
    ]
    assert not second.passed and second.where == f"{path}:10"
    assert "+at=-1s rule_id=large_cash_single" in second.diff
    assert "(expected no alert)" in second.diff


def test_a_bad_test_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(WRONG.replace("advance", "x").replace("  expect: []\n", "  expcet: []\n"))
    (result,) = run_test_file(path, TEXTS)
    assert not result.passed and result.line == 13
    assert "expcet" in result.diff


def test_rules_test_command_runs_test_files_and_shows_where_examples_fail(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "tuned.yaml").write_text(
        "- override: large_cash_single\n  threshold: {CNY: 60000, USD: 10000}\n"
    )
    (rules / "tests" / "wrong.yaml").write_text(WRONG, encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "test", str(rules)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    out = result.output
    # the shipped example "exactly CNY 50,000" now fails, and says where it is written
    assert "FAIL monitor/rules/packs/10_large_transfers.yaml:30: large_cash_single example 1" in (
        out
    )
    assert "expected 1 alert(s), got 0" in out
    assert f"FAIL {rules}/tests/wrong.yaml:4: test 'a deliberately wrong expectation'" in out
    assert "-at=+1h rule_id=large_cash_single severity=high" in out
    assert "test file(s))" in out


def test_offsets() -> None:
    assert parse_offset("0s").total_seconds() == 0
    assert parse_offset("-1s").total_seconds() == -1
    assert parse_offset("+1d2h3m4s").total_seconds() == 93784
    with pytest.raises(ValueError, match="time offset"):
        parse_offset("tomorrow")


def test_shipped_test_files_pass_from_the_command_line() -> None:
    result = CliRunner().invoke(app, ["rules", "test"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert ", 0 failed (" in result.output
