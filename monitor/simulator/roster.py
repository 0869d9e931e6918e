"""Who works when: one shift per operator on duty, on working days only, inside business hours.

Supervisors and managers cover the whole business day, so a reviewer is always logged in when a
teller needs an approval. Tellers work a full, early or late shift. At least two tellers and one
reviewer are on duty at every branch on every working day. Every shift starts at or after the
opening time and ends a few minutes before closing, so that no sensitive action of ordinary work
falls outside business hours.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from monitor.simulator.bank import Bank, Operator
from monitor.simulator.workdays import WorkCalendar

__all__ = ["BranchDay", "Shift", "build_roster"]

REVIEWER_ROLES = frozenset({"supervisor", "manager"})
COUNTER_MARGIN_START = timedelta(minutes=12)
COUNTER_MARGIN_END = timedelta(minutes=35)
"""Counter work stops this long before closing, so approvals and posting still fit the day."""


@dataclass(frozen=True, slots=True)
class Shift:
    operator: Operator
    login: datetime
    logout: datetime

    def counter_window(self, opens: datetime, closes: datetime) -> tuple[datetime, datetime]:
        """When this teller may start a counter transaction that still gets reviewed in hours."""
        start = max(self.login, opens) + COUNTER_MARGIN_START
        end = min(self.logout - timedelta(minutes=5), closes - COUNTER_MARGIN_END)
        return start, end


@dataclass
class BranchDay:
    branch_id: str
    day: date
    opens: datetime
    closes: datetime
    shifts: list[Shift] = field(default_factory=list)

    tellers: list[Shift] = field(init=False)
    reviewers: list[Shift] = field(init=False)
    """Supervisors and managers on duty."""

    def __post_init__(self) -> None:
        self.tellers = [s for s in self.shifts if s.operator.role == "teller"]
        self.reviewers = [s for s in self.shifts if s.operator.role in REVIEWER_ROLES]

    def reviewers_at(self, moment: datetime) -> list[Shift]:
        return [s for s in self.reviewers if s.login < moment < s.logout]

    def others(self, operator_id: str, moment: datetime, roles: frozenset[str]) -> list[Shift]:
        """Staff with one of ``roles``, other than ``operator_id``, logged in at ``moment``."""
        return [
            s
            for s in self.shifts
            if s.operator.role in roles
            and s.operator.operator_id != operator_id
            and s.login < moment < s.logout
        ]


def build_roster(bank: Bank, calendar: WorkCalendar, day: date, seed: int) -> dict[str, BranchDay]:
    """The shifts of ``day`` per branch; empty on a day the bank is closed."""
    if not calendar.is_working_day(day):
        return {}
    rng = random.Random(f"{seed}:roster:{day.isoformat()}")
    opens, closes = calendar.opens(day), calendar.closes(day)
    out: dict[str, BranchDay] = {}
    for branch_id in bank.branch_ids:
        staff = bank.operators[branch_id]
        present = [op for op in staff if rng.random() < 0.9]
        for role, minimum in (("teller", 2), ("supervisor", 1)):
            have = [op for op in present if op.role == role]
            spare = [op for op in staff if op.role == role and op not in present]
            present.extend(spare[: max(0, minimum - len(have))])
        present.sort(key=staff.index)
        shifts = [_shift(rng, op, opens, closes) for op in present]
        out[branch_id] = BranchDay(branch_id, day, opens, closes, shifts)
    return out


def _shift(rng: random.Random, operator: Operator, opens: datetime, closes: datetime) -> Shift:
    span = (closes - opens).total_seconds()
    start = opens + timedelta(seconds=rng.randint(0, 480))
    end = closes - timedelta(seconds=rng.randint(60, 780))
    if operator.role == "teller":
        kind = rng.random()
        if kind < 0.2:  # early shift: leaves about two hours before closing
            end = opens + timedelta(seconds=span * 0.75 + rng.randint(0, 600))
        elif kind < 0.4:  # late shift: arrives about ninety minutes after opening
            start = opens + timedelta(seconds=span * 0.17 + rng.randint(0, 600))
    return Shift(operator, start, end)
