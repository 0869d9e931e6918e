"""Turning a rule's :class:`~monitor.rules.compiled.Finding` into an :class:`~monitor.alerts.Alert`.

Messages come from the rule's template in the chosen language. Account numbers are masked in the
message, the explanation and the entity id unless masking is turned off (the alert store may keep
full values where a setting allows it).

Values are shown for people in each language (:mod:`monitor.i18n`): times in the bank's time
zone (``2026年3月3日 星期二 22:27``), actions, roles, channels and holidays by their Chinese names,
durations with Chinese units (``30 分钟``). Only the message changes: the explanation keeps the
raw values and the alert id does not depend on the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from monitor.alerts import (
    ACCOUNT_FIELDS,
    Alert,
    EntityType,
    Language,
    explain,
    make_alert_id,
    mask_id,
)
from monitor.findings import Finding
from monitor.i18n import (
    BANK_TIMEZONE,
    VALUES_ZH,
    action_name,
    closed_because,
    duration_text,
    format_date,
    format_datetime,
    role_name,
    value_name,
)

ZH_VALUES = VALUES_ZH
"""Kept for callers of the old name."""
TIME_KEYS = frozenset({"initiated_at", "posted_at", "approved_at", "occurred_at", "deadline"})
ROLE_KEYS = frozenset({"role", "approver_role", "allowed_roles"})
_CALENDAR_DAY = re.compile(r"calendar day (\d{4}-\d{2}-\d{2})")
_HOURS = re.compile(r"(\d+(?:\.\d+)?)h")
_MINUTES = re.compile(r"(\d+(?:\.\d+)?) ?min")


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


class AlertRenderer:
    """Renders findings for one rule set, language and masking policy."""

    def __init__(
        self,
        pack_hash: str,
        language: Language = "en",
        mask: bool = True,
        timezone: str = BANK_TIMEZONE,
    ) -> None:
        self.pack_hash = pack_hash
        self.language: Language = language
        self.mask = mask
        self.timezone = timezone

    def render(self, finding: Finding) -> Alert:
        meta = finding.meta
        values = {k: self._mask(k, v) for k, v in finding.values.items()}
        entity_id = finding.entity_id
        if meta.entity == "account" and self.mask:
            entity_id = mask_id(entity_id)
        messages: dict[Language, str] = {
            language: self._message(templates, finding.reason, values, language)
            for language, templates in meta.templates.items()
        }
        entity_type: EntityType = meta.entity  # type: ignore[assignment]  # validated at load
        return Alert(
            alert_id=make_alert_id(
                meta.id,
                finding.event_ids,
                finding.reason or "",
                entity=f"{meta.entity}:{finding.entity_id}",
            ),
            category=meta.category,
            reason=finding.reason,
            rule_id=meta.id,
            title=meta.title,
            severity=meta.severity,
            entity_type=entity_type,
            entity_id=entity_id,
            branch_id=finding.branch_id,
            event_ids=finding.event_ids,
            occurred_at=finding.occurred_at,
            message=messages[self.language],
            language=self.language,
            messages=messages,
            explanation=explain(_relevant(values, meta.fields)),
            tags=meta.tags,
            pack_version=meta.pack_version,
            pack_hash=self.pack_hash,
        )

    def _message(
        self,
        templates: Mapping[str, str],
        reason: str | None,
        values: Mapping[str, Any],
        language: Language,
    ) -> str:
        template = templates.get(reason or "", templates.get("", ""))
        shown = _Lenient({k: self._display(k, v, values, language) for k, v in values.items()})
        return template.format_map(shown)

    def _mask(self, key: str, value: Any) -> Any:
        if self.mask and key in ACCOUNT_FIELDS and isinstance(value, str):
            return mask_id(value)
        return value

    def _display(self, key: str, value: Any, values: Mapping[str, Any], language: Language) -> Any:
        """``value`` of ``key`` as people read it in ``language``."""
        if value is None:
            return "未记录" if language == "zh-CN" else "not recorded"
        if isinstance(value, Decimal):
            return f"{value:,.2f}"
        if isinstance(value, list | tuple):
            shown = [str(self._display(key, v, values, language)) for v in value]
            return ("、" if language == "zh-CN" else ", ").join(shown)
        if key in TIME_KEYS:
            return self._time(value, language)
        if key == "local_time":
            return self._local_time(value, values, language)
        if not isinstance(value, str):
            return value
        if key == "action":
            return action_name(value, language)
        if key in ROLE_KEYS:
            return role_name(value, language)
        if key == "closed_because":
            return closed_because(value, language, self._holiday_zh(values, language))
        if key in ("window", "within"):
            return _span(value, language)
        return value_name(value, language)

    def _time(self, value: Any, language: Language) -> Any:
        try:
            moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        except ValueError:
            return value
        return format_datetime(moment, language, self.timezone)

    def _local_time(self, value: Any, values: Mapping[str, Any], language: Language) -> Any:
        """The schedule kind's local time, from the event time in the rule's own time zone."""
        moment, zone = values.get("occurred_at"), values.get("timezone")
        if isinstance(moment, datetime) and isinstance(zone, str):
            return format_datetime(moment, language, zone)
        return value

    def _holiday_zh(self, values: Mapping[str, Any], language: Language) -> str | None:
        moment, zone = values.get("occurred_at"), values.get("timezone")
        if language != "zh-CN" or not isinstance(moment, datetime) or not isinstance(zone, str):
            return None
        return _cn_holiday_zh(moment.astimezone(ZoneInfo(zone)).date())


@lru_cache(maxsize=64)
def _cn_holiday_zh(day: date) -> str | None:
    """The Chinese name of a public holiday in mainland China on ``day``, if it is one."""
    names = holidays_lib.country_holidays("CN", years=day.year, language="zh_CN")
    name = names.get(day)
    return str(name) if name else None


def _span(value: str, language: Language) -> str:
    """``calendar day 2026-03-02`` -> ``2026年3月2日``; ``24h`` -> ``24 小时``; ``30 min`` ->
    ``30 分钟`` (English keeps the rule kind's own wording)."""
    if language != "zh-CN":
        return value
    if found := _CALENDAR_DAY.fullmatch(value):
        return format_date(date.fromisoformat(found.group(1)), language)
    if found := _HOURS.fullmatch(value):
        return duration_text(float(found.group(1)) * 3600, language)
    if found := _MINUTES.fullmatch(value):
        return duration_text(float(found.group(1)) * 60, language)
    return value


def _relevant(values: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Explanation: what the condition read, plus every value the rule computed itself."""
    from monitor.events import OperatorAction, Transaction

    contract = set(Transaction.model_fields) | set(OperatorAction.model_fields)
    keep = {"event_id", "branch_id", "occurred_at", "amount", "currency", "account_id"} | fields
    return {k: v for k, v in values.items() if k not in contract or k in keep}
