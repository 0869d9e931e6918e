"""The simulator's configuration: one frozen pydantic model, the whole set of knobs.

The defaults describe a mid-sized Chinese commercial bank: 20 branches in Asia/Shanghai, a week
starting Monday 2 March 2026, about 2,000 customers and a dozen staff per branch. The calendar,
business hours and home country must agree with the rule packs the output is replayed through
(the shipped packs by default; a test checks them). Thresholds, the currency table and the
dual-review limits are not configured here: ``simulate`` reads them from the rule set
(:mod:`monitor.simulator.limits`).
"""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["SimConfig"]


class SimConfig(BaseModel):
    """Everything that shapes a simulated bank; the same config gives byte-identical output.

    ``inject_rate`` multiplies the number of labelled cases of each kind (violations and rule-less
    anomalies). At ``1.0`` a 20-branch week holds 3-4 cases of every category and reason; counts
    scale with days and branches, with at least one of each while the rate is above zero.
    ``0`` turns every injection off (genuinely large transactions are ordinary business and are
    still generated and labelled).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 7
    start: date = date(2026, 3, 2)
    days: int = Field(default=7, ge=1, le=366)
    branches: int = Field(default=20, ge=1, le=999)
    customers_per_branch: int = Field(default=2000, ge=20)
    corporate_share: float = Field(default=0.10, ge=0.0, le=0.5)
    dormant_share: float = Field(default=0.05, ge=0.0, le=0.5)
    fx_share: float = Field(default=0.06, ge=0.0, le=1.0)
    """Share of customers who hold foreign currency and deal cross-border."""
    individual_daily_rate: float = Field(default=0.45, gt=0.0)
    """Mean transactions per active individual customer per working day."""
    corporate_daily_rate: float = Field(default=3.0, gt=0.0)
    tellers_per_branch: int = Field(default=6, ge=2)
    supervisors_per_branch: int = Field(default=2, ge=1)
    managers_per_branch: int = Field(default=1, ge=1)
    auditors: int = Field(default=4, ge=1)
    admins: int = Field(default=2, ge=1)
    it_staff: int = Field(default=3, ge=1)
    """Bank-wide staff, assigned to branches round-robin."""
    reversal_rate: float = Field(default=0.003, ge=0.0, le=0.1)
    reject_rate: float = Field(default=0.02, ge=0.0, le=0.5)
    """Share of transactions needing review that the reviewer rejects (then reversed)."""
    large_per_branch_day: float = Field(default=0.25, ge=0.0)
    """Genuinely large (reportable) transactions per branch per working day."""
    inject_rate: float = Field(default=1.0, ge=0.0)
    timezone: str = "Asia/Shanghai"
    home_country: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    holidays_country: str | None = "CN"
    business_hours: tuple[time, time] = (time(8, 30), time(17, 30))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _hours_leave_room(self) -> SimConfig:
        opens, closes = self.business_hours
        span = (closes.hour * 60 + closes.minute) - (opens.hour * 60 + opens.minute)
        if span < 4 * 60:
            raise ValueError("business hours must span at least four hours")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
