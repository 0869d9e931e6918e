"""Event time on the real broker: the worker dead-letters what replay dead-letters, and raises
the same alerts (the issue's 2099 case, dates in 1970 and 0001, events later than the lateness).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.rules.loader import load_rules
from monitor.watermark import TimeBounds
from streams.replay import DeadLetter, kafka_source, kafka_sources, read_lines, replay
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import Pipeline, WorkerProcess, alert_ids

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CASE = Path(__file__).resolve().parents[1] / "data" / "event_time_case.jsonl"


def test_worker_and_replay_agree_on_out_of_range_and_late_events(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    alerts: list[Alert] = []
    dead: list[DeadLetter] = []
    engine = Engine(load_rules(), bounds=TimeBounds(), sources=kafka_sources(pipe.partitions))
    replay(
        read_lines([str(CASE)]),
        engine,
        alerts.append,
        dead.append,
        source_of=lambda e: kafka_source(e, pipe.partitions),
    )
    expected_dead = {json.loads(d.raw)["event_id"]: d.reason for d in dead}
    assert sorted(expected_dead.values()) == [
        "late_event",
        "late_event",
        "time_out_of_range",
        "time_out_of_range",
        "time_out_of_range",
    ]
    expected = {a.alert_id for a in alerts}
    assert [a.reason for a in alerts] == ["missing"]

    pipe.create_topics(broker_tool)
    worker = WorkerProcess(pipe, "time").start()
    try:
        pipe.produce_file(CASE)
        letters = pipe.collect(pipe.topics["deadletter"], lambda m: len(m) >= len(dead), 120)
        got = pipe.collect(
            pipe.topics["alerts"], lambda m: expected <= set(alert_ids(m)), 120, worker.check_alive
        )
        time.sleep(3)  # a false extra alert or dead letter would show up here
        got = pipe.collect(pipe.topics["alerts"], lambda m: False, 3)
        letters = pipe.collect(pipe.topics["deadletter"], lambda m: False, 3)
        worker.check_alive()
    finally:
        worker.stop()
    assert set(alert_ids(got)) == expected, worker.tail()
    reasons = {json.loads(m.value)["event_id"]: dict(m.headers)["reason"].decode() for m in letters}
    assert reasons == expected_dead, worker.tail()
    assert all(dict(m.headers)["detail"] for m in letters)
