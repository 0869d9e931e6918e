"""The alert contract: what the core returns, one JSON object per line on the wire.

Conventions
-----------
- ``alert_id`` is deterministic: a hash of the rule (or model) id, the entity (type and id) and
  the sorted triggering event ids. At-least-once delivery may repeat an alert; it never changes
  its id. Two entities never share one, even if two events reuse one ``event_id``.
- ``occurred_at`` is the event time that fired the alert (for a missed deadline, the deadline).
  The core never reads the wall clock, so ``detected_at`` is left empty by the core and stamped by
  the live worker when it emits the alert; a replay of a file gives byte-identical alerts.
- Identifiers of accounts are masked (last four characters kept) unless masking is turned off.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "ACCOUNT_FIELDS",
    "SHADOW_TAG",
    "Alert",
    "Category",
    "EntityType",
    "Explanation",
    "Language",
    "OperationsReason",
    "Severity",
    "delivery_key",
    "is_resolution",
    "is_shadow",
    "make_alert_id",
    "mask_alert",
    "mask_event",
    "mask_id",
]

ACCOUNT_FIELDS = frozenset({"account_id", "counterparty_account", "target_account_id"})
"""Explanation keys whose values are account numbers (masked outside the alert store)."""

Category = Literal[
    "dual_review", "large_transfer", "structuring", "after_hours", "model_anomaly", "operations"
]
OperationsReason = Literal[
    "volume_drop", "volume_surge", "slow_posting", "slow_review", "reversal_rate", "feed_errors"
]
DualReviewReason = Literal["missing", "self_approval", "unauthorised_reviewer", "late"]
Severity = Literal["info", "low", "medium", "high", "critical"]
EntityType = Literal["account", "operator", "transaction", "branch"]
Language = Literal["en", "zh-CN"]
Scalar = str | int | float | bool | None
Explanation = dict[str, Scalar | list[Scalar]]


def make_alert_id(rule_id: str, event_ids: Iterable[str], salt: str = "", entity: str = "") -> str:
    """A stable id from the rule id, the entity and the triggering event ids (in any order).

    ``entity`` is ``"<entity type>:<entity id>"`` (the unmasked id), so that two accounts whose
    transactions share an ``event_id`` still get two alerts.

    >>> make_alert_id("r", ["b", "a"]) == make_alert_id("r", ["a", "b"])
    True
    >>> one, two = (make_alert_id("r", ["e"], entity=f"account:{n}") for n in (1, 2))
    >>> one == two
    False
    >>> len(make_alert_id("r", ["a"]))
    32
    """
    digest = hashlib.sha256()
    digest.update(rule_id.encode())
    digest.update(b"\x1f")
    digest.update(salt.encode())
    if entity:
        digest.update(b"\x1d")
        digest.update(entity.encode())
    for event_id in sorted(event_ids):
        digest.update(b"\x1e")
        digest.update(event_id.encode())
    return digest.hexdigest()[:32]


def mask_id(value: str, keep: int = 4) -> str:
    """Mask an account number, keeping the last ``keep`` characters.

    >>> mask_id("6222020200001234")
    '************1234'
    >>> mask_id("123")
    '***'
    """
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


class Alert(BaseModel):
    """One alert as risk officers, sinks and the alert store see it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    category: Category
    reason: str | None = None
    rule_id: str
    title: str
    severity: Severity
    entity_type: EntityType
    entity_id: str
    branch_id: str | None = None
    event_ids: tuple[str, ...]
    occurred_at: AwareDatetime
    detected_at: AwareDatetime | None = None
    message: str
    language: Language
    messages: dict[Language, str] = Field(default_factory=dict)
    """The message in every language the rule has a template for; routes pick theirs."""
    explanation: Explanation = Field(default_factory=dict)
    tags: tuple[str, ...] = ()
    pack_version: str
    pack_hash: str
    evidence: tuple[dict[str, Any], ...] = ()
    """The triggering events the detector had at hand (JSON-shaped, account numbers masked unless
    the run keeps full values), so the alert store keeps the evidence, not only its ids. The live
    worker fills it for alerts an event raises; a deadline's alert names its events by id."""

    def in_language(self, language: Language) -> Alert:
        """The alert with its message in ``language`` (unchanged if that text is missing)."""
        if language == self.language or language not in self.messages:
            return self
        return self.model_copy(update={"message": self.messages[language], "language": language})

    def to_json(self) -> str:
        """The wire form: compact JSON, stable key order."""
        return self.model_dump_json()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Alert:
        return cls.model_validate_json(raw)


