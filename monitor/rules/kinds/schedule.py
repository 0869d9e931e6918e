"""Schedule rules: a sensitive operator action outside business hours.

Business hours are read in the branch's own time zone. Weekends and public holidays are closed,
and official make-up working days (调休) are open, from the ``holidays`` package. Approved overtime
windows in the rule file are exceptions. After an alert the operator is quiet for
``suppress_for``, so one late-night session gives one alert, not fifty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import ClassVar
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from monitor.events import Event, OperatorAction, event_epoch
from monitor.findings import Finding
from monitor.rules.compiled import RuleMeta, State, UntilRule, event_values
from monitor.rules.conditions import Predicate

WEEKDAY_INDEX = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class BusinessCalendar:
    """Open hours per branch, with weekdays, public holidays and make-up working days."""

    def __init__(
        self,
        timezone: str,
        branch_timezones: Mapping[str, str],
        hours: tuple[time, time],
        weekdays: Sequence[str],
        country: str | None,
    ) -> None:
        self.zone = ZoneInfo(timezone)
        self.branch_zones = {b: ZoneInfo(z) for b, z in branch_timezones.items()}
        self.hours = hours
        self.weekdays = frozenset(WEEKDAY_INDEX[d] for d in weekdays)
        self.country = country
        self._is_working_day = lru_cache(maxsize=4096)(self._working_day)
        self._calendar = holidays_lib.country_holidays(country) if country else None

    def local(self, moment: datetime, branch_id: str) -> datetime:
        return moment.astimezone(self.branch_zones.get(branch_id, self.zone))

    def _working_day(self, day: date) -> bool:
        if self._calendar is not None:
            if day in self._calendar:
                return False
            if day in self._calendar.weekend_workdays:
                return True
        return day.weekday() in self.weekdays

    def is_working_day(self, day: date) -> bool:
        """A weekday that is no public holiday, or an official make-up working day."""
        return self._is_working_day(day)

    def is_open(self, moment: datetime, branch_id: str) -> bool:
        local = self.local(moment, branch_id)
        if not self._is_working_day(local.date()):
            return False
        return self.hours[0] <= local.time() < self.hours[1]

    def why_closed(self, moment: datetime, branch_id: str) -> str:
        local = self.local(moment, branch_id)
        day = local.date()
        if self._calendar is not None and day in self._calendar:
            return f"public holiday ({self._calendar.get(day)})"
        if not self._is_working_day(day):
            return "weekend"
        return "outside business hours"


class ScheduleRuleRuntime(UntilRule):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {"local_time", "timezone", "closed_because", "business_hours"}
    )
    """Message placeholders this kind adds to the event's fields (checked by the loader)."""
    consumes = (OperatorAction,)

    def __init__(
        self,
        meta: RuleMeta,
        predicate: Predicate,
        calendar: BusinessCalendar,
        overtime: Mapping[str, Sequence[tuple[float, float, str]]],
        suppress_for: timedelta,
    ) -> None:
        super().__init__(meta, predicate)
        self.calendar = calendar
        self.overtime = overtime
        self.quiet = suppress_for.total_seconds()

    def on_event(self, state: State, key: str, event: Event) -> tuple[State, list[Finding]]:
        if not isinstance(event, OperatorAction) or not self.predicate(event):
            return state, []
        t = event_epoch(event)
        if state is not None and t < state["until"]:
            return state, []
        if self.calendar.is_open(event.occurred_at, event.branch_id):
            return state, []
        if any(start <= t < end for start, end, _ in self.overtime.get(event.operator_id, ())):
            return state, []
        local = self.calendar.local(event.occurred_at, event.branch_id)
        hours = self.calendar.hours
        values = event_values(event) | {
            "local_time": local.strftime("%Y-%m-%d %H:%M %a"),
            "timezone": str(local.tzinfo),
            "closed_because": self.calendar.why_closed(event.occurred_at, event.branch_id),
            "business_hours": f"{hours[0]:%H:%M}-{hours[1]:%H:%M}",
        }
        finding = self.event_finding(key, event, values)
        return {"until": t + self.quiet}, [finding]
