"""Replay: dead letters never lose or stop anything; replays are byte-identical and resumable."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.events import encode_event
from monitor.simulator import SimConfig, simulate
from riskmon.cli import app
from streams.replay import DeadLetter, SourceLine, load_state, read_lines, replay, save_state
from tests.shipped import shipped_rules

RULES = shipped_rules()


@cache
def sim_lines() -> tuple[str, ...]:
    sim = simulate(SimConfig(seed=5, days=2, branches=3))
    return tuple(encode_event(e) for e in sim.events)


def run(lines: list[str], state: dict | None = None, flush: bool = True):
    alerts: list[Alert] = []
    dead: list[DeadLetter] = []
    engine = Engine(RULES, state)
    source = [SourceLine("mem", i, text) for i, text in enumerate(lines, start=1)]
    stats = replay(source, engine, alerts.append, dead.append, flush=flush)
    return alerts, dead, stats, engine


def corrupt(text: str, how: str, cut: int) -> str:
    data = json.loads(text)
    if how == "truncate":
        return text[: max(1, min(cut, len(text) - 1))]
    if how == "wrong_type":
        field = "amount" if data["kind"] == "transaction" else "outcome"
        data[field] = [1, 2] if cut % 2 else {"x": 1}
        return json.dumps(data)
    if how == "missing":
        data.pop("occurred_at")
        return json.dumps(data)
    if how == "naive_time":
        data["occurred_at"] = data["occurred_at"][:19]
        return json.dumps(data)
    if how == "garbage":
        return "\x00\x01 not an event " * (cut % 5 + 1)
    return json.dumps([data])  # not an object


@given(
    bad=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=399),
            st.sampled_from(
                ["truncate", "wrong_type", "missing", "naive_time", "garbage", "array"]
            ),
            st.integers(min_value=1, max_value=400),
        ),
        min_size=1,
        max_size=12,
    )
)
@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_bad_lines_land_in_dead_letters_and_the_rest_is_processed(
    bad: list[tuple[int, str, int]],
) -> None:
    valid = list(sim_lines()[:400])
    expected_alerts, _, _, _ = run(valid)
    mixed = list(valid)
    inserted: list[str] = []
    for position, how, cut in sorted(bad, reverse=True):
        line = corrupt(valid[position], how, cut)
        mixed.insert(position, line)
        inserted.append(line)
    alerts, dead, stats, _ = run(mixed)
    assert stats.events == len(valid)
    assert stats.dead_letters == len(bad) == len(dead)
    assert sorted(d.raw for d in dead) == sorted(inserted)
    assert all(d.reason in {"invalid_json", "schema", "encoding", "too_large"} for d in dead)
    assert all(d.detail for d in dead)
    assert [a.alert_id for a in alerts] == [a.alert_id for a in expected_alerts]
    for letter in dead:
        assert mixed[letter.line - 1] == letter.raw  # the line number points at the raw line


@pytest.mark.slow
def test_replaying_twice_gives_byte_identical_alerts(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(sim_lines()) + "\n", encoding="utf-8")
    runner = CliRunner()
    outputs = []
    for name in ("a.jsonl", "b.jsonl"):
        result = runner.invoke(
            app, ["replay", str(events), "--alerts-out", str(tmp_path / name)], env={}
        )
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b"\n") >= 5


@pytest.mark.slow
def test_two_halves_with_state_carried_over_equal_one_pass(tmp_path: Path) -> None:
    lines = list(sim_lines())
    whole, _, _, _ = run(lines)
    half = len(lines) // 2
    first, _, _, engine = run(lines[:half])
    path = tmp_path / "state.json"
    save_state(path, engine.state)
    second, _, _, _ = run(lines[half:], state=load_state(path))
    assert [a.to_json() for a in first + second] == [a.to_json() for a in whole]


def test_stdin_and_dead_letter_file_through_the_cli(tmp_path: Path) -> None:
    text = "\n".join([*sim_lines()[:50], "{broken", *sim_lines()[50:60]]) + "\n"
    dead = tmp_path / "dead.jsonl"
    result = CliRunner().invoke(
        app, ["replay", "-", "--dead-letter", str(dead), "--language", "zh-CN"], input=text
    )
    assert result.exit_code == 0, result.output
    assert "dead letters" in result.output and "60" in result.output
    (letter,) = [json.loads(x) for x in dead.read_text().splitlines()]
    assert letter == {
        "source": "<stdin>",
        "line": 51,
        "reason": "invalid_json",
        "detail": letter["detail"],
        "raw": "{broken",
        "raw_bytes": 7,
        "raw_sha256": hashlib.sha256(b"{broken").hexdigest(),
        "raw_truncated": False,
    }


def test_rules_validate_reports_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- override: large_cash_single\n  severity: extreme\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["rules", "validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2" in result.output.replace("\n", "")
    ok = CliRunner().invoke(app, ["rules", "test"])
    assert ok.exit_code == 0 and " 0 failed" in ok.output


def test_read_lines_skips_blank_lines_and_numbers_real_ones(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"b": 2}\r\n', encoding="utf-8")
    assert [(line.number, line.text) for line in read_lines([str(path)])] == [
        (1, '{"a": 1}'),
        (4, '{"b": 2}'),
    ]
