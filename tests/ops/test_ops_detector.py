"""The operations stage judges through series detectors whose state is bounded and restorable."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from monitor.events import OperatorAction, Transaction
from monitor.findings import Finding
from monitor.ops import OpsStage
from monitor.stage import Timers
from tests.ops.opsdata import local, traffic

SILENT = {"B1": [(local("2026-09-16", 10, 0), local("2026-09-16", 12, 0))]}


def _events() -> list[Transaction | OperatorAction]:
    out: list[Transaction | OperatorAction] = []
    for raw in traffic(("B1", "B2"), date(2026, 9, 7), 10, SILENT, seed=5):
        kind = Transaction if raw["kind"] == "transaction" else OperatorAction
        out.append(kind.model_validate(raw))
    return out


def _run(
    stage: OpsStage, events: list[Transaction | OperatorAction], state: dict[str, Any]
) -> list[Finding]:
    timers = Timers(stage)
    timers.rebuild(state)
    found: list[Finding] = []
    for event in events:
        key = stage.key_for(event)
        assert key is not None
        found.extend(timers.process(0, key, event, state))
        found.extend(timers.advance(0, event.occurred_at.timestamp() - 60, state))
    return found


def test_snapshot_and_restore_judge_like_the_uninterrupted_stage() -> None:
    events = _events()
    cut = next(i for i, e in enumerate(events) if e.occurred_at >= local("2026-09-16", 9, 0))
    whole = _run(OpsStage(), events, {})
    ids = [(f.entity_id, f.reason, f.values["incident_status"]) for f in whole]
    assert ids == [("B1", "volume_drop", "firing"), ("B1", "volume_drop", "resolved")]
    assert float(whole[0].values["detector_score"]) >= 0.5  # the detector's score judged it

    first = OpsStage()
    state: dict[str, Any] = {}
    head = _run(first, events[:cut], state)
    first.snapshot(state)
    saved = json.loads(json.dumps(state))  # plain JSON, as the worker's changelog keeps it
    assert all(set(v["d"]) >= {"vol"} for v in saved.values())
    assert max(len(json.dumps(v)) for v in saved.values()) < 64_000  # bounded
    tail = _run(OpsStage(), events[cut:], saved)
    assert [f.values for f in head + tail] == [f.values for f in whole]
