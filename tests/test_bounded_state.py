"""Rule state levels off on a long stream: windows expire, decided reviews are removed, and the
deadline queues do not keep stale entries (issue 14, bounded state)."""

from __future__ import annotations

import json

import pytest

from monitor.engine import STAGES, Engine
from monitor.rules.loader import load_rules
from monitor.simulator import SimConfig, simulate


@pytest.mark.slow
def test_rule_state_and_deadline_queues_level_off_over_eight_weeks() -> None:
    sim = simulate(SimConfig(days=56, branches=2, customers_per_branch=150, seed=3))
    engine = Engine(load_rules())
    daily: list[tuple[int, int, int]] = []  # (state bytes, state keys, heap entries) per day
    day = None
    for event in sim.events:
        today = event.occurred_at.date()
        if today != day and day is not None:
            rule_state = [engine.state[name] for name in STAGES if name in engine.state]
            daily.append(
                (
                    sum(len(json.dumps(v)) for m in rule_state for v in m.values()),
                    sum(len(m) for m in rule_state),
                    sum(len(q._heap) for t in engine._timers for q in t.queues.values()),
                )
            )
        day = today
        engine.process(event)
    assert len(daily) >= 50
    early, late = daily[3:28], daily[28:]  # weeks 1-4 (after the first days) against weeks 5-8
    for column, what in enumerate(("state bytes", "state keys", "deadline heap entries")):
        early_top = max(row[column] for row in early)
        late_top = max(row[column] for row in late)
        assert early_top > 0, what
        assert late_top <= 1.25 * early_top, f"{what} grew: {early_top} then {late_top}"
    # A key with no pending window or review is deleted, not kept empty.
    for name in STAGES:
        assert all(engine.state.get(name, {}).values())
