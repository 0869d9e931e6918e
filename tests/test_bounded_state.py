"""State levels off on a long stream (issue 14, bounded state): rule windows expire, decided
reviews are removed, the deadline queues do not keep stale entries, and the model profiles of
idle entities are compacted, then forgotten. ``bench/suite.py --only stream`` runs the long
version (millions of simulated events, RSS sampled)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.engine import STAGES, Engine
from monitor.models import ModelConfig, ModelStage
from monitor.rules.loader import load_rules
from monitor.simulator import SimConfig, simulate
from monitor.stage import Timers


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


# -- model profiles: idle entities are compacted, then forgotten (event time) -----------------

DAY = 86_400.0


def _churn(days: int, per_day: int = 30, active_days: int = 4) -> list[Any]:
    """Accounts that open, pay three times a day for ``active_days`` days, then go quiet for
    good: ``per_day`` new ones every day, so a stream this long meets ever more accounts."""
    from tests.models.modelkit import debit

    events = []
    n = 0
    for day in range(days):
        for opened in range(max(0, day - active_days + 1), day + 1):
            for a in range(per_day):
                for hour in (9, 13, 18):
                    n += 1
                    amount = f"{100 + (a * 7 + day * 13) % 200}.00"
                    events.append(
                        debit(n, f"D{opened:03d}-{a:03d}", day, hour, amount,
                              counterparty=f"62220000000{a % 3:05d}")
                    )  # fmt: skip
    events.sort(key=lambda e: (e.occurred_at, e.event_id))
    return events


def _run_models(config: ModelConfig, events: list[Any]) -> tuple[list[tuple[int, int, int]], Any]:
    """Every event through the account model stage and its timers (watermark = event time);
    per day: (profile keys, profile JSON bytes, deadline heap entries)."""
    stage = ModelStage(config)
    timers = Timers(stage)
    state: dict[str, Any] = {}
    daily: list[tuple[int, int, int]] = []
    day = None
    for event in events:
        today = event.occurred_at.date()
        if today != day and day is not None:
            profiles = {k: v for k, v in state.items() if not k.startswith("#")}
            daily.append(
                (
                    len(profiles),
                    sum(len(json.dumps(v)) for v in profiles.values()),
                    sum(len(q._heap) for q in timers.queues.values()),
                )
            )
        day = today
        timers.process(0, stage.key_for(event) or "", event, state)
        timers.advance(0, event.occurred_at.timestamp(), state)
    return daily, state


SHORT = {"warmup": 100, "warmup_days": 1.0, "idle_seconds": 3 * DAY, "forget_seconds": 12 * DAY}


def test_idle_model_profiles_are_compacted_then_forgotten_so_state_levels_off() -> None:
    events = _churn(days=48)
    daily, _ = _run_models(ModelConfig(entity="account", **SHORT), events)
    early, late = daily[16:30], daily[30:]
    for column, what in enumerate(("profile keys", "profile bytes", "deadline heap entries")):
        early_top = max(row[column] for row in early)
        late_top = max(row[column] for row in late)
        assert early_top > 0, what
        assert late_top <= 1.1 * early_top, f"{what} grew: {early_top} then {late_top}"
    # Keys are the accounts seen within the forget horizon plus a day, no more.
    assert daily[-1][0] <= 30 * (4 + 12 + 1)
    # The same stream without idle horizons keeps every account it ever met, in full.
    daily_full, _ = _run_models(
        ModelConfig(entity="account", **SHORT | {"idle_seconds": None, "forget_seconds": None}),
        events,
    )
    assert daily_full[-1][0] == 30 * 47
    assert daily_full[-1][1] > 2 * daily[-1][1]


def test_an_active_entity_keeps_its_profile_and_a_returning_one_is_active_again() -> None:
    from tests.models.modelkit import debit

    stage = ModelStage(ModelConfig(entity="account", **SHORT))
    timers = Timers(stage)
    state: dict[str, Any] = {}
    events = [debit(2 * d, "A1", d, 10, f"{100 + d}.00") for d in range(20)]  # daily
    events += [debit(2 * d + 1, "A2", d, 11, f"{100 + d}.00") for d in (*range(6), 16)]
    events.sort(key=lambda e: e.occurred_at)
    heap, seen = [], {}
    for event in events:
        timers.process(0, stage.key_for(event) or "", event, state)
        timers.advance(0, event.occurred_at.timestamp(), state)
        heap.append(sum(len(q._heap) for q in timers.queues.values()))
        seen[event.occurred_at.day] = dict(state.get("A2", {}))
    # A2, quiet since 7 March, was compacted once three days had passed.
    assert "txns" in seen[9] and "txns" not in seen[12] and seen[12]["n"] == 6
    a1, a2 = state["A1"], state["A2"]
    assert "recent" in a1 and "txns" in a1 and a1["n"] == 20  # active to the end: in full
    # Back on 18 March, within the forget horizon: its history kept, a session again.
    assert a2["n"] >= 6 and "txns" in a2 and "recent" in a2
    assert a2["due"] == a2["last"] + 3 * DAY
    # A deadline is set once per idle period, not moved by every event: few heap entries.
    assert max(heap) <= 6


def test_compaction_fires_on_the_watermark_alone() -> None:
    from tests.models.modelkit import debit

    stage = ModelStage(ModelConfig(entity="account", **SHORT))
    timers = Timers(stage)
    state: dict[str, Any] = {}
    for n in range(6):
        event = debit(n, "A1", 0, 9 + n, "120.00")
        timers.process(0, "A1", event, state)
    last = state["A1"]["last"]
    full = dict(state["A1"])
    timers.advance(0, last + 3 * DAY - 1, state)
    # Checked three days after the first event, not yet idle: due three days after the last.
    assert state["A1"] == full | {"due": last + 3 * DAY}
    timers.advance(0, last + 3 * DAY, state)
    compact = state["A1"]
    assert set(compact) == {"n", "last", "amt", "hours", "cps", "due"}
    assert compact["n"] == full["n"] and compact["hours"] == full["hours"]
    assert compact["due"] == last + 12 * DAY
    timers.advance(0, last + 12 * DAY, state)
    assert "A1" not in state and timers.pending() == 0
