"""Identity and reference data that cannot collide (issue 11, item 2).

Repeated event ids, alert ids across entities, unknown currencies, oversized and non-UTF-8 dead
letters: each case found when riskmon was tried as a new user would ends in a dead letter with a
reason, a counted drop, or a distinct alert.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert
from monitor.currency import CurrencyGate, parse_rates
from monitor.dedup import EventDeduplicator, admission
from monitor.engine import Engine
from monitor.errors import EventDecodeError
from monitor.events import decode_event
from monitor.excerpt import MAX_EXCERPT_BYTES
from streams.replay import DeadLetter, SourceLine, load_state, replay, save_state
from tests.shipped import shipped_rules

RULES = shipped_rules()
TXN = {
    "kind": "transaction",
    "event_id": "e1",
    "occurred_at": "2026-03-03T10:00:00+08:00",
    "branch_id": "BR001",
    "txn_id": "T1",
    "account_id": "6222020200001111",
    "account_type": "individual",
    "amount": "90000",
    "currency": "CNY",
    "direction": "debit",
    "channel": "counter",
    "txn_type": "withdrawal",
    "initiator_id": "op-t1",
    "status": "posted",
}


def line(**change: Any) -> str:
    return json.dumps({**TXN, **change})


def run(
    texts: list[str], admit: Any = None, state: dict[str, Any] | None = None
) -> tuple[list[Alert], list[DeadLetter], Any]:
    alerts: list[Alert] = []
    dead: list[DeadLetter] = []
    engine = Engine(RULES, state)
    source = [SourceLine("mem", i, text) for i, text in enumerate(texts, start=1)]
    stats = replay(source, engine, alerts.append, dead.append, admit=admit)
    return alerts, dead, stats


def screen(state: dict[str, Any] | None = None, **bounds: Any) -> Any:
    dedup = EventDeduplicator(state, **bounds)
    return admission(CurrencyGate.from_rules(RULES.rules).check, dedup=dedup), dedup


# --- alert ids include the entity ---------------------------------------------------------


def test_two_accounts_sharing_an_event_id_get_two_alerts_with_distinct_ids() -> None:
    """The issue's case: without the entity in the id, the second 90,000 CNY alert was lost."""
    second = line(txn_id="T2", account_id="6222020200002222")
    alerts, dead, _ = run([line(), second])
    cash = [a for a in alerts if a.rule_id == "large_cash_single"]
    assert len(cash) == 2 and not dead
    assert cash[0].alert_id != cash[1].alert_id
    assert {a.event_ids for a in cash} == {("e1",)}


def test_with_the_screen_the_reused_id_is_a_dead_letter_never_a_silent_loss() -> None:
    admit, dedup = screen()
    second = line(txn_id="T2", account_id="6222020200002222")
    alerts, dead, stats = run([line(), second], admit)
    assert [a.rule_id for a in alerts if a.category == "large_transfer"] == ["large_cash_single"]
    assert [(d.line, d.reason) for d in dead] == [(2, "duplicate_event_id")]
    assert "e1" in dead[0].detail and dedup.collisions == 1
    assert stats.dead_by_reason == {"duplicate_event_id": 1}


# --- repeated event ids -----------------------------------------------------------------


def test_a_redelivery_is_dropped_once_and_counted() -> None:
    admit, dedup = screen()
    # The same event re-serialised (other key order, other offset for the same instant).
    again = json.dumps(dict(reversed(list({**TXN, "occurred_at": "2026-03-03T02:00:00Z"}.items()))))
    alerts, dead, stats = run([line(), again, line()], admit)
    once, _, _ = run([line()])
    assert [a.alert_id for a in alerts] == [a.alert_id for a in once]
    assert stats.redeliveries == 2 == dedup.redeliveries and stats.events == 1 and not dead


def test_dedup_memory_is_bounded_by_event_time_window_and_size() -> None:
    dedup = EventDeduplicator(window_seconds=3600, max_entries=50)
    for minute in range(0, 600, 5):  # ten hours, one event every 5 minutes
        hour, rest = divmod(minute, 60)
        event = decode_event(
            line(event_id=f"e{minute}", occurred_at=f"2026-03-03T{hour:02d}:{rest:02d}:00+08:00")
        )
        assert dedup.admit(event)
    assert len(dedup) <= 13  # one hour of 5-minute events (and the newest)
    small = EventDeduplicator(window_seconds=10**9, max_entries=50)
    for n in range(500):
        small.admit(decode_event(line(event_id=f"x{n}")))
    assert len(small) == 50
    assert "x499" in small.state and "x0" not in small.state


def test_dedup_state_survives_a_save_and_load(tmp_path: Path) -> None:
    """Replay's --state carries the memory: a redelivery across the split is still caught."""
    state: dict[str, Any] = {}
    admit, _ = screen(state.setdefault("__dedup__", {}))
    engine_state: dict[str, Any] = state
    run([line()], admit, engine_state)
    path = tmp_path / "state.json"
    save_state(path, engine_state)
    loaded = load_state(path)
    admit2, dedup2 = screen(loaded["__dedup__"])
    alerts, dead, stats = run([line(), line(amount="1")], admit2, loaded)
    assert stats.redeliveries == 1 and dedup2.redeliveries == 1
    assert [d.reason for d in dead] == ["duplicate_event_id"] and not alerts


