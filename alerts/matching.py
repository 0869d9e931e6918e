"""Alert matchers, shared by routes and silences.

A field left empty matches anything. A listed field matches when the alert's value is one of the
listed values; ``tags`` matches when the alert carries *every* listed tag.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from monitor.alerts import Alert, Category, EntityType, Severity

__all__ = ["AlertMatcher"]


class AlertMatcher(BaseModel):
    """Which alerts a route or silence covers. Empty fields match anything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    category: tuple[Category, ...] = ()
    severity: tuple[Severity, ...] = ()
    rule_id: tuple[str, ...] = ()
    branch_id: tuple[str, ...] = ()
    entity_type: tuple[EntityType, ...] = ()
    tags: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        """True when no field is set, so every alert matches."""
        return not any(
            (
                self.category,
                self.severity,
                self.rule_id,
                self.branch_id,
                self.entity_type,
                self.tags,
            )
        )

    def matches(self, alert: Alert) -> bool:
        """True when every set field accepts the alert."""
        pairs: tuple[tuple[tuple[str, ...], str | None], ...] = (
            (self.category, alert.category),
            (self.severity, alert.severity),
            (self.rule_id, alert.rule_id),
            (self.branch_id, alert.branch_id),
            (self.entity_type, alert.entity_type),
        )
        if any(allowed and value not in allowed for allowed, value in pairs):
            return False
        return set(self.tags) <= set(alert.tags)
