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


def _alerts(cal: Calibrator, per_day: int, days: int, seed: int) -> int:
    rng, alerts = random.Random(seed), 0
    for i in range(per_day * days):
        score = rng.gauss(0.0, 1.0)
        if score >= cal.threshold():
            alerts += 1
        cal.update(score, i * 86_400 / per_day)
    return alerts


def test_calibrated_threshold_gives_the_expected_daily_volume() -> None:
    per_day, days = 2_000, 20
    cal = Calibrator(alerts_per_day=3.0, warmup=2_000)
    alerts = _alerts(cal, per_day, days, seed=5)
    expected = 3.0 * (days - 1)  # the first day is warm-up
    assert 0.6 * expected <= alerts <= 1.4 * expected
    assert math.isclose(cal.events_per_day, per_day, rel_tol=0.01)


def test_the_default_target_is_a_rate_so_the_volume_follows_traffic() -> None:
    small = _alerts(Calibrator(alerts_per_10k=10.0, warmup=1_000), 2_000, 20, seed=1)
    large = _alerts(Calibrator(alerts_per_10k=10.0, warmup=1_000), 8_000, 20, seed=2)
    for alerts, events in ((small, 2_000 * 20), (large, 8_000 * 20)):
        assert 0.7 * events / 1_000 <= alerts <= 1.3 * events / 1_000
    assert 3.0 <= large / small <= 5.0  # four times the traffic, about four times the alerts
    cal = Calibrator(alerts_per_10k=10.0)
    _alerts(cal, 2_000, 3, seed=3)
    assert math.isclose(cal.expected_per_day, 2.0, rel_tol=0.01)


def test_a_fixed_daily_volume_does_not_follow_traffic() -> None:
    small = _alerts(Calibrator(alerts_per_day=4.0, warmup=1_000), 2_000, 20, seed=1)
    large = _alerts(Calibrator(alerts_per_day=4.0, warmup=1_000), 8_000, 20, seed=2)
    assert 0.6 <= large / small <= 1.6
    assert Calibrator(alerts_per_day=4.0).expected_per_day == 4.0


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
