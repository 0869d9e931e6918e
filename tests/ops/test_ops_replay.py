"""operations alerts in replay: a branch silent in business hours, and days that are not."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.events import OperatorAction, Transaction
from tests.ops.opsdata import local, traffic
from tests.shipped import shipped_rules

pytestmark = pytest.mark.slow  # 36 simulated days of two branches: seconds of CPU

RULES = shipped_rules()
# 2026-09-29 is a Tuesday; 09-27 a Sunday; 10-01 National Day (a Thursday); 10-10 a Saturday
# that is an official make-up working day.
SILENCES = {
    "B1": [
        (local("2026-09-29", 9, 30), local("2026-09-29", 11, 30)),
        (local("2026-09-27", 9, 30), local("2026-09-27", 11, 30)),
        (local("2026-10-01", 9, 30), local("2026-10-01", 11, 30)),
    ]
}


def _replay(operations: bool = True) -> list[Alert]:
    engine = Engine(RULES, operations=operations)
    alerts: list[Alert] = []
    for raw in traffic(("B1", "B2"), date(2026, 9, 7), 36, SILENCES):
        kind = Transaction if raw["kind"] == "transaction" else OperatorAction
        alerts.extend(engine.process(kind.model_validate(raw)))
    alerts.extend(engine.flush())
    return [a for a in alerts if a.category == "operations"]


@pytest.fixture(scope="module")
def ops_alerts() -> list[Alert]:
    return _replay()


def test_weekday_silence_raises_one_volume_drop_that_resolves(ops_alerts: list[Alert]) -> None:
    firing = [a for a in ops_alerts if a.explanation["incident_status"] == "firing"]
    resolved = [a for a in ops_alerts if a.explanation["incident_status"] == "resolved"]
    assert [(a.entity_type, a.entity_id, a.reason) for a in firing] == [
        ("branch", "B1", "volume_drop")
    ]
    alert = firing[0]
    began = local("2026-09-29", 9, 30)
    assert began < alert.occurred_at <= began + timedelta(minutes=15)
    assert alert.explanation["kpi"] == "transactions per 5 min"
    assert float(str(alert.explanation["usual_high"])) > 2.0
    assert "B1" in alert.messages["en"] and "B1" in alert.messages["zh-CN"]
    assert [(a.entity_id, a.reason) for a in resolved] == [("B1", "volume_drop")]
    back = local("2026-09-29", 11, 30)
    assert back < resolved[0].occurred_at <= back + timedelta(minutes=10)
    assert resolved[0].messages["en"].startswith("RESOLVED")


def test_sunday_holiday_and_make_up_day_raise_nothing(ops_alerts: list[Alert]) -> None:
    days = {a.occurred_at.astimezone(local("2026-01-01", 0).tzinfo).date() for a in ops_alerts}
    assert days == {date(2026, 9, 29)}


def test_a_setting_switches_it_off() -> None:
    engine = Engine(RULES, operations=False)
    assert "operations" not in [s.name for s in engine.stages]
