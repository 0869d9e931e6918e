"""The loader reports every problem in one pass, at the right line, in plain text (issue 13)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner

from monitor.errors import RulePackErrors
from monitor.rules.loader import load_rules
from riskmon.cli import app

RULE = """\
- rule: Large cash at branch BR9
  id: {id}
  desc: test rule
  kind: condition
  category: large_transfer
  entity: transaction
  condition: {{field: channel, in: [counter]}}
  threshold: {{CNY: 1000, USD: 150}}
  output:
    en: "cash {{amount}}"
    zh-CN: "现金 {{amount}}"
  severity: low
"""


def write(tmp_path: Path, text: str, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def errors_of(*paths: Path) -> RulePackErrors:
    with pytest.raises(RulePackErrors) as info:
        load_rules(list(paths))
    return info.value


def test_duplicate_id_in_one_file_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, RULE.format(id="mine") + RULE.format(id="mine"))
    (error,) = errors_of(path).errors
    assert error.line == 14  # the second copy's id line
    assert error.item_id == "mine"
    assert "duplicate rule id 'mine': already defined at line 1" in str(error)


def test_reusing_a_shipped_id_needs_replace_and_then_warns(tmp_path: Path) -> None:
    silent = write(tmp_path, RULE.format(id="large_cash_single"))
    (error,) = errors_of(silent).errors
    assert error.line == 2
    assert "already defined at monitor/rules/packs/10_large_transfers.yaml:" in str(error)
    assert "replace: true" in str(error) and "override" in str(error)

    explicit = write(
        tmp_path, RULE.format(id="large_cash_single") + "  replace: true\n", "explicit.yaml"
    )
    ruleset = load_rules([explicit])
    (warning,) = [w for w in ruleset.warnings if w.item_id == "large_cash_single"]
    text = str(warning)
    assert text.startswith(f"warning: {explicit}:1: rule 'large_cash_single'")
    assert "replaces rule 'large_cash_single' from monitor/rules/packs/10_large_transfers" in text
    assert "its 5 example(s) (counter withdrawal of exactly CNY 50,000 is reportable;" in text
    assert "no longer run" in text
    assert ruleset.specs["large_cash_single"].threshold["CNY"] == 1000


def test_an_override_of_a_shipped_rule_warns_and_keeps_its_examples(tmp_path: Path) -> None:
    path = write(tmp_path, "- override: large_cash_single\n  severity: high\n")
    ruleset = load_rules([path])
    (warning,) = ruleset.warnings
    assert "overrides rule 'large_cash_single'" in str(warning) and "(severity)" in str(warning)
    assert len(ruleset.specs["large_cash_single"].examples) == 5


def test_all_errors_in_one_pass_each_at_its_line(tmp_path: Path) -> None:
    text = (
        RULE.format(id="first").replace("severity: low", "severty: low")
        + RULE.format(id="second").replace("kind: condition", "kind: conditon")
        + RULE.format(id="Bad-Id")
    )
    other = write(tmp_path, "- list: x\n  items: [a]\n- nonsense: true\n", "other.yaml")
    found = errors_of(write(tmp_path, text), other)
    lines = {(e.file, e.line, e.item_id): e.problem for e in found.errors}
    custom = str(tmp_path / "custom.yaml")
    assert lines[(custom, 12, "first")] == "unknown field 'severty' (did you mean 'severity'?)"
    assert lines[(custom, 16, "second")] == (
        "unknown rule kind 'conditon' (did you mean 'condition'?); "
        "expected one of condition, aggregate, sequence, schedule"
    )
    assert lines[(custom, 26, "Bad-Id")].startswith(
        "String should match pattern '^[a-z][a-z0-9_]*$'"
    )
    assert (str(other), 3, None) in lines
    assert len(found.errors) == 4
    assert str(found).count("\n") == 3  # one line per error


def test_convert_to_error_is_explained_at_the_threshold_line(tmp_path: Path) -> None:
    path = write(tmp_path, RULE.format(id="cny_only").replace("CNY: 1000, USD: 150", "CNY: 1000"))
    (error,) = errors_of(path).errors
    assert error.line == 8 and error.field == "threshold"
    assert "amounts in CNY only" in error.problem
    assert "converted to convert_to 'USD' (the default for a condition rule)" in error.problem
    assert "Add a USD amount to the threshold, or set convert_to to one of CNY" in error.problem
    explicit = write(tmp_path, RULE.format(id="cny_only").replace(
        "CNY: 1000, USD: 150}", "CNY: 1000}\n  convert_to: EUR"), "b.yaml")  # fmt: skip
    (error,) = errors_of(explicit).errors
    assert error.line == 9 and error.field == "convert_to"
    fixed = write(tmp_path, RULE.format(id="cny_only").replace(
        "CNY: 1000, USD: 150}", "CNY: 1000}\n  convert_to: CNY"), "c.yaml")  # fmt: skip
    assert "cny_only" in load_rules([fixed]).specs


def test_unused_macro_and_list_and_a_rule_that_never_matches_warn(tmp_path: Path) -> None:
    text = RULE.format(id="never").replace(
        "condition: {field: channel, in: [counter]}",
        "condition:\n    all:\n      - {field: channel, eq: counter}\n"
        "      - {field: channel, in: [atm, wire]}",
    ) + dedent(
        """\
        - macro: spare
          condition: {field: channel, eq: atm}
        - list: spare_list
          items: [a]
        """
    )
    ruleset = load_rules([write(tmp_path, text)])
    messages = {(w.line, w.problem) for w in ruleset.warnings}
    assert (7, "this rule can never match: channel cannot pass all of its tests at once") in (
        messages
    )
    assert (16, "macro 'spare' is never used") in messages
    assert (18, "list 'spare_list' is never used") in messages
    assert load_rules().warnings == ()  # the shipped packs are clean


def test_never_matching_through_a_false_macro_and_an_empty_range(tmp_path: Path) -> None:
    text = (
        RULE.format(id="switched_off").replace(
            "condition: {field: channel, in: [counter]}", "condition: {macro: nothing}"
        )
        + "- macro: nothing\n  condition: false\n"
    )
    text += RULE.format(id="range").replace(
        "condition: {field: channel, in: [counter]}",
        "condition: {all: [{field: amount, gt: 500}, {field: amount, lte: 100}]}",
    )
    warnings = {w.item_id: w.problem for w in load_rules([write(tmp_path, text)]).warnings}
    assert (
        warnings["switched_off"]
        == "this rule can never match: macro 'nothing': its condition is false"
    )
    assert warnings["range"] == "this rule can never match: amount must be above 500 and below 100"


def test_cli_prints_every_message_in_plain_text(tmp_path: Path) -> None:
    typo = RULE.format(id="x").replace("kind: condition", "kind: conditon")
    path = write(tmp_path, RULE.format(id="Bad-Id") + typo)
    result = CliRunner().invoke(app, ["rules", "validate", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "String should match pattern '^[a-z][a-z0-9_]*$'" in result.output
    assert "did you mean 'condition'?" in result.output
    assert "rule pack rejected: 2 error(s), 0 warning(s)" in result.output


def test_an_example_that_no_longer_exercises_its_rule_warns(tmp_path: Path) -> None:
    from monitor.rule_examples import example_warnings

    exception = write(
        tmp_path,
        "- macro: user_known_large_transfer_exceptions\n"
        "  condition: {field: branch_id, eq: BR001}\n",
    )
    warnings = example_warnings(load_rules([exception]), load_rules())
    cash = [w for w in warnings if "rule 'large_cash_single': example 3 " in w]
    assert cash == [
        "warning: monitor/rules/packs/10_large_transfers.yaml:38: rule 'large_cash_single': "
        "example 3 (EUR 9,000 is about USD 9,824 and below the foreign-currency line) no longer "
        "exercises the rule: none of its events passes the rule's condition any more"
    ]
    assert example_warnings(load_rules(), load_rules()) == []
    result = CliRunner().invoke(app, ["rules", "validate", str(exception)], env={"COLUMNS": "300"})
    assert result.exit_code == 0
    assert "no longer exercises the rule" in result.output


def test_a_misspelt_kind_does_not_hide_the_rule_s_other_errors(tmp_path: Path) -> None:
    text = RULE.format(id="Bad-Id").replace("kind: condition", "kind: conditon")
    text = text.replace("severity: low", "severity: lowish")
    found = errors_of(write(tmp_path, text))
    assert [(e.line, e.field) for e in found.errors] == [(4, "kind"), (2, "id"), (12, "severity")]
