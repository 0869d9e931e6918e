"""operations alerts through the faust worker on the real Kafka broker, the same as replay."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.rules.loader import load_rules
from streams.replay import read_lines, replay
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import Pipeline, WorkerProcess
from tests.ops.opsdata import local, traffic

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_weekday_silence_through_the_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    # Mon 2026-09-07 to Thu 09-10 noon; B1 silent on Thursday 09:30-11:30.
    silent = (local("2026-09-10", 9, 30), local("2026-09-10", 11, 30))
    stop = local("2026-09-10", 13, 0)
    events = tmp_path / "events.jsonl"
    with events.open("w", encoding="utf-8") as out:
        for raw in traffic(("B1", "B2"), date(2026, 9, 7), 4, {"B1": [silent]}, seed=3):
            if str(raw["occurred_at"]) < stop.isoformat():
                out.write(json.dumps(raw) + "\n")
    expected: list[Alert] = []
    replay(read_lines([str(events)]), Engine(load_rules()), expected.append, lambda _d: None)
    ops = [a for a in expected if a.category == "operations"]
    assert [(a.entity_id, a.reason, a.explanation["incident_status"]) for a in ops] == [
        ("B1", "volume_drop", "firing"),
        ("B1", "volume_drop", "resolved"),
    ]
    assert silent[0] < ops[0].occurred_at <= silent[0] + timedelta(minutes=15)

    pipe = Pipeline(kafka_bootstrap, tmp_path)
    pipe.create_topics(broker_tool)
    worker = WorkerProcess(pipe, "ops").start()
    wanted = {a.alert_id for a in ops}
    try:
        pipe.produce_file(events)
        messages = pipe.collect(
            pipe.topics["alerts"],
            lambda msgs: wanted <= {Alert.from_json(m.value).alert_id for m in msgs},
            180,
            worker.check_alive,
        )
        time.sleep(2)  # an extra operations alert would show up here
        messages = pipe.collect(pipe.topics["alerts"], lambda m: False, 3)
    finally:
        worker.stop()
    got = [Alert.from_json(m.value) for m in messages]
    assert {a.alert_id for a in got if a.category == "operations"} == wanted, worker.tail()
