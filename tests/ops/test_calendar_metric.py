"""riskmon_business_calendar_working_day: the calendar Prometheus's business-hours rule reads."""

from __future__ import annotations

from datetime import date, datetime

from monitor.ops import ruleset_calendar
from monitor.rules.loader import load_rules
from riskmon.observability import new_metrics


def test_the_calendar_knows_cn_holidays_and_make_up_days() -> None:
    calendar = ruleset_calendar(load_rules().rules)
    assert calendar.is_working_day(date(2026, 9, 29))  # a Tuesday
    assert not calendar.is_working_day(date(2026, 9, 27))  # a Sunday
    assert not calendar.is_working_day(date(2026, 10, 1))  # National Day, a Thursday
    assert calendar.is_working_day(date(2026, 10, 10))  # a make-up Saturday


def test_every_metrics_registry_exports_today() -> None:
    rules = load_rules()
    metrics = new_metrics(rules)
    calendar = ruleset_calendar(rules.rules)
    today = datetime.now(calendar.zone).date()
    value = metrics.registry.get_sample_value("riskmon_business_calendar_working_day")
    assert value == (1.0 if calendar.is_working_day(today) else 0.0)
