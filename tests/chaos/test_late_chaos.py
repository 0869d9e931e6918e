"""Chaos on event time: a simulated day shuffled within the allowed lateness, and one with
events arriving far beyond it, through a worker.

Within the lateness (5 minutes) the worker gives exactly the alerts replay gives for the same
shuffled events. Beyond it, replay and the worker dead-letter the same events as ``late_event``
(judged per input partition in both) and give the same alerts. How many alerts differ from the day
in time order is printed, not asserted (see the note in the test).
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.rules.loader import load_rules
from riskmon.settings import Settings
from streams.replay import SourceLine
from streams.runs import run_replay
from tests.chaos.chaos_harness import (
    Figures,
    Pipeline,
    WorkerProcess,
    dead_letters,
    expected_alerts,
    file_lines,
    reason_counts,
    simulated_day,
    wait_for,
)
from tests.fixtures_kafka import broker_tool

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

JITTER_SECONDS = 240
"""Below the allowed lateness (300 s): no event arrives after its watermark passed it."""


def occurred(line: SourceLine) -> float:
    return datetime.fromisoformat(json.loads(line.text)["occurred_at"]).timestamp()


def shuffled_within(lines: list[SourceLine], seed: int) -> tuple[list[SourceLine], int, float]:
    """``lines`` ordered by event time plus a random delay of up to ``JITTER_SECONDS``.

    An event is then never behind the largest event time before it by more than the jitter.
    Returns the lines, how many arrive after a later event, and the largest such lag (s).
    """
    rng = random.Random(seed)
    keyed = sorted(lines, key=lambda line: occurred(line) + rng.uniform(0, JITTER_SECONDS))
    top, moved, worst = float("-inf"), 0, 0.0
    for line in keyed:
        at = occurred(line)
        if at < top:
            moved, worst = moved + 1, max(worst, top - at)
        top = max(top, at)
    assert worst < JITTER_SECONDS + 1
    return [SourceLine(line.source, n, line.text) for n, line in enumerate(keyed, 1)], moved, worst


def test_out_of_order_within_lateness(kafka_bootstrap: str, tmp_path: Path) -> None:
    lines = file_lines(simulated_day(tmp_path, seed=31))
    in_order, _ = expected_alerts(lines)
    shuffled, moved, worst = shuffled_within(lines, seed=7)
    expected, dead = expected_alerts(shuffled)
    assert dead == 0
    assert moved > len(lines) // 10, "the shuffle hardly moved anything"
    # Not asserted: a cumulative rule's alert takes the time of the event that crossed the
    # threshold in arrival order, so the same case may get another alert_id (left to `core`).
    differ = len(expected ^ in_order) // 2
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    pipe.create_topics(broker_tool)
    worker = WorkerProcess(pipe, "late").start()
    began = time.monotonic()
    try:
        pipe.produce_lines(shuffled)
        delivered = wait_for(pipe, expected, 150, [worker])
    finally:
        worker.stop()
    note = (
        f"{moved} events behind a later one, by up to {worst:.0f} s (lateness 300 s); "
        f"{differ} alert(s) with another alert_id than in time order"
    )
    Figures(
        "out_of_order", len(lines), expected, delivered, time.monotonic() - began, note
    ).report()


LATE_SECONDS = 900
"""Three times the allowed lateness: these events arrive after their partition moved on."""


def delayed(lines: list[SourceLine], every: int) -> tuple[list[SourceLine], int]:
    """``lines`` in time order, but every ``every``-th business-hours event arrives
    ``LATE_SECONDS`` late (after the events of the next quarter of an hour)."""
    keyed = []
    moved = 0
    for n, line in enumerate(lines):
        at = occurred(line)
        hour = datetime.fromtimestamp(at, UTC).hour
        late = n % every == 0 and 2 <= hour <= 8  # UTC: 10:00-16:00 in the branches' +08:00
        moved += late
        keyed.append((at + (LATE_SECONDS if late else 0), n, line))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [SourceLine(x.source, n, x.text) for n, (_, _, x) in enumerate(keyed, 1)], moved


def test_events_beyond_the_lateness(kafka_bootstrap: str, tmp_path: Path) -> None:
    lines = file_lines(simulated_day(tmp_path, seed=37))
    arriving, moved = delayed(lines, every=97)
    path = tmp_path / "arriving.jsonl"
    path.write_text("".join(line.text + "\n" for line in arriving), encoding="utf-8")
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    settings = Settings()
    stats, alerts = run_replay(  # replay as the CLI runs it: lateness per input partition
        [str(path)],
        load_rules(),
        lateness_seconds=settings.lateness_seconds,
        language="en",
        mask=True,
        bounds=settings.time_bounds(),
        partitions=pipe.partitions,
    )
    late = stats.dead_by_reason.get("late_event", 0)
    assert moved > 5 and late > 0, (moved, dict(stats.dead_by_reason))
    expected = {a.alert_id for a in alerts}
    pipe.create_topics(broker_tool)
    worker = WorkerProcess(pipe, "late2").start()
    began = time.monotonic()
    try:
        pipe.produce_lines(arriving)
        delivered = wait_for(pipe, expected, 150, [worker])
        reasons = reason_counts(dead_letters(pipe, stats.dead_letters, 60))
    finally:
        worker.stop()
    assert reasons == dict(stats.dead_by_reason)  # the same events refused, for the same reason
    note = f"{moved} events sent {LATE_SECONDS} s late; {late} dead-lettered late_event in both"
    Figures(
        "beyond_lateness", len(lines), expected, delivered, time.monotonic() - began, note
    ).report()
