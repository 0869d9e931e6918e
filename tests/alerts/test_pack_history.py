"""Two people for a pack change, in a hash-chained log in the alert store that cannot be rewritten
(issue 13 item 7, issue 12 item 6): proposer and approver are authenticated identities, over
SQLite and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from alerts.identity import Identity, Role
from alerts.pack_history import PackHistory, PackHistoryError
from alerts.store import AlertStore
from alerts.store.tables import pack_history
from riskmon.cli import app
from tests.alerts.alertkit import who

AT = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
runner = CliRunner()


def proposed(store: AlertStore) -> PackHistory:
    log = store.pack_history
    log.propose(
        who(store, "Alice.Wang"),
        version="riskmon-base@1.0.0",
        pack_hash="abc123",
        diff_summary="patch: 1 changed",
        ticket="CHG-1",
        at=AT,
    )
    return log


@pytest.mark.parametrize("approver", ["alice.wang", "  ALICE.WANG ", "Alice.Wang\t"])
def test_self_approval_is_refused_whatever_the_case_or_spacing(
    store: AlertStore, approver: str
) -> None:
    log = proposed(store)
    store.users.set_role("alice.wang", "supervisor")  # even a supervisor cannot approve her own
    with pytest.raises(PackHistoryError, match="cannot also approve"):
        log.approve(store.users.identity(approver), pack_hash="abc123", at=AT)
    assert not log.is_approved("abc123")


def test_a_free_text_or_forged_identity_is_not_enough(store: AlertStore) -> None:
    log = proposed(store)
    with pytest.raises(PackHistoryError, match="authenticated identity, not a name"):
        log.approve("Bob Li", pack_hash="abc123", at=AT)  # type: ignore[arg-type]
    forged = Identity(user_id="mallory", display_name="Mallory", role="admin")
    with pytest.raises(PackHistoryError, match="no user 'mallory'"):
        log.approve(forged, pack_hash="abc123", at=AT)
    officer = who(store, "carol.chen", "officer")
    with pytest.raises(PackHistoryError, match="may not approve packs"):
        log.approve(officer, pack_hash="abc123", at=AT)
    auditor = who(store, "dan.auditor", "auditor")
    with pytest.raises(PackHistoryError, match="may not propose packs"):
        log.propose(auditor, version="v", pack_hash="x", diff_summary="", ticket="T", at=AT)
    with pytest.raises(PackHistoryError, match="needs a ticket"):
        log.propose(officer, version="v", pack_hash="x", diff_summary="", ticket=" ", at=AT)
    assert len(log.entries()) == 1 and not log.is_approved("abc123")


def test_a_second_person_approves(store: AlertStore) -> None:
    log = proposed(store)
    entry = log.approve(who(store, " Bob.Li ", "supervisor"), pack_hash="abc123", at=AT)
    assert (entry.seq, entry.proposer, entry.approver, entry.ticket) == (
        2,
        "alice.wang",
        "bob.li",
        "CHG-1",
    )
    assert entry.version == "riskmon-base@1.0.0" and entry.diff_summary == "patch: 1 changed"
    assert entry.proposed_at == AT and entry.approved_at == AT
    assert log.is_approved("abc123") and log.verify() is None
    carol = who(store, "carol.chen", "admin")
    with pytest.raises(PackHistoryError, match="already approved"):
        log.approve(carol, pack_hash="abc123", at=AT)
    with pytest.raises(PackHistoryError, match="never proposed"):
        log.approve(carol, pack_hash="zzz", at=AT)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("approver", "alice.wang"),
        ("ticket", "CHG-666"),
        ("approved_at", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
def test_tampering_with_one_stored_row_breaks_the_chain_there(
    store: AlertStore, store_url: str, column: str, value: object
) -> None:
    log = proposed(store)
    log.approve(who(store, "bob.li", "supervisor"), pack_hash="abc123", at=AT)
    log.propose(
        who(store, "carol.chen"),
        version="v",
        pack_hash="def456",
        diff_summary="minor: 1 added",
        ticket="CHG-2",
        at=AT,
    )
    assert log.verify() is None
    with store.engine.begin() as connection:  # rewrite history in the database itself
        connection.execute(
            sa.update(pack_history).where(pack_history.c.seq == 2).values({column: value})
        )
    assert log.verify() == 2
    assert not log.is_approved("abc123")  # a broken log approves nothing
    result = runner.invoke(
        app, ["rules", "verify-history"], env={"RISKMON_ALERT_STORE_URL": store_url}
    )
    assert result.exit_code == 1
    assert "the chain breaks at entry 2" in result.output


def test_deleting_a_row_breaks_the_chain_at_the_next(store: AlertStore) -> None:
    log = proposed(store)
    log.approve(who(store, "bob.li", "supervisor"), pack_hash="abc123", at=AT)
    with store.engine.begin() as connection:
        connection.execute(sa.delete(pack_history).where(pack_history.c.seq == 1))
    assert log.verify() == 2


def token_env(store_url: str, name: str, role: Role) -> dict[str, str]:
    with AlertStore.open(store_url) as store:
        who(store, name, role)
        token = store.users.issue_token(name)
    return {"RISKMON_ALERT_STORE_URL": store_url, "RISKMON_TOKEN": token, "COLUMNS": "250"}


@pytest.mark.slow
def test_cli_propose_approve_history_verify(store_url: str, tmp_path: Path) -> None:
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("- override: large_cash_single\n  severity: high\n", encoding="utf-8")
    alice = token_env(store_url, "Alice.Wang", "officer")
    alice_again = token_env(store_url, " ALICE.WANG", "officer")  # a second token, same person
    bob = token_env(store_url, "bob.li", "supervisor")
    anonymous = {"RISKMON_ALERT_STORE_URL": store_url}
    result = runner.invoke(app, ["rules", "propose", str(tuned), "--ticket", "T"], env=anonymous)
    assert result.exit_code == 2 and "RISKMON_TOKEN" in result.output
    result = runner.invoke(app, ["rules", "propose", str(tuned), "--as", "Alice"], env=alice)
    assert result.exit_code == 2 and "No such option" in result.output  # no free-text names
    result = runner.invoke(app, ["rules", "propose", str(tuned)], env=alice)
    assert result.exit_code == 1 and "needs a ticket" in result.output
    result = runner.invoke(app, ["rules", "propose", str(tuned), "--ticket", "CHG-7"], env=alice)
    assert result.exit_code == 0, result.output
    assert "alice.wang proposed pack" in result.output and "(patch: 1 changed)" in result.output
    with AlertStore.open(store_url) as store:
        pack_hash = store.pack_history.entries()[0].pack_hash
    result = runner.invoke(app, ["rules", "approve", pack_hash], env=alice_again)
    assert result.exit_code == 1 and "may not approve" in result.output
    with AlertStore.open(store_url) as store:
        store.users.set_role("alice.wang", "supervisor")
    result = runner.invoke(app, ["rules", "approve", pack_hash], env=alice_again)
    assert result.exit_code == 1 and "cannot also approve" in result.output
    result = runner.invoke(app, ["rules", "approve", pack_hash], env=bob)
    assert result.exit_code == 0, result.output
    assert "bob.li approved pack" in result.output
    result = runner.invoke(app, ["rules", "history"], env=anonymous | {"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "CHG-7" in result.output and "bob.li 2026-" in result.output
    assert "+08:00" in result.output  # the bank's time zone
    result = runner.invoke(app, ["rules", "verify-history"], env=anonymous)
    assert result.exit_code == 0 and "2 entries, chain intact" in result.output


def test_worker_refuses_an_unapproved_pack_when_approval_is_required(
    store_url: str, tmp_path: Path
) -> None:
    import typer

    from monitor.rules.loader import load_rules
    from riskmon.rules_cli import require_approval
    from riskmon.settings import Settings

    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    env = {"RISKMON_REQUIRE_PACK_APPROVAL": "true", "RISKMON_ALERT_STORE_URL": missing}
    result = runner.invoke(app, ["worker"], env=env)
    assert result.exit_code == 2 and "no alert store at" in result.output
    AlertStore.open(store_url).close()  # an empty store: no approval in it
    env["RISKMON_ALERT_STORE_URL"] = store_url
    result = runner.invoke(app, ["worker"], env=env)
    assert result.exit_code == 2
    assert "has no approval by a second person" in result.output
    ruleset = load_rules()
    settings = Settings(require_pack_approval=True, alert_store_url=store_url)
    with AlertStore.open(store_url) as store:
        store.pack_history.propose(
            who(store, "alice.wang"),
            version=ruleset.version,
            pack_hash=ruleset.pack_hash,
            diff_summary="none",
            ticket="CHG-9",
            at=AT,
        )
        with pytest.raises(typer.Exit):
            require_approval(ruleset, settings)  # proposed is not approved
        store.pack_history.approve(
            who(store, "carol.chen", "supervisor"), pack_hash=ruleset.pack_hash, at=AT
        )
    require_approval(ruleset, settings)  # approved: the worker may start


@pytest.mark.slow
def test_with_api_url_the_cli_proposes_and_approves_over_http(
    store_url: str, tmp_path: Path
) -> None:
    """RISKMON_API_URL: propose, approve, history and verify-history go to the server as the
    token's user; no local store is opened."""
    import threading
    import time

    import httpx
    import uvicorn

    from alerts.api import create_app

    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("- override: large_cash_single\n  severity: high\n", encoding="utf-8")
    alice = token_env(store_url, "alice.wang", "officer")["RISKMON_TOKEN"]
    bob = token_env(store_url, "bob.li", "supervisor")["RISKMON_TOKEN"]
    store = AlertStore.open(store_url)
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    nowhere = tmp_path / "not-here.db"
    env = {
        "RISKMON_API_URL": base,
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{nowhere}",
        "COLUMNS": "250",
    }

    def rules(token: str, *args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["rules", *args], env=dict(env, RISKMON_TOKEN=token))
        return result.exit_code, result.output

    try:
        assert httpx.get(f"{base}/rule-packs/history").status_code == 401
        code, out = rules(alice, "propose", str(tuned), "--ticket", "CHG-8")
        assert code == 0 and "alice.wang proposed pack" in out, out
        pack_hash = store.pack_history.entries()[0].pack_hash
        code, out = rules(alice, "approve", pack_hash)
        assert code == 1 and "409" in out and "may not approve" in out
        code, out = rules(bob, "approve", pack_hash)
        assert code == 0 and "bob.li approved pack" in out, out
        code, out = rules(bob, "history")
        assert code == 0 and "CHG-8" in out and "bob.li 2026-" in out and "+08:00" in out
        code, out = rules(bob, "verify-history")
        assert code == 0 and "2 entries, chain intact" in out
        with store.engine.begin() as connection:
            connection.execute(
                sa.update(pack_history).where(pack_history.c.seq == 1).values(ticket="CHG-0")
            )
        code, out = rules(bob, "verify-history")
        assert code == 1 and "the chain breaks at entry 1" in out
        assert not store.pack_history.is_approved(pack_hash)  # a broken log approves nothing
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
    assert not nowhere.exists()
