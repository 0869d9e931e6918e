"""What every generator shares: the config, the bank, the calendar, the rosters and the output."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from monitor.errors import MonitorError
from monitor.simulator.bank import Bank, Customer, build_bank
from monitor.simulator.config import SimConfig
from monitor.simulator.factory import EventFactory
from monitor.simulator.labels import Case
from monitor.simulator.ledger import DayKey, Ledger
from monitor.simulator.limits import Limits
from monitor.simulator.roster import BranchDay, build_roster
from monitor.simulator.workdays import WorkCalendar

__all__ = ["SimContext", "SimulatorError", "at_seconds", "rng_for"]


class SimulatorError(MonitorError):
    """The simulator broke one of its own guarantees (a bug, never bad input)."""


def rng_for(config: SimConfig, *parts: object) -> random.Random:
    """An independent, reproducible random stream per purpose (str seeds hash with SHA-512)."""
    return random.Random(":".join([str(config.seed), *map(str, parts)]))


def at_seconds(base: datetime, seconds: float) -> datetime:
    """``base`` plus whole seconds (events carry second resolution)."""
    return base + timedelta(seconds=int(seconds))


@dataclass
class SimContext:
    config: SimConfig
    bank: Bank
    calendar: WorkCalendar
    factory: EventFactory
    ledger: Ledger
    days: list[date]
    rosters: list[dict[str, BranchDay]]
    cases: list[Case] = field(default_factory=list)
    reserved: set[str] = field(default_factory=set)
    """Accounts and operators already used by an injected case (cases never share them)."""
    expected_crossings: dict[DayKey, Case] = field(default_factory=dict)
    activity: dict[tuple[str, bool], tuple[tuple[Customer, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )
    """Per (branch, open day): active customers and their cumulative daily rates."""
    """Same-day totals an injected case crosses on purpose, with the case that labels them."""

    @classmethod
    def create(cls, config: SimConfig, limits: Limits) -> SimContext:
        bank = build_bank(config)
        calendar = WorkCalendar(config.zone, config.business_hours, config.holidays_country)
        ledger = Ledger(config.home_country, limits)
        days = [config.start + timedelta(days=i) for i in range(config.days)]
        rosters = [build_roster(bank, calendar, day, config.seed) for day in days]
        return cls(config, bank, calendar, EventFactory(ledger), ledger, days, rosters)

    def working_days(self) -> list[int]:
        """Indices of the days the branches are open."""
        return [i for i, day in enumerate(self.days) if self.calendar.is_working_day(day)]