def explain(values: Mapping[str, object]) -> Explanation:
    """Turn arbitrary values into JSON scalars (Decimals and datetimes become strings)."""
    out: Explanation = {}
    for key, value in values.items():
        if value is None or isinstance(value, bool | int | float | str):
            out[key] = value
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        elif isinstance(value, list | tuple):
            out[key] = [v if isinstance(v, bool | int | float | str) else str(v) for v in value]
        else:
            out[key] = str(value)
    return out


def mask_alert(alert: Alert) -> Alert:
    """The alert with every account number masked: entity id, explanation, and in the message.

    Idempotent: an alert the engine already masked comes back unchanged.

    >>> a = Alert(alert_id="x", category="large_transfer", rule_id="r", title="t",
    ...     severity="low", entity_type="account", entity_id="6222020200001234",
    ...     event_ids=("e",), occurred_at="2026-03-03T10:00:00+08:00",
    ...     message="account 6222020200001234 moved money", language="en",
    ...     explanation={"account_id": "6222020200001234"}, pack_version="p@1.0.0",
    ...     pack_hash="h")
    >>> mask_alert(a).message
    'account ************1234 moved money'
    """
    raw: set[str] = set()
    if alert.entity_type == "account":
        raw.add(alert.entity_id)
    explanation = dict(alert.explanation)
    for key in ACCOUNT_FIELDS & explanation.keys():
        value = explanation[key]
        if isinstance(value, str):
            raw.add(value)
            explanation[key] = mask_id(value)
    evidence = tuple(mask_event(event) for event in alert.evidence)
    for before, after in zip(alert.evidence, evidence, strict=True):
        raw.update(str(before[key]) for key in ACCOUNT_FIELDS & before.keys() if key in after)
    raw = {value for value in raw if value and value != mask_id(value)}
    if not raw:
        return alert

    def hide(text: str) -> str:
        for value in sorted(raw, key=len, reverse=True):
            text = text.replace(value, mask_id(value))
        return text

    entity_id = mask_id(alert.entity_id) if alert.entity_type == "account" else alert.entity_id
    return alert.model_copy(
        update={
            "entity_id": entity_id,
            "message": hide(alert.message),
            "messages": {lang: hide(text) for lang, text in alert.messages.items()},
            "explanation": explanation,
            "evidence": evidence,
        }
    )


def mask_event(event: dict[str, Any]) -> dict[str, Any]:
    """A JSON-shaped event with its account numbers masked (:data:`ACCOUNT_FIELDS`).

    >>> mask_event({"event_id": "e1", "account_id": "6222020200001234"})["account_id"]
    '************1234'
    """
    return {
        key: mask_id(value) if key in ACCOUNT_FIELDS and isinstance(value, str) else value
        for key, value in event.items()
    }


SHADOW_TAG = "shadow"
"""The tag of alerts from a rule in ``mode: shadow``: stored and counted, never delivered."""


def is_shadow(alert: Alert) -> bool:
    """Whether the alert comes from a shadow rule (tried on live traffic, not yet switched on)."""
    return SHADOW_TAG in alert.tags


def is_resolution(alert: Alert) -> bool:
    """Whether the alert resolves an incident raised before under the same ``alert_id`` (an
    ``operations`` incident back in its usual range): stores mark that alert resolved and
    Alertmanager receives it with ``endsAt``."""
    return alert.explanation.get("incident_status") == "resolved"


def delivery_key(alert: Alert) -> str:
    """What makes a delivery a repeat: the ``alert_id``, apart for an incident's resolution
    (which must not be taken for a repeat of its firing alert)."""
    return alert.alert_id + (":resolved" if is_resolution(alert) else "")
