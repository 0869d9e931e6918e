"""Event time that no single event can poison (replay side; the worker side runs on the broker).

The case file holds the issue's case (a transaction approved and posted in time, with events
dated 2099, 1970 and year 0001 around it), an approval and a transaction later than the allowed
lateness behind their own source, and an approval an hour behind the transactions but in order
in its own source.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.metrics import RiskmonMetrics
from monitor.watermark import TimeBounds
from riskmon.cli import app
from streams.replay import DeadLetter, kafka_source, kafka_sources, read_lines, replay
from tests.shipped import shipped_rules

RULES = shipped_rules()
CASE = Path(__file__).resolve().parents[1] / "data" / "event_time_case.jsonl"
EXPECTED_ALERTS = ["dual_review:missing:T2"]
EXPECTED_DEAD = {
    "e02": "time_out_of_range",  # 2099
    "e05": "time_out_of_range",  # 1970
    "e06": "time_out_of_range",  # year 0001
    "e09": "late_event",  # approval 55 min behind its operator's own stream
    "e15": "late_event",  # transaction an hour behind its account's own stream
}


def replay_case(
    partitions: int | None,
    lines: list[str] | None = None,
    metrics: RiskmonMetrics | None = None,
) -> tuple[list[Alert], list[DeadLetter]]:
    """Replay as `riskmon replay` does: sources are the partitions the worker would read.

    ``partitions=None`` replays as before event-time bounds: one source, no bounds.
    """
    alerts: list[Alert] = []
    dead: list[DeadLetter] = []
    if partitions is None:
        engine = Engine(RULES)
    else:
        engine = Engine(RULES, bounds=TimeBounds(), sources=kafka_sources(partitions))
    source = list(read_lines([str(CASE)]))
    if lines is not None:
        source = [line for line in source if json.loads(line.text)["event_id"] in lines]
    replay(
        source,
        engine,
        alerts.append,
        dead.append,
        metrics=metrics,
        source_of=None if partitions is None else lambda e: kafka_source(e, partitions),
    )
    return alerts, dead


def summary(alerts: list[Alert]) -> list[str]:
    return sorted(f"{a.rule_id}:{a.reason}:{a.entity_id}" for a in alerts)


def reasons(dead: list[DeadLetter]) -> dict[str, str]:
    return {json.loads(d.raw)["event_id"]: d.reason for d in dead}


@pytest.mark.parametrize("partitions", [1, 4])
def test_outliers_and_late_events_are_dead_lettered_and_raise_no_false_alert(
    partitions: int,
) -> None:
    alerts, dead = replay_case(partitions)
    assert summary(alerts) == EXPECTED_ALERTS
    assert reasons(dead) == EXPECTED_DEAD
    assert all(d.detail for d in dead)


def test_the_issues_case_2099_no_longer_raises_a_missing_review() -> None:
    lines = ["e01", "e02", "e03", "e04"]
    alerts, dead = replay_case(1, lines)
    assert (alerts, reasons(dead)) == ([], {"e02": "time_out_of_range"})
    # As before: the 2099 event drags the watermark and fires T1's deadline (the case bites).
    unbounded, _ = replay_case(None, lines)
    assert summary(unbounded) == ["dual_review:missing:T1"]


def test_a_late_transaction_would_have_raised_a_false_missing_review() -> None:
    alerts, dead = replay_case(1, ["e14", "e15"])
    assert (alerts, reasons(dead)) == ([], {"e15": "late_event"})
    unbounded, _ = replay_case(None, ["e14", "e15"])
    assert summary(unbounded) == ["dual_review:missing:T3"]


def test_an_approval_in_order_in_its_own_source_is_on_time() -> None:
    # An hour behind the transactions, but its operator's stream is in order: judged, approved.
    alerts, dead = replay_case(1, ["e10", "e11", "e12", "e13"])
    assert (alerts, dead) == ([], [])
    before, _ = replay_case(None, ["e10", "e11", "e12", "e13"])
    assert summary(before) == ["dual_review:missing:T4"]  # the false alert the issue found


def test_time_rejections_are_counted_by_reason() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False)
    replay_case(4, metrics=metrics)
    get = metrics.registry.get_sample_value
    assert get("riskmon_dead_letters_total", {"reason": "late_event"}) == 2
    assert get("riskmon_dead_letters_total", {"reason": "time_out_of_range"}) == 3

    def processed(outcome: str) -> float | None:
        return get("riskmon_events_processed_total", {"kind": "transaction", "outcome": outcome})

    assert (processed("ok"), processed("dead_letter")) == (6, 4)


def test_riskmon_replay_dead_letters_by_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKMON_RULES_DIR", str(tmp_path / "no-rules"))
    (tmp_path / "no-rules").mkdir()
    dead = tmp_path / "dead.jsonl"
    alerts = tmp_path / "alerts.jsonl"
    args = ["replay", str(CASE), "--alerts-out", str(alerts), "--dead-letter", str(dead)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    got = {json.loads(d["raw"])["event_id"]: d["reason"] for d in letters}
    assert got == EXPECTED_DEAD
    written = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert sorted(f"{a['rule_id']}:{a['reason']}:{a['entity_id']}" for a in written) == (
        EXPECTED_ALERTS
    )
    # A wider bound admits the 2099 event (the setting is read), and it fires T1's deadline.
    monkeypatch.setenv("RISKMON_EVENT_TIME_MAX_AHEAD_SECONDS", str(100 * 365 * 86400))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    letters = [json.loads(line) for line in dead.read_text().splitlines()]
    assert "e02" not in {json.loads(d["raw"])["event_id"] for d in letters}
