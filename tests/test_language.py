"""Issue 12 item 8: every message reads as natural Chinese (and plain English).

Every message template of every shipped rule (each reason of the dual-review rule, each reason a
branch is closed) is rendered in both languages from real events: the rules' own examples, run
through the real engine. The zh-CN text may hold no English word: only ids and codes from the
triggering events (transaction, operator, branch and terminal ids, currency and country codes) and
masked account numbers. The model explanation phrases are checked the same way, for every
channel, action and role of the event contract.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, get_args

import pytest

from monitor.alerts import Alert, DualReviewReason, mask_id
from monitor.engine import Engine
from monitor.events import Action, Channel, Role, decode_event
from monitor.i18n import (
    action_name,
    closed_because,
    duration_text,
    format_date,
    format_datetime,
    role_name,
)
from monitor.models.explain import PHRASES, explain_features
from monitor.rule_examples import example_events
from tests.shipped import shipped_rules

RULES = shipped_rules()
CODE_FIELDS = (
    "event_id", "txn_id", "account_id", "counterparty_account", "target_account_id",
    "target_txn_id", "operator_id", "initiator_id", "branch_id", "terminal_id", "currency",
    "counterparty_country",
)  # fmt: skip
"""Event fields whose values are ids or codes: they may appear as they are in Chinese text."""
CURRENCIES = {"CNY", "USD", "HKD", "EUR", "GBP", "JPY"}
"""ISO 4217 codes in thresholds (the rule's line, not the event's currency)."""
WORD = re.compile(r"[A-Za-z0-9*][A-Za-z0-9_\-.*]*")
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_words(text: str, allowed: set[str]) -> list[str]:
    """Tokens with a Latin letter that are not an allowed id or code."""
    return [
        token
        for token in WORD.findall(text)
        if re.search(r"[A-Za-z]", token) and token.rstrip(".") not in allowed
    ]


def allowed_codes(events: list[Any]) -> set[str]:
    codes: set[str] = set(CURRENCIES)
    for event in events:
        for field in CODE_FIELDS:
            value = getattr(event, field, None)
            if isinstance(value, str):
                codes |= {value, mask_id(value)}
    return codes


def rendered() -> list[tuple[Alert, set[str]]]:
    """Every alert of every example of every shipped rule, with the codes its events allow."""
    out = []
    for rule in RULES.rules:
        for example in RULES.specs[rule.id].examples:
            events = example_events(example)
            engine = Engine(RULES.only(rule.id), language="zh-CN")
            alerts = [a for e in events for a in engine.process(e)]
            if example.advance is not None:
                alerts += engine.advance_to(max(e.occurred_at for e in events) + example.advance)
            alerts += engine.flush()
            out += [(alert, allowed_codes(events)) for alert in alerts]
    return out


ALERTS = rendered()


def test_every_template_of_every_shipped_rule_is_rendered() -> None:
    """The examples reach every rule and every reason; otherwise this test would prove little."""
    seen = {(a.rule_id, a.reason) for a, _ in ALERTS}
    expected = {(r.id, None) for r in RULES.rules if r.id != "dual_review"}
    expected |= {("dual_review", reason) for reason in get_args(DualReviewReason)}
    assert expected <= seen
    closed = {a.explanation.get("closed_because") for a, _ in ALERTS}
    assert {"weekend", "outside business hours"} <= closed
    assert any(str(c).startswith("public holiday") for c in closed)


@pytest.mark.parametrize(
    ("alert", "allowed"), ALERTS, ids=[f"{a.rule_id}-{a.reason}" for a, _ in ALERTS]
)
def test_chinese_messages_hold_no_english_words(alert: Alert, allowed: set[str]) -> None:
    zh, en = alert.messages["zh-CN"], alert.messages["en"]
    assert alert.message == zh
    assert english_words(zh, allowed) == [], zh
    assert CJK.search(zh), zh
    assert not CJK.search(en), en
    assert "?" not in zh and "?" not in en  # no unknown placeholder
    assert "None" not in zh and "None" not in en


def test_the_cases_found_by_a_new_user_read_as_chinese() -> None:
    text = "\n".join(a.messages["zh-CN"] for a, _ in ALERTS)
    for english in ("calendar day", "outside business hours", "Tue", " min", "login", "teller"):
        assert english not in text
    assert "2026年3月3日" in text and "30 分钟内" in text and "非营业时间" in text
    assert "星期二 22:10" in text and "“登录”" in text and "“柜员”" in text
    assert "法定节假日（国庆节）" in text and "周末" in text


def test_an_admin_is_not_called_a_teller() -> None:
    event = decode_event(
        '{"kind": "operator_action", "event_id": "e1", "occurred_at": "2026-03-03T22:27:00+08:00",'
        ' "branch_id": "BR001", "operator_id": "op-9", "role": "admin", "action": "login",'
        ' "terminal_id": "T-1", "outcome": "success"}'
    )
    (alert,) = Engine(RULES.only("after_hours_access"), language="zh-CN").process(event)
    assert alert.message.startswith("系统管理员 op-9 于 2026年3月3日 星期二 22:27（非营业时间")
    assert "柜员" not in alert.message
    assert "Operator op-9 (admin) did login at 2026-03-03 22:27 Tue" in alert.messages["en"]


def by_reason(reason: str) -> Alert:
    return next(a for a, _ in ALERTS if a.rule_id == "dual_review" and a.reason == reason)


def test_dual_review_messages_carry_what_an_officer_needs() -> None:
    masked = mask_id("6222020200001234")
    for reason in get_args(DualReviewReason):
        alert = by_reason(reason)
        for language in ("en", "zh-CN"):
            message = alert.messages[language]
            assert masked in message and "6222020200001234" not in message
            assert "op-t1" in message or reason == "self_approval"  # the initiator
    late = by_reason("late")
    assert "10:06" in late.messages["en"] and "2026年3月3日 星期二 10:06 才授权" in late.message
    assert "已于 2026年3月3日 星期二 10:02 记账" in late.message
    assert "op-s1 本人于 2026年3月3日 星期二 10:05 授权" in by_reason("self_approval").message


def test_message_changes_do_not_change_alert_ids() -> None:
    """Ids hash the rule and the events only, so an English and a Chinese run agree."""
    for rule in RULES.rules:
        for example in RULES.specs[rule.id].examples:
            events = example_events(example)
            ids = []
            for language in ("en", "zh-CN"):
                engine = Engine(RULES.only(rule.id), language=language)  # type: ignore[arg-type]
                found = [a for e in events for a in engine.process(e)]
                found += engine.flush()
                ids.append([a.alert_id for a in found])
            assert ids[0] == ids[1]


# -- the model explanation phrases ---------------------------------------------------------------


def phrase_details() -> list[dict[str, Any]]:
    """Details as the feature builders return them, over every channel, action and role."""
    base: dict[str, Any] = {
        "amount_cny": 48000.0, "usual_p90": 1370.0, "peers_p90": 5000.0, "hour": "02:14",
        "usual_hours": [0] * 9 + [3] * 9 + [0] * 6, "country": "AE", "country_share": 0.004,
        "idle_days": 200.0, "debits_last_hour": 6, "count_last_hour": 40, "usual_peak": 5,
        "usual_channels": ["counter", "mobile"],
    }  # fmt: skip
    out = []
    for channel in get_args(Channel):
        for action, role in zip(
            get_args(Action), list(get_args(Role)) * 3, strict=False
        ):  # every action, every role, every channel
            out.append({**base, "channel": channel, "action": action, "role": role})
    out.append({**base, "channel": "atm", "action": "login", "role": "it", "usual_peak": None})
    out.append({**base, "channel": "wire", "action": "login", "role": "it", "usual_hours": None})
    return out


@pytest.mark.parametrize("name", sorted(PHRASES))
def test_model_explanations_read_as_chinese(name: str) -> None:
    for details in phrase_details():
        en, zh = PHRASES[name](details)
        assert english_words(zh, {"AE"}) == [], zh
        assert CJK.search(zh) and not CJK.search(en), (en, zh)
    en, zh = explain_features(sorted(PHRASES), phrase_details()[0])
    assert "；" in zh and ";" not in zh


# -- the formats themselves ------------------------------------------------------------------------


def test_dates_weekdays_units_actions_and_roles() -> None:
    at = datetime(2026, 3, 3, 14, 27, tzinfo=UTC)
    assert format_datetime(at, "zh-CN") == "2026年3月3日 星期二 22:27"
    assert format_datetime(at, "en") == "2026-03-03 22:27 Tue"
    assert format_datetime(at + timedelta(days=5), "zh-CN") == "2026年3月8日 星期日 22:27"
    assert format_datetime(at, "en", "UTC") == "2026-03-03 14:27 Tue"
    assert format_date(date(2026, 10, 1), "zh-CN") == "2026年10月1日"
    assert duration_text(1800, "zh-CN") == "30 分钟"
    assert duration_text(86400, "zh-CN") == "24 小时"
    assert duration_text(3 * 86400, "en") == "3 days"
    assert [action_name(a, "zh-CN") for a in ("login", "export_data")] == ["登录", "导出数据"]
    assert [role_name(r, "zh-CN") for r in ("teller", "admin")] == ["柜员", "系统管理员"]
    assert all(CJK.search(action_name(a, "zh-CN")) for a in get_args(Action))
    assert all(CJK.search(role_name(r, "zh-CN")) for r in get_args(Role))
    assert closed_because("public holiday (National Day)", "zh-CN") == "法定节假日"
    assert role_name("teller", "en") == "teller"
