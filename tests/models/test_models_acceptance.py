"""The models' accuracy on a smaller seeded month: recall, precision and false alerts.

At the default alert volume, on the rule-less anomalies injected after the warm-up: recall of
at least 0.9, precision of at least 0.5, at most one false model alert per 10,000 events.
"""

from __future__ import annotations

import pytest

from monitor.models.runs import models_config, reports
from streams.evaluate import run_models
from tests.models.modelkit import MONTH, simulated


@pytest.mark.slow
def test_models_meet_the_acceptance_thresholds_on_a_seeded_month() -> None:
    events, labels = simulated(MONTH)
    run = run_models(events, models_config(), rules=False)
    alone, _ = reports(run, labels)
    kinds = {row.kind: row for row in alone.rows}
    assert set(kinds) == {
        "model_anomaly/account_takeover",
        "model_anomaly/dormant_drain",
        "model_anomaly/bulk_view",
    }
    assert all(row.eligible >= 1 for row in alone.rows)
    assert alone.recall >= 0.9, alone
    assert alone.precision >= 0.5, alone
    assert alone.false_per_10k <= 1.0, alone
    assert all(a.category == "model_anomaly" for a in run.alerts)
