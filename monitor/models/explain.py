"""Plain-language explanations of model alerts, in English and Chinese.

Each feature that drove an alert gets one phrase per language built from the raw details the
feature builders return (the value, and the entity's usual range); phrases are joined into one
sentence, e.g. "amount 48,000 CNY is 35x this account's usual 90th percentile (1,370 CNY); first
transfer to this counterparty; 02:14 outside this account's usual hours (09-18)".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, get_args

from monitor.events import Action, Channel
from monitor.i18n import action_name, role_name, value_name

__all__ = ["PHRASES", "explain_features", "hour_span", "top_features"]

CHANNELS_ZH = {c: value_name(c, "zh-CN") for c in get_args(Channel)}
ACTIONS_ZH = {a: action_name(a, "zh-CN") for a in get_args(Action)}
Phrase = Callable[[Mapping[str, Any]], tuple[str, str]]


def _money(value: float | None) -> str:
    return "?" if value is None else f"{value:,.0f}"


def _ratio(d: Mapping[str, Any], key: str) -> str:
    base = d.get(key)
    return f"{d['amount_cny'] / base:.0f}" if base else "?"


def _amount_usual(d: Mapping[str, Any]) -> tuple[str, str]:
    amount, p90, ratio = _money(d["amount_cny"]), _money(d.get("usual_p90")), _ratio(d, "usual_p90")
    return (
        f"amount {amount} CNY is {ratio}x this account's usual 90th percentile ({p90} CNY)",
        f"金额 {amount} 元，是该账户通常水平（第 90 百分位 {p90} 元）的 {ratio} 倍",
    )


def _amount_peers(d: Mapping[str, Any]) -> tuple[str, str]:
    amount, p90, ratio = _money(d["amount_cny"]), _money(d.get("peers_p90")), _ratio(d, "peers_p90")
    channel = d["channel"]
    zh = CHANNELS_ZH.get(channel, channel)
    return (
        f"amount {amount} CNY is {ratio}x the 90th percentile of {channel} debits ({p90} CNY)",
        f"金额 {amount} 元，是同类{zh}支出第 90 百分位（{p90} 元）的 {ratio} 倍",
    )


def hour_span(hours: Sequence[int] | None) -> str | None:
    """The span of hours holding the activity, e.g. ``09-18`` (``None`` without history).

    >>> hour_span([0] * 9 + [2, 0, 1] + [0] * 12)
    '09-12'
    """
    used = [h for h, count in enumerate(hours or ()) if count]
    return f"{used[0]:02d}-{used[-1] + 1:02d}" if used else None


def _hour(d: Mapping[str, Any]) -> tuple[str, str]:
    who = "account" if "amount_cny" in d else "operator"
    who_zh = "账户" if who == "account" else "操作员"
    span = hour_span(d.get("usual_hours"))
    usual, usual_zh = span or "no history", span or "无历史"
    return (
        f"{d['hour']} outside this {who}'s usual hours ({usual})",
        f"{d['hour']} 不在该{who_zh}通常的活动时段（{usual_zh}）内",
    )


def _new_channel(d: Mapping[str, Any]) -> tuple[str, str]:
    channels = sorted(d.get("usual_channels", ()))
    usual = ", ".join(channels) or "none"
    usual_zh = "、".join(CHANNELS_ZH.get(c, c) for c in channels) or "无"
    channel = d["channel"]
    return (
        f"first {channel} debit (usual channels: {usual})",
        f"首次通过{CHANNELS_ZH.get(channel, channel)}支出（通常渠道：{usual_zh}）",
    )


def _new_counterparty(d: Mapping[str, Any]) -> tuple[str, str]:
    return "first transfer to this counterparty", "首次向该交易对手转账"


def _new_country(d: Mapping[str, Any]) -> tuple[str, str]:
    country, share = d.get("country"), d.get("country_share") or 0.0
    return (
        f"first transaction with a counterparty in {country} "
        f"({share:.1%} of foreign debits go there)",
        f"首次与 {country} 的交易对手交易（以往仅 {share:.1%} 的境外支出流向该地）",
    )


def _new_payee(d: Mapping[str, Any]) -> tuple[str, str]:
    amount = _money(d["amount_cny"])
    return (
        f"{amount} CNY to a payee this account never paid",
        f"向从未付款过的收款人转出 {amount} 元",
    )


def _dormancy(d: Mapping[str, Any]) -> tuple[str, str]:
    days = f"{d['idle_days']:.0f}"
    return f"first activity after {days} quiet days", f"沉寂 {days} 天后首次活动"


def _dormant_amount(d: Mapping[str, Any]) -> tuple[str, str]:
    days, amount = f"{d['idle_days']:.0f}", _money(d["amount_cny"])
    return (
        f"{amount} CNY moved out after {days} quiet days",
        f"沉寂 {days} 天后转出 {amount} 元",
    )


def _velocity(d: Mapping[str, Any]) -> tuple[str, str]:
    n = d["debits_last_hour"]
    return f"{n} debits within an hour", f"一小时内 {n} 笔支出"


def _rate_own(d: Mapping[str, Any]) -> tuple[str, str]:
    action, count, peak = d["action"], d["count_last_hour"], d.get("usual_peak")
    peak_en = "none yet" if peak is None else str(peak)
    peak_zh = "暂无" if peak is None else str(peak)
    return (
        f"{count} {action} actions in the last hour; this operator's usual peak is {peak_en}",
        f"最近一小时“{ACTIONS_ZH.get(action, action)}”操作 {count} 次；"
        f"该操作员通常峰值为 {peak_zh}",
    )


def _rate_peers(d: Mapping[str, Any]) -> tuple[str, str]:
    role, p99 = d["role"], _money(d.get("peers_p90"))
    return (
        f"{role} peers' 90th percentile is {p99} per hour",
        f"同岗位（{role_name(role, 'zh-CN')}）第 90 百分位为每小时 {p99} 次",
    )


def _action(d: Mapping[str, Any]) -> tuple[str, str]:
    action = d["action"]
    return (
        f"{action} is unusual for this operator",
        f"该操作员很少执行“{ACTIONS_ZH.get(action, action)}”操作",
    )


PHRASES: dict[str, Phrase] = {
    "amount_vs_usual": _amount_usual,
    "amount_vs_peers": _amount_peers,
    "hour_rarity": _hour,
    "new_channel": _new_channel,
    "new_counterparty": _new_counterparty,
    "new_country": _new_country,
    "new_payee_amount": _new_payee,
    "dormancy": _dormancy,
    "dormant_amount": _dormant_amount,
    "velocity": _velocity,
    "rate_vs_own": _rate_own,
    "rate_vs_peers": _rate_peers,
    "action_rarity": _action,
}


def top_features(weights: Mapping[str, float], limit: int = 3, floor: float = 0.3) -> list[str]:
    """The features that weigh most (largest first, ties by name), at least ``floor`` each.

    ``weights`` are the scorer's per-feature contributions where it has them, else the
    squashed feature values themselves.
    """
    ranked = sorted((n for n in weights if weights[n] >= floor), key=lambda n: (-weights[n], n))
    return ranked[:limit] or sorted(weights, key=lambda n: (-weights[n], n))[:1]


def explain_features(names: list[str], details: Mapping[str, Any]) -> tuple[str, str]:
    """One sentence per language from the phrases of ``names``."""
    phrases = [PHRASES[name](details) for name in names if name in PHRASES]
    return "; ".join(p[0] for p in phrases), "；".join(p[1] for p in phrases)
