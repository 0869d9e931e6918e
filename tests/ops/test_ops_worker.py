"""operations alerts through the faust worker on the real Kafka broker, the same as replay:
a branch silent for two hours on a weekday morning raises one volume_drop alert that resolves
itself when the events return (same alert_id); the same silence on a Sunday and on a CN public
holiday raises nothing."""

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
from tests.ops.opsdata import local, traffic, working

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# Mon 2026-06-15 to Sun 06-21 13:00. B1 is silent on Thursday 06-18; B2 on Friday 06-19 (Dragon
# Boat Festival, a public holiday) and on Sunday 06-21, after working days that taught it the
# usual weekday-morning volume (a calendar blind to the holiday would raise a volume_drop).
WEEKDAY = (local("2026-06-18", 9, 30), local("2026-06-18", 11, 30))
HOLIDAY = (local("2026-06-19", 9, 30), local("2026-06-19", 11, 30))
SUNDAY = (local("2026-06-21", 9, 30), local("2026-06-21", 11, 30))
STOP = local("2026-06-21", 13, 0)
RATE = 300.0  # events per second: a week of event time in about 20 s, with the input partitions
# skewed by far less than the day of open buckets the stage keeps


def _ops(alerts: list[Alert]) -> list[tuple[str, str | None, object]]:
    return [
        (a.entity_id, a.reason, a.explanation["incident_status"])
        for a in alerts
        if a.category == "operations"
    ]


def test_silences_through_the_worker(kafka_bootstrap: str, tmp_path: Path) -> None:
    assert working(WEEKDAY[0].date()) and not working(SUNDAY[0].date())
    assert not working(HOLIDAY[0].date()) and HOLIDAY[0].weekday() == 4
    silences = {"B1": [WEEKDAY], "B2": [SUNDAY, HOLIDAY]}
    events = tmp_path / "events.jsonl"
    with events.open("w", encoding="utf-8") as out:
        for raw in traffic(("B1", "B2"), date(2026, 6, 15), 7, silences, seed=3):
            if str(raw["occurred_at"]) < STOP.isoformat():
                out.write(json.dumps(raw) + "\n")
    expected: list[Alert] = []
    replay(read_lines([str(events)]), Engine(load_rules()), expected.append, lambda _d: None)
    ops = [a for a in expected if a.category == "operations"]
    assert _ops(ops) == [("B1", "volume_drop", "firing"), ("B1", "volume_drop", "resolved")]
    assert ops[0].alert_id == ops[1].alert_id  # one incident, one alert that resolves itself
    assert WEEKDAY[0] < ops[0].occurred_at <= WEEKDAY[0] + timedelta(minutes=15)
    assert WEEKDAY[1] < ops[1].occurred_at <= WEEKDAY[1] + timedelta(minutes=10)

    pipe = Pipeline(kafka_bootstrap, tmp_path)
    pipe.create_topics(broker_tool)
    worker = WorkerProcess(pipe, "ops").start()
    try:
        pipe.produce_lines(read_lines([str(events)]), rate=RATE)
        pipe.collect(
            pipe.topics["alerts"],
            lambda msgs: len(_ops([Alert.from_json(m.value) for m in msgs])) >= 2,
            120,
            worker.check_alive,
        )
        time.sleep(2)  # an extra operations alert would show up here
        messages = pipe.collect(pipe.topics["alerts"], lambda m: False, 3)
    finally:
        worker.stop()
    got = [a for a in (Alert.from_json(m.value) for m in messages) if a.category == "operations"]
    assert _ops(got) == _ops(ops), worker.tail()
    assert [(a.event_ids, a.occurred_at) for a in got] == [
        (a.event_ids, a.occurred_at) for a in ops
    ]
    assert {a.alert_id for a in got} == {ops[0].alert_id}
    assert [a.occurred_at for a in got] == [a.occurred_at for a in ops]
