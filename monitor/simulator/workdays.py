"""Working days and business hours, decided exactly as the after-hours rule decides them.

A day is a working day unless it is a public holiday; an official make-up working day (调休) is a
working day even on a weekend; otherwise Monday to Friday work. Hours are local to the bank's
time zone, with the opening time inside and the closing time outside business hours.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import holidays as holidays_lib

__all__ = ["WorkCalendar"]


class WorkCalendar:
    """Working days, holidays and business hours of one bank."""

    def __init__(self, zone: ZoneInfo, hours: tuple[time, time], country: str | None) -> None:
        self.zone = zone
        self.hours = hours
        self._holidays = holidays_lib.country_holidays(country) if country else None
        self._cache: dict[date, bool] = {}

    def is_working_day(self, day: date) -> bool:
        known = self._cache.get(day)
        if known is None:
            known = self._cache[day] = self._working_day(day)
        return known

    def _working_day(self, day: date) -> bool:
        if self._holidays is not None:
            # `in` first: it populates the year, which also fills weekend_workdays.
            if day in self._holidays:
                return False
            if day in self._holidays.weekend_workdays:
                return True
        return day.weekday() < 5

    def is_holiday(self, day: date) -> bool:
        return self._holidays is not None and day in self._holidays

    def at(self, day: date, clock: time) -> datetime:
        """The local moment ``clock`` on ``day``."""
        return datetime.combine(day, clock, tzinfo=self.zone)

    def opens(self, day: date) -> datetime:
        return self.at(day, self.hours[0])

    def closes(self, day: date) -> datetime:
        return self.at(day, self.hours[1])

    def midnight(self, day: date) -> datetime:
        return self.at(day, time(0, 0))
