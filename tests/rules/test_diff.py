"""`riskmon rules diff`: every change, classified, and an understated version bump refused."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from monitor.rules.diff import SemanticDiff, diff_rulesets
from monitor.rules.loader import load_rules
from riskmon.cli import app

PACKS = Path(__file__).resolve().parents[2] / "monitor" / "rules" / "packs"
LARGE = "10_large_transfers.yaml"


def copy_packs(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(PACKS, target, ignore=shutil.ignore_patterns("tests"))
    return target


def edit(folder: Path, old: str, new: str, file: str = LARGE, count: int = 1) -> None:
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def bump(folder: Path, version: str, file: str = LARGE) -> None:
    edit(folder, "  version: 1.0.0", f"  version: {version}", file)


def diff(tmp_path: Path, new: Path) -> SemanticDiff:
    return diff_rulesets(
        load_rules([tmp_path / "old"], shipped=False), load_rules([new], shipped=False)
    )


def test_patch_threshold_severity_condition_field_by_field(tmp_path: Path) -> None:
    copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    edit(new, "threshold: {CNY: 50000, USD: 10000}", "threshold: {CNY: 60000, USD: 10000}")
    edit(
        new,
        "  severity: medium\n  tags: [pboc, large_value, cash, maturity",
        "  severity: high\n  tags: [pboc, large_value, cash, maturity",
    )
    bump(new, "1.0.1")
    result = diff(tmp_path, new)
    (rule,) = result.rules
    assert (rule.rule_id, rule.change, rule.level) == ("large_cash_single", "changed", "patch")
    assert [str(c) for c in rule.fields] == [
        "threshold.CNY: 50000 -> 60000",
        "severity: medium -> high",
    ]
    assert result.level == "patch" and result.refused == ()


def test_a_condition_window_message_and_enabled_change(tmp_path: Path) -> None:
    copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    edit(new, "      - {macro: is_cash}\n      - {macro: is_live}", "      - {macro: is_cash}")
    zone = "\n  timezone: Asia/Shanghai"
    edit(new, "  window: calendar_day" + zone, "  window: 24h" + zone)
    edit(new, '    en: "Large cash {txn_type}:', '    en: "Big cash {txn_type}:')
    bump(new, "2.0.0")
    edit(new, "  enabled: true", "  enabled: false", "40_after_hours.yaml")
    bump(new, "1.0.1", "40_after_hours.yaml")  # switching a control off is major: refused
    result = diff(tmp_path, new)
    by_id = {r.rule_id: r for r in result.rules}
    fields = [c.field for c in by_id["large_cash_single"].fields]
    assert fields == ["condition", "output.en"]
    assert by_id["large_cash_daily"].fields[0].field == "window"
    assert by_id["large_cash_daily"].fields[0].new == "P1D"
    assert by_id["after_hours_access"].level == "major"
    (refused,) = result.refused
    assert (refused.pack, refused.declared, refused.required) == (
        "riskmon-after-hours",
        "patch",
        "major",
    )


def test_minor_a_rule_added(tmp_path: Path) -> None:
    copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    text = (new / LARGE).read_text(encoding="utf-8")
    start = text.index("- rule: Single corporate transfer")
    end = text.index("- rule: Same-day cumulative corporate")
    block = text[start:end].replace("id: large_transfer_corporate_single", "id: huge_corporate")
    block = block.replace("- rule: Single corporate transfer", "- rule: Huge corporate transfer")
    (new / LARGE).write_text(text + "\n" + block, encoding="utf-8")
    bump(new, "1.1.0")
    result = diff(tmp_path, new)
    (rule,) = result.rules
    assert (rule.rule_id, rule.change, rule.level) == ("huge_corporate", "added", "minor")
    assert result.level == "minor" and result.refused == ()


def test_major_removed_renamed_and_category_changed(tmp_path: Path) -> None:
    copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    edit(new, "id: large_cash_single", "id: large_cash_one")
    rest = "\n  entity: account\n  condition:\n    all:\n      - {macro: is_cash}"
    edit(new, "  category: large_transfer" + rest, "  category: structuring" + rest)
    bump(new, "2.0.0")
    result = diff(tmp_path, new)
    by_id = {r.rule_id: r for r in result.rules}
    assert by_id["large_cash_one"].change == "renamed"
    assert by_id["large_cash_one"].renamed_from == "large_cash_single"
    assert by_id["large_cash_daily"].level == "major"
    assert [str(c) for c in by_id["large_cash_daily"].fields] == [
        "category: large_transfer -> structuring"
    ]
    assert result.level == "major" and result.refused == ()
    # a plain removal
    text = (new / LARGE).read_text(encoding="utf-8")
    start = text.index("- rule: Single corporate transfer")
    end = text.index("- rule: Same-day cumulative corporate")
    (new / LARGE).write_text(text[:start] + text[end:], encoding="utf-8")
    removed = diff(tmp_path, new)
    gone = [r for r in removed.rules if r.change == "removed"]
    assert [(r.rule_id, r.level) for r in gone] == [("large_transfer_corporate_single", "major")]


def test_command_refuses_an_understated_version_bump(tmp_path: Path) -> None:
    old = copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    edit(new, "id: large_cash_single", "id: large_cash_one")
    edit(new, "- rule: Single cash transaction reaches", "- rule: One cash transaction reaches")
    bump(new, "1.1.0")  # a removal needs 2.0.0
    result = CliRunner().invoke(app, ["rules", "diff", str(old), str(new)], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert "major removed large_cash_single  [pack riskmon-large-transfers]" in result.output
    assert "minor added   large_cash_one" in result.output
    assert (
        "pack riskmon-large-transfers: 1.0.0 -> 1.1.0 declares minor, the change requires "
        "major: REFUSED" in result.output
    )
    assert "refused: the version bump of riskmon-large-transfers is smaller" in result.output
    edit(new, "version: 1.1.0", "version: 2.0.0")
    result = CliRunner().invoke(app, ["rules", "diff", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "change: major: 1 added, 1 removed" in result.output


def test_an_unbumped_pack_is_refused_even_for_a_patch(tmp_path: Path) -> None:
    copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    edit(new, "threshold: {CNY: 50000, USD: 10000}", "threshold: {CNY: 60000, USD: 10000}")
    (refused,) = diff(tmp_path, new).refused
    assert (refused.declared, refused.required) == ("none", "patch")


def test_a_list_or_macro_change_is_a_patch_of_its_pack(tmp_path: Path) -> None:
    copy_packs(tmp_path, "old")
    new = copy_packs(tmp_path, "new")
    edit(
        new,
        "- list: home_countries\n  items: [CN]",
        "- list: home_countries\n  items: [CN, HK]",
        "00_base.yaml",
    )
    result = diff(tmp_path, new)
    (change,) = result.rules
    assert (change.rule_id, change.level, change.pack) == (
        "list home_countries",
        "patch",
        "riskmon-base",
    )
    assert str(change.fields[0]) == 'items: ["CN"] -> ["CN", "HK"]'
    (refused,) = result.refused  # riskmon-base still says 1.0.0
    assert refused.pack == "riskmon-base"
    bump(new, "1.0.1", "00_base.yaml")
    assert diff(tmp_path, new).refused == ()
