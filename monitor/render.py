"""Turning a rule's :class:`~monitor.rules.compiled.Finding` into an :class:`~monitor.alerts.Alert`.

Messages come from the rule's template in the chosen language. Account numbers are masked in the
message, the explanation and the entity id unless masking is turned off (the alert store may keep
full values where a setting allows it).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

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

ZH_VALUES = {
    "deposit": "存款",
    "withdrawal": "取款",
    "transfer": "转账",
    "payment": "支付",
    "counter": "柜面",
    "atm": "ATM",
    "mobile": "手机银行",
    "online": "网上银行",
    "wire": "电汇",
    "batch": "批量",
}


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


class AlertRenderer:
    """Renders findings for one rule set, language and masking policy."""

    def __init__(self, pack_hash: str, language: Language = "en", mask: bool = True) -> None:
        self.pack_hash = pack_hash
        self.language: Language = language
        self.mask = mask

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
        shown = _Lenient({k: self._display(v, language) for k, v in values.items()})
        return template.format_map(shown)

    def _mask(self, key: str, value: Any) -> Any:
        if self.mask and key in ACCOUNT_FIELDS and isinstance(value, str):
            return mask_id(value)
        return value

    def _display(self, value: Any, language: Language) -> Any:
        if isinstance(value, Decimal):
            return f"{value:,.2f}"
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if language == "zh-CN" and isinstance(value, str):
            return ZH_VALUES.get(value, value)
        return value


def _relevant(values: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """Explanation: what the condition read, plus every value the rule computed itself."""
    from monitor.events import OperatorAction, Transaction

    contract = set(Transaction.model_fields) | set(OperatorAction.model_fields)
    keep = {"event_id", "branch_id", "occurred_at", "amount", "currency", "account_id"} | fields
    return {k: v for k, v in values.items() if k not in contract or k in keep}
