"""The simulated month with operational incidents: recall, false alarms and outage delay."""

from __future__ import annotations

import pytest

from streams.ops_eval import run_ops_eval


@pytest.mark.slow
def test_operations_alerts_on_a_small_simulated_month() -> None:
    report, _ = run_ops_eval(days=18, branches=4, seed=11, rate=0.3)
    assert report.incidents >= 6
    assert report.recall >= 0.9, report.to_dict()
    assert report.false_per_branch_day <= 1 / 20, report.to_dict()
    outage = report.median_delay("outage")
    assert outage is not None and outage <= 15.0, report.to_dict()
