"""Thresholds from a target alert volume, via a bounded sorted reservoir of the top scores."""

from __future__ import annotations

import json
import math
import random

import numpy as np

from monitor.models.quantile import Calibrator, TailQuantile


def test_tail_quantile_matches_the_exact_quantile() -> None:
    rng = random.Random(3)
    values = [rng.expovariate(1.0) for _ in range(20_000)]
    tail = TailQuantile(keep=128, epoch=50_000)
    for v in values:
        tail.update(v)
    exact = float(np.quantile(values, 1 - 0.002, method="higher"))
    assert tail.quantile(0.002) == exact


def test_calibrated_threshold_gives_the_expected_daily_volume() -> None:
    rng = random.Random(5)
    per_day, days = 2_000, 20
    cal = Calibrator(alerts_per_day=3.0, warmup=2_000)
    alerts = 0
    for i in range(per_day * days):
        score = rng.gauss(0.0, 1.0)
        if score >= cal.threshold():
            alerts += 1
        cal.update(score, i * 86_400 / per_day)
    expected = 3.0 * (days - 1)  # the first day is warm-up
    assert 0.6 * expected <= alerts <= 1.4 * expected
    assert math.isclose(cal.events_per_day, per_day, rel_tol=0.01)


def test_no_threshold_during_warm_up_in_events_and_days() -> None:
    cal = Calibrator(alerts_per_day=1.0, warmup=100, warmup_days=2.0)
    for i in range(500):  # 500 scores within one day: enough events, not enough days
        cal.update(float(i), i * 100.0)
    assert cal.threshold() == math.inf
    cal.update(1.0, 3 * 86_400.0)
    assert math.isfinite(cal.threshold())


def test_calibrator_state_round_trips() -> None:
    cal = Calibrator(alerts_per_day=1.0, warmup=10)
    for i in range(300):
        cal.update(float(i % 37), i * 60.0)
    restored = Calibrator.from_state(json.loads(json.dumps(cal.to_state())))
    assert restored.threshold() == cal.threshold()
    assert restored.to_state() == cal.to_state()
