"""Words and formats for people: dates, weekdays, actions, roles, statuses and units, en and zh-CN.

Pure functions, no I/O and no wall clock. Times are shown in the bank's time zone (a setting at
the entry points, ``Asia/Shanghai`` by default); a Chinese date reads ``2026年3月3日 星期二 22:27``,
an English one ``2026-03-03 22:27 Tue``. Unknown codes are returned unchanged, so a new action or
role still shows (as its code) instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "ACTIONS_ZH",
    "BANK_TIMEZONE",
    "CLOSED_BECAUSE_ZH",
    "ROLES_ZH",
    "STATUSES_ZH",
    "action_name",
    "closed_because",
    "duration_text",
    "format_date",
    "format_datetime",
    "localise_times",
    "role_name",
    "status_name",
    "value_name",
    "zone",
]

Lang = Literal["en", "zh-CN"]
BANK_TIMEZONE = "Asia/Shanghai"
WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

ACTIONS_ZH = {
    "login": "登录",
    "logout": "登出",
    "approve": "审批",
    "reject": "拒绝",
    "review": "复核",
    "override": "授权覆盖",
    "view_customer": "查看客户信息",
    "export_data": "导出数据",
    "change_limit": "修改限额",
    "unlock_account": "解锁账户",
    "modify_account": "修改账户",
}
"""Operator actions of the event contract."""

ROLES_ZH = {
    "teller": "柜员",
    "supervisor": "主管",
    "manager": "经理",
    "admin": "系统管理员",
    "auditor": "审计员",
    "it": "信息科技人员",
    "officer": "风险专员",
}
"""Staff roles in events and riskmon user roles."""

STATUSES_ZH = {
    "open": "待处理",
    "acknowledged": "已确认",
    "pending_approval": "待复核",
    "resolved": "已处置",
    "false_positive": "误报",
    "duplicate": "重复",
    "active": "生效中",
    "ended": "已结束",
}

CLOSED_BECAUSE_ZH = {
    "weekend": "周末",
    "outside business hours": "非营业时间",
}

VALUES_ZH = {
    "deposit": "存款",
    "withdrawal": "取款",
    "transfer": "转账",
    "payment": "支付",
    "counter": "柜面",
    "atm": "自动柜员机",
    "mobile": "手机银行",
    "online": "网上银行",
    "wire": "电汇",
    "batch": "批量",
    "individual": "个人",
    "corporate": "单位",
    "initiated": "已发起",
    "posted": "已记账",
    "reversed": "已冲正",
    "success": "成功",
    "failure": "失败",
    "debit": "支出",
    "credit": "收入",
}
"""Other enumerated event values (transaction types, channels, statuses ...)."""


def zone(name: str = BANK_TIMEZONE) -> ZoneInfo:
    """The time zone ``name`` (raises ``ZoneInfoNotFoundError`` for an unknown one)."""
    return ZoneInfo(name)


def format_datetime(
    moment: datetime, language: Lang = "en", tz: str = BANK_TIMEZONE, *, weekday: bool = True
) -> str:
    """``moment`` in the bank's time zone, to the minute, for people.

    >>> from datetime import UTC
    >>> at = datetime(2026, 3, 3, 14, 27, tzinfo=UTC)
    >>> format_datetime(at, "zh-CN")
    '2026年3月3日 星期二 22:27'
    >>> format_datetime(at, "en")
    '2026-03-03 22:27 Tue'
    """
    local = moment.astimezone(ZoneInfo(tz)) if moment.tzinfo else moment
    if language == "zh-CN":
        day = f"{local.year}年{local.month}月{local.day}日"
        week = f" {WEEKDAYS_ZH[local.weekday()]}" if weekday else ""
        return f"{day}{week} {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}" + (f" {local:%a}" if weekday else "")


def format_date(day: date, language: Lang = "en") -> str:
    """A calendar day: ``2026年3月2日`` or ``2026-03-02``.

    >>> format_date(date(2026, 3, 2), "zh-CN")
    '2026年3月2日'
    """
    if language == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def duration_text(seconds: float, language: Lang = "en") -> str:
    """A duration in the largest whole unit (days and weeks from two on): ``30 分钟`` / ``30 min``,
    ``24 小时`` / ``24 h``, ``3 天`` / ``3 days``.

    >>> duration_text(1800, "zh-CN"), duration_text(86400, "zh-CN"), duration_text(5400, "en")
    ('30 分钟', '24 小时', '90 min')
    """
    whole = round(seconds)
    units_en = ((86400 * 7, "week"), (86400, "day"), (3600, "h"), (60, "min"), (1, "s"))
    units_zh = ("周", "天", "小时", "分钟", "秒")
    for (size, en), zh in zip(units_en, units_zh, strict=True):
        if whole >= size and whole % size == 0 and (whole >= 2 * size or size <= 3600):
            count = whole // size
            if language == "zh-CN":
                return f"{count} {zh}"
            plural = "s" if count != 1 and en in ("week", "day") else ""
            return f"{count} {en}{plural}"
    return f"{seconds:g} 秒" if language == "zh-CN" else f"{seconds:g} s"


def _named(table: Mapping[str, str], code: str, language: Lang) -> str:
    return table.get(code, code) if language == "zh-CN" else code


def action_name(action: str, language: Lang = "en") -> str:
    """``login`` -> ``登录`` in Chinese; the code itself in English."""
    return _named(ACTIONS_ZH, action, language)


def role_name(role: str, language: Lang = "en") -> str:
    """``teller`` -> ``柜员``, ``admin`` -> ``系统管理员`` in Chinese; the code in English."""
    return _named(ROLES_ZH, role, language)


def status_name(status: str, language: Lang = "en") -> str:
    """An alert or silence status for people."""
    return _named(STATUSES_ZH, status, language)


def value_name(value: str, language: Lang = "en") -> str:
    """An enumerated event value (channel, transaction type ...) for people."""
    return _named(VALUES_ZH, value, language)


def closed_because(reason: str, language: Lang = "en", holiday_zh: str | None = None) -> str:
    """Why the branch was closed: ``weekend``, ``outside business hours`` or a public holiday.

    ``holiday_zh`` is the holiday's Chinese name, when known.

    >>> closed_because("public holiday (National Day)", "zh-CN", "国庆节")
    '法定节假日（国庆节）'
    >>> closed_because("outside business hours", "zh-CN")
    '非营业时间'
    """
    if language != "zh-CN":
        return reason
    if reason.startswith("public holiday"):
        return f"法定节假日（{holiday_zh}）" if holiday_zh else "法定节假日"
    return CLOSED_BECAUSE_ZH.get(reason, reason)


def localise_times(data: Any, tz: str = BANK_TIMEZONE) -> Any:
    """A copy of nested dicts/lists with every aware datetime moved into the bank's time zone."""
    where = ZoneInfo(tz)
    if isinstance(data, datetime):
        return data.astimezone(where) if data.tzinfo else data
    if isinstance(data, Mapping):
        return {key: localise_times(value, tz) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [localise_times(value, tz) for value in data]
    return data