# --- currencies ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["XYZ", "BTC", "XXX"])
def test_codes_outside_iso_4217_are_schema_dead_letters(code: str) -> None:
    alerts, dead, _ = run([line(currency=code, amount="60000")])
    assert not alerts
    assert [d.reason for d in dead] == ["schema"] and "ISO 4217" in dead[0].detail


def test_an_iso_currency_without_a_rate_is_dead_lettered_unknown_currency() -> None:
    admit, _ = screen()
    alerts, dead, _ = run([line(currency="NGN", amount="60000000")], admit)
    assert not alerts
    assert [d.reason for d in dead] == ["unknown_currency"] and "NGN" in dead[0].detail
    usd, dead_usd, _ = run([line(currency="USD", amount="20000")], admit)
    assert not dead_usd and [a.rule_id for a in usd] == ["large_cash_single"]


@pytest.mark.slow
def test_rates_file_setting_adds_a_currency(tmp_path: Path) -> None:
    rates = tmp_path / "rates.yaml"
    rates.write_text("base: CNY\nrates: {USD: 7.10, NGN: 0.0045}\n", encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(line(currency="NGN", amount="20000000") + "\n", encoding="utf-8")
    out = tmp_path / "alerts.jsonl"
    dead = tmp_path / "dead.jsonl"
    cmd = [sys.executable, "-m", "riskmon.cli", "replay", str(events), "--alerts-out", str(out)]
    cmd += ["--dead-letter", str(dead)]
    without = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert without.returncode == 0, without.stderr
    assert json.loads(dead.read_text())["reason"] == "unknown_currency"
    env = {"RISKMON_CURRENCY_RATES_FILE": str(rates), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    # 20,000,000 NGN x 0.0045 = 90,000 CNY: a large cash withdrawal once a rate is known.
    assert [json.loads(x)["rule_id"] for x in out.read_text().splitlines()] == ["large_cash_single"]
    assert dead.read_text() == ""


def test_bad_rates_are_refused_with_the_field() -> None:
    assert parse_rates({"base": "CNY", "rates": {"USD": "7.1"}}) == ("CNY", {"USD": Decimal("7.1")})
    for data, fragment in [
        ({"base": "CNY"}, "exactly the keys"),
        ({"base": "BTC", "rates": {"USD": 1}}, "base"),
        ({"base": "CNY", "rates": {"USD": -1}}, "rates.USD"),
        ({"base": "CNY", "rates": {"USD": "x"}}, "rates.USD"),
        ({"base": "CNY", "rates": {"USD": True}}, "rates.USD"),
    ]:
        with pytest.raises(ValueError, match=fragment):
            parse_rates(data)


# --- dead letters: bounded, always writable ---------------------------------------------------


def test_an_oversized_line_keeps_an_excerpt_its_size_and_hash() -> None:
    big = line(note="x" * 2_000_000)
    _, (letter,), _ = run([big])
    assert letter.reason == "too_large"
    record = json.loads(letter.to_json())
    assert record["raw_bytes"] == len(big.encode())
    assert record["raw_sha256"] == hashlib.sha256(big.encode()).hexdigest()
    assert record["raw_truncated"] is True
    assert len(record["raw"].encode()) <= MAX_EXCERPT_BYTES and big.startswith(record["raw"])
    assert len(letter.to_json()) < MAX_EXCERPT_BYTES + 1000


@pytest.mark.slow
def test_a_non_utf8_line_with_dead_letter_file_does_not_stop_replay(tmp_path: Path) -> None:
    """The issue's crash: UnicodeEncodeError 'surrogates not allowed' aborted the run."""
    events = tmp_path / "events.jsonl"
    bad = b'{"kind": "transaction", "branch_id": "\xff\xfe"}'
    events.write_bytes(bad + b"\n" + line().encode() + b"\n")
    dead = tmp_path / "dead.jsonl"
    out = tmp_path / "alerts.jsonl"
    cmd = [sys.executable, "-m", "riskmon.cli", "replay", str(events), "--dead-letter", str(dead)]
    done = subprocess.run(
        [*cmd, "--alerts-out", str(out)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(x) for x in dead.read_text(encoding="utf-8").splitlines()]
    assert record["reason"] == "encoding" and record["line"] == 1
    assert "\\xff\\xfe" in record["raw"]
    assert record["raw_sha256"] == hashlib.sha256(bad).hexdigest()
    assert len(out.read_text().splitlines()) == 1  # the valid line after it was processed


def test_decode_errors_carry_reasons_the_gate_adds() -> None:
    gate = CurrencyGate(frozenset({"CNY"}))
    with pytest.raises(EventDecodeError) as info:
        gate.check(decode_event(line(currency="USD")))
    assert info.value.reason == "unknown_currency"
    assert CurrencyGate.from_rules([]).known is None  # no money rules: nothing to refuse
