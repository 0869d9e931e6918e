"""IncidentTracker: one alarm per incident, resolved on recovery, strictly online, restorable."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np

from monitor.models.series.incidents import IncidentTracker

T0 = datetime(2024, 1, 1)


def _noise(n: int, seed: int = 7) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in np.round(100.0 + rng.normal(0.0, 2.0, n), 2)]


def _states(values: list[float], tracker: IncidentTracker | None = None) -> list[str]:
    tracker = tracker or IncidentTracker()
    return [tracker.step(v, T0 + timedelta(minutes=5 * i)).state for i, v in enumerate(values)]


def test_repeated_spikes_are_one_incident_that_resolves() -> None:
    values = _noise(2000)
    for at in range(1000, 1100, 12):  # nine spikes, 12 rows apart
        values[at] += 30.0
    states = _states(values)
    assert states.count("onset") == 1
    assert states.index("onset") == 1000
    events = [s for s in states if s in ("onset", "resolved")]
    assert events[-1] == "resolved"  # after-effects may reopen it, but never page again
    assert states.index("resolved") > 1096
    assert states[-1] == "quiet"


def test_a_lasting_level_shift_alarms_once() -> None:
    values = _noise(3000)
    values[1000:] = [v + 20.0 for v in values[1000:]]
    states = _states(values)
    assert states.count("onset") == 1
    assert states.index("onset") in range(1000, 1010)
    assert "resolved" in states[1000:]  # the new level became the normal


def test_strictly_online_and_restorable() -> None:
    values = _noise(1500, seed=3)
    values[1200:1210] = [v - 25.0 for v in values[1200:1210]]
    whole = _states(values)
    first = IncidentTracker()
    head = _states(values[:1205], first)
    restored = IncidentTracker.from_state(json.loads(json.dumps(first.to_state())))
    tail = [
        restored.step(v, T0 + timedelta(minutes=5 * (1205 + i))).state
        for i, v in enumerate(values[1205:])
    ]
    assert head == whole[:1205]  # row t does not depend on rows after t
    assert head + tail == whole
    assert whole.count("onset") == 1
