"""How model alerts present themselves: one :class:`DetectorMeta` per entity kind."""

from __future__ import annotations

from monitor.findings import DetectorMeta

__all__ = ["MODEL_META", "PACK_VERSION"]

PACK_VERSION = "riskmon-models@1.0.0"

ACCOUNT_META = DetectorMeta(
    id="model_account_behaviour",
    title="Account activity unlike its own history and its peers",
    category="model_anomaly",
    severity="medium",
    entity="account",
    tags=("model", "anomaly", "account"),
    templates={
        "en": {"": "Unusual account activity (score {score}): {why_en}"},
        "zh-CN": {"": "账户活动异常（评分 {score}）：{why_zh}"},
    },
    pack_version=PACK_VERSION,
)
OPERATOR_META = DetectorMeta(
    id="model_operator_behaviour",
    title="Operator activity unlike their own history and their role peers",
    category="model_anomaly",
    severity="medium",
    entity="operator",
    tags=("model", "anomaly", "operator"),
    templates={
        "en": {"": "Unusual operator activity (score {score}): {why_en}"},
        "zh-CN": {"": "操作员行为异常（评分 {score}）：{why_zh}"},
    },
    pack_version=PACK_VERSION,
)
MODEL_META = {"account": ACCOUNT_META, "operator": OPERATOR_META}
REASONS = {
    "amount_vs_usual": "unusual_amount",
    "amount_vs_peers": "unusual_amount",
    "hour_rarity": "unusual_hour",
    "new_channel": "new_channel",
    "new_counterparty": "new_counterparty",
    "new_country": "new_country",
    "dormancy": "dormant_account",
    "dormant_amount": "dormant_account",
    "velocity": "burst",
    "new_payee_amount": "large_new_payee",
    "rate_vs_own": "action_burst",
    "rate_vs_peers": "action_burst",
    "action_rarity": "unusual_action",
}
"""Alert ``reason``: a short code named after the feature that drove the alert most."""
