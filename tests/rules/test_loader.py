"""Rule packs: a bad file is rejected at load with file, line, rule id and field path."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from monitor.engine import Engine
from monitor.errors import RulePackError
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example

GOOD_RULE = """\
- rule: Large cash at branch BR9
  id: my_rule
  desc: test rule
  kind: condition
  category: large_transfer
  entity: transaction
  condition:
    all:
      - {field: channel, in: [counter]}
      - {macro: is_cash}
  threshold: {CNY: 1000, USD: 150}
  output:
    en: "cash {amount}"
    zh-CN: "现金 {amount}"
  severity: low
"""


def write(tmp_path: Path, text: str, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> RulePackError:
    with pytest.raises(RulePackError) as info:
        load_rules([path])
    return info.value


def test_good_auditor_rule_loads(tmp_path: Path) -> None:
    ruleset = load_rules([write(tmp_path, GOOD_RULE)])
    assert "my_rule" in {r.id for r in ruleset.rules}
    assert ruleset.rules[-1].meta.pack_version == "custom@local"


def test_typo_in_a_field_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_RULE.replace("severity: low", "severty: low"))
    error = load_error(path)
    assert error.file == str(path)
    assert error.item_id == "my_rule"
    assert error.field == "severty"
    assert error.line == 15
    assert str(error) == (
        f"{path}:15: rule 'my_rule': severty: unknown field 'severty' (did you mean 'severity'?)"
    )


def test_unknown_operator(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_RULE.replace("in: [counter]", "inn: [counter]"))
    error = load_error(path)
    assert error.item_id == "my_rule"
    assert error.field == "condition.all[0].inn"
    assert error.line == 9
    assert "unknown operator 'inn'" in str(error)


def test_bad_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_RULE.replace("  desc: test rule", "  desc: [unclosed"))
    error = load_error(path)
    assert error.file == str(path)
    assert error.line is not None
    assert "invalid YAML" in str(error)


def test_unknown_field_in_condition(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, GOOD_RULE.replace("field: channel", "field: chanel")))
    assert error.field == "condition.all[0].field"
    assert "unknown field 'chanel'" in str(error)


def test_value_a_field_can_never_take(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, GOOD_RULE.replace("in: [counter]", "in: [countr]")))
    assert "'channel' can never be 'countr'" in str(error)


def test_unknown_macro_and_list(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, GOOD_RULE.replace("macro: is_cash", "macro: is_cahs")))
    assert error.field == "condition.all[1].macro"
    assert "unknown macro 'is_cahs'" in str(error)
    error = load_error(
        write(tmp_path, GOOD_RULE.replace("in: [counter]", "in_list: counters"), "b.yaml")
    )
    assert "unknown list 'counters'" in str(error)


def test_wrong_type(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, GOOD_RULE.replace("{CNY: 1000,", "{CNY: lots,")))
    assert error.field == "threshold.CNY"
    assert error.item_id == "my_rule"


def test_unknown_placeholder_in_message(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, GOOD_RULE.replace('"cash {amount}"', '"cash {amout}"')))
    assert error.field == "output.en"
    assert "amout" in str(error)


def test_missing_translation(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, GOOD_RULE.replace('    zh-CN: "现金 {amount}"\n', "")))
    assert "zh-CN" in str(error)


def test_error_inside_a_macro_points_at_the_macro(tmp_path: Path) -> None:
    text = GOOD_RULE.replace("macro: is_cash", "macro: mine") + dedent(
        """\
        - macro: mine
          condition: {field: amount, between: 3}
        """
    )
    error = load_error(write(tmp_path, text))
    assert error.line == 17
    assert "macro 'mine'" in str(error)
    assert "unknown operator 'between'" in str(error)


def test_a_bad_file_never_half_loads(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD_RULE, "a.yaml")
    write(tmp_path, "- list: x\n  items: [1]\n- nonsense: true\n", "b.yaml")
    with pytest.raises(RulePackError, match=r"b\.yaml:3"):
        load_rules([tmp_path])
    assert load_rules([good]).rules  # the good file alone still loads


def txn(amount: str, **extra: str) -> Example:
    return Example(
        events=[
            {
                "kind": "transaction",
                "txn_type": "withdrawal",
                "channel": "counter",
                "amount": amount,
                **extra,
            }
        ],
        expect=[],
    )


def alerts_for(ruleset_paths: list[Path], example: Example) -> list[str]:
    engine = Engine(load_rules(ruleset_paths))
    out = [a.rule_id for e in example_events(example) for a in engine.process(e)]
    return out + [a.rule_id for a in engine.flush()]


def test_auditor_overrides_an_exceptions_macro(tmp_path: Path) -> None:
    example = txn("60000", branch_id="BR-VAULT")
    assert alerts_for([], example) == ["large_cash_single"]
    override = write(
        tmp_path,
        """\
        - macro: user_known_large_transfer_exceptions
          condition: {field: branch_id, eq: BR-VAULT}
        """,
    )
    assert alerts_for([override], example) == []


def test_auditor_disables_or_retunes_a_rule_by_id(tmp_path: Path) -> None:
    disable = write(tmp_path, "- override: large_cash_single\n  enabled: false\n", "d.yaml")
    assert alerts_for([disable], txn("60000")) == []
    retune = write(
        tmp_path, "- override: large_cash_single\n  threshold: {CNY: 80000, USD: 12000}\n"
    )
    assert alerts_for([retune], txn("60000")) == []
    assert alerts_for([retune], txn("80000")) == ["large_cash_single"]


def test_override_of_unknown_rule(tmp_path: Path) -> None:
    error = load_error(write(tmp_path, "- override: no_such_rule\n  enabled: false\n"))
    assert "unknown rule 'no_such_rule'" in str(error)


def test_approved_overtime_suppresses_after_hours(tmp_path: Path) -> None:
    late = Example(
        events=[
            {
                "kind": "operator_action",
                "operator_id": "op-7",
                "action": "login",
                "occurred_at": "2026-03-03T21:00:00+08:00",
            }
        ],
        expect=[],
    )
    assert alerts_for([], late) == ["after_hours_access"]
    overtime = write(
        tmp_path,
        """\
        - override: after_hours_access
          overtime:
            - {operator_id: op-7, start: "2026-03-03T18:00:00+08:00",
               end: "2026-03-03T23:00:00+08:00", ticket: OT-42}
        """,
    )
    assert alerts_for([overtime], late) == []


def test_pack_hash_changes_with_content(tmp_path: Path) -> None:
    base = load_rules()
    tuned = load_rules([write(tmp_path, "- list: home_countries\n  items: [CN, HK]\n")])
    assert base.pack_hash != tuned.pack_hash
    assert load_rules().pack_hash == base.pack_hash
