"""Two people for a pack change, in a hash-chained log that cannot be rewritten (issue 13)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.pack_history import PackHistory, PackHistoryError
from riskmon.cli import app

AT = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
PEOPLE = ["Alice Wang", "Bob Li", "Carol Chen"]


def proposed(tmp_path: Path) -> PackHistory:
    log = PackHistory(tmp_path / "history.jsonl", PEOPLE)
    log.propose(
        version="riskmon-base@1.0.0",
        pack_hash="abc123",
        diff_summary="patch: 1 changed",
        proposer="Alice Wang",
        ticket="CHG-1",
        at=AT,
    )
    return log


@pytest.mark.parametrize(
    "approver", ["Alice Wang", "alice wang", "  ALICE   WANG ", "Alice Wang\t"]
)
def test_self_approval_is_refused_whatever_the_case_or_spacing(
    tmp_path: Path, approver: str
) -> None:
    log = proposed(tmp_path)
    with pytest.raises(PackHistoryError, match="cannot also approve"):
        log.approve(pack_hash="abc123", approver=approver, at=AT)
    assert not log.is_approved("abc123")


def test_a_second_configured_person_approves(tmp_path: Path) -> None:
    log = proposed(tmp_path)
    with pytest.raises(PackHistoryError, match="not a configured identity"):
        log.approve(pack_hash="abc123", approver="Mallory", at=AT)
    entry = log.approve(pack_hash="abc123", approver=" bob li ", at=AT)
    assert (entry.seq, entry.proposer, entry.approver, entry.ticket) == (
        2,
        "Alice Wang",
        "bob li",
        "CHG-1",
    )
    assert entry.version == "riskmon-base@1.0.0" and entry.diff_summary == "patch: 1 changed"
    assert log.is_approved("abc123") and log.verify() is None
    with pytest.raises(PackHistoryError, match="already approved"):
        log.approve(pack_hash="abc123", approver="Carol Chen", at=AT)
    with pytest.raises(PackHistoryError, match="never proposed"):
        log.approve(pack_hash="zzz", approver="Carol Chen", at=AT)


def test_tampering_with_one_entry_breaks_the_chain_there(tmp_path: Path) -> None:
    log = proposed(tmp_path)
    log.approve(pack_hash="abc123", approver="Bob Li", at=AT)
    log.propose(
        version="v",
        pack_hash="def456",
        diff_summary="minor: 1 added",
        proposer="Carol Chen",
        ticket="CHG-2",
        at=AT,
    )
    assert log.verify() is None
    lines = log.path.read_text(encoding="utf-8").splitlines()
    second = json.loads(lines[1])
    second["approver"] = "Alice Wang"  # rewrite history: the proposer "approved" it herself
    lines[1] = json.dumps(second, sort_keys=True)
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert log.verify() == 2
    assert not log.is_approved("abc123")  # a broken log approves nothing
    result = CliRunner().invoke(app, ["rules", "verify-history", "--history", str(log.path)])
    assert result.exit_code == 1
    assert "the chain breaks at entry 2" in result.output


def test_cli_propose_approve_history_verify(tmp_path: Path) -> None:
    history = tmp_path / "h.jsonl"
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("- override: large_cash_single\n  severity: high\n", encoding="utf-8")
    env = {
        "RISKMON_IDENTITIES": ",".join(PEOPLE),
        "RISKMON_PACK_HISTORY": str(history),
        "COLUMNS": "250",
    }
    runner = CliRunner()
    result = runner.invoke(app, ["rules", "propose", str(tuned), "--as", "Alice Wang"], env=env)
    assert result.exit_code == 1 and "needs a ticket" in result.output
    result = runner.invoke(
        app, ["rules", "propose", str(tuned), "--as", "Alice Wang", "--ticket", "CHG-7"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "(patch: 1 changed)" in result.output
    pack_hash = json.loads(history.read_text().splitlines()[0])["pack_hash"]
    result = runner.invoke(app, ["rules", "approve", pack_hash, "--as", "ALICE WANG "], env=env)
    assert result.exit_code == 1 and "cannot also approve" in result.output
    result = runner.invoke(app, ["rules", "approve", pack_hash, "--as", "Bob Li"], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["rules", "history"], env=env)
    assert result.exit_code == 0
    assert "CHG-7" in result.output and "Bob Li" in result.output and "approve" in result.output
    result = runner.invoke(app, ["rules", "verify-history"], env=env)
    assert result.exit_code == 0 and "2 entries, chain intact" in result.output


def test_worker_refuses_an_unapproved_pack_when_approval_is_required(tmp_path: Path) -> None:
    import typer

    from monitor.rules.loader import load_rules
    from riskmon.rules_cli import require_approval
    from riskmon.settings import Settings

    history = tmp_path / "h.jsonl"
    env = {"RISKMON_REQUIRE_PACK_APPROVAL": "true", "RISKMON_PACK_HISTORY": str(history)}
    result = CliRunner().invoke(app, ["worker"], env=env)
    assert result.exit_code == 2
    assert "has no approval by a second person" in result.output
    ruleset = load_rules()
    log = PackHistory(history, PEOPLE)
    log.propose(
        version=ruleset.version,
        pack_hash=ruleset.pack_hash,
        diff_summary="none",
        proposer="Alice Wang",
        ticket="CHG-9",
        at=AT,
    )
    settings = Settings(require_pack_approval=True, pack_history=history)
    with pytest.raises(typer.Exit):
        require_approval(ruleset, settings)  # proposed is not approved
    log.approve(pack_hash=ruleset.pack_hash, approver="Carol Chen", at=AT)
    require_approval(ruleset, settings)  # approved: the worker may start
