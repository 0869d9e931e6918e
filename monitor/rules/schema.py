"""The shape of rule-pack items, validated by pydantic (``extra="forbid"``: typos fail the load).

Item kinds: ``pack`` (name and version of the file), ``list``, ``macro``, ``currency_table`` and
``rule``. Rules come in four kinds — ``condition``, ``aggregate``, ``sequence``, ``schedule`` — each
with its own parameters. Conditions stay raw data here; :mod:`monitor.rules.conditions` compiles
them.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.alerts import Category, Language, Severity

_ID = r"^[a-z][a-z0-9_]*$"
_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(value: Any) -> timedelta:
    """``"30m"`` -> 30 minutes. Units: s, m, h, d.

    >>> parse_duration("24h")
    datetime.timedelta(days=1)
    """
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a duration like 30m, 24h or 7d, got {value!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
"""A duration written ``30m``, ``24h`` or ``7d`` (s, m, h, d): rule fields and the CLI share it."""


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackItem(_Strict):
    pack: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    desc: str = ""


class ListItem(_Strict):
    list: str = Field(pattern=_ID)
    items: tuple[str, ...]
    append: bool = False

    @field_validator("items", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(str(v) for v in value)
        return value


class MacroItem(_Strict):
    macro: str = Field(pattern=_ID)
    condition: Any
    desc: str = ""


class CurrencyTableItem(_Strict):
    """Rates in units of ``base`` per one unit of each currency."""

    currency_table: str = Field(pattern=_ID)
    base: str = Field(pattern=r"^[A-Z]{3}$")
    rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[Decimal, Field(gt=0)]]


class Example(_Strict):
    """Events given to one rule and the alerts expected from it (empty list: must not match)."""

    desc: str = ""
    events: list[dict[str, Any]] = Field(min_length=1)
    advance: Duration | None = None
    expect: list[dict[str, Any]]


Output = dict[Language, str | dict[str, str]]


class _RuleBase(_Strict):
    rule: str = Field(min_length=3)
    id: str = Field(pattern=_ID)
    desc: str = Field(min_length=1)
    category: Category
    condition: Any = True
    output: Output
    severity: Severity
    tags: tuple[str, ...] = ()
    enabled: bool = True
    mode: Literal["live", "shadow"] = "live"
    """``shadow``: the rule runs on live traffic and its alerts are stored, marked and counted,
    but never delivered to a risk officer (try a new threshold before switching it on)."""
    examples: list[Example] = Field(default_factory=list)

    @field_validator("output")
    @classmethod
    def _both_languages(cls, value: Output) -> Output:
        missing = {"en", "zh-CN"} - set(value)
        if missing:
            raise ValueError(f"output needs templates in both en and zh-CN; missing {missing}")
        return value


class _Thresholded(_RuleBase):
    """Amounts by currency. A transaction in a listed currency is compared natively; any other
    currency is converted to ``convert_to`` with the pack's currency table, so ``convert_to`` must
    be one of the threshold's currencies (the loader checks it and says so at the right line)."""

    threshold: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[Decimal, Field(gt=0)]]
    convert_to: str = "USD"


class ConditionRule(_Thresholded):
    kind: Literal["condition"]
    entity: Literal["transaction", "operator", "account"]
    threshold: dict[str, Decimal] = Field(default_factory=dict)


class AggregateRule(_Thresholded):
    kind: Literal["aggregate"]
    entity: Literal["account"]
    window: Literal["calendar_day"] | timedelta
    timezone: str = "Asia/Shanghai"
    min_count: int = Field(default=2, ge=1)
    band: tuple[float, float] | None = None
    only_below_threshold: bool = True

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        return value if value == "calendar_day" else parse_duration(value)

    @field_validator("band")
    @classmethod
    def _band(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] < value[1] <= 1:
            raise ValueError("band is [low, high] with 0 < low < high <= 1")
        return value


class Expectation(_Strict):
    action: Literal["approve"] = "approve"
    within: Duration
    roles: tuple[str, ...] = Field(min_length=1)
    different_from: Literal["initiator_id"] = "initiator_id"
    before_status: Literal["posted"] | None = "posted"


class SequenceRule(_Thresholded):
    kind: Literal["sequence"]
    entity: Literal["transaction"]
    threshold: dict[str, Decimal] = Field(default_factory=dict)
    convert_to: str = "CNY"
    expect: Expectation
    retention: Duration = timedelta(days=2)


class Overtime(_Strict):
    operator_id: str
    start: AwareDatetime
    end: AwareDatetime
    approved_by: str | None = None
    ticket: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Overtime:
        if self.end <= self.start:
            raise ValueError("overtime end must be after start")
        return self


class Schedule(_Strict):
    timezone: str = "Asia/Shanghai"
    branch_timezones: dict[str, str] = Field(default_factory=dict)
    business_hours: tuple[time, time] = (time(8, 30), time(17, 30))
    weekdays: tuple[Weekday, ...] = WEEKDAYS[:5]
    holidays: str | None = "CN"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _zone(value)

    @field_validator("branch_timezones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        for zone in value.values():
            _zone(zone)
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: tuple[time, time]) -> tuple[time, time]:
        if value[1] <= value[0]:
            raise ValueError("business_hours end must be after start")
        return value


class ScheduleRule(_RuleBase):
    kind: Literal["schedule"]
    entity: Literal["operator"]
    schedule: Schedule = Field(default_factory=Schedule)
    overtime: tuple[Overtime, ...] = ()
    suppress_for: Duration = timedelta(hours=1)


RuleSpec = Annotated[
    ConditionRule | AggregateRule | SequenceRule | ScheduleRule, Field(discriminator="kind")
]
AnyRule = ConditionRule | AggregateRule | SequenceRule | ScheduleRule
