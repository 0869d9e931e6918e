"""A notification: what a sink receives. One alert, or a group of alerts of one rule and entity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from monitor.alerts import Alert, Severity

__all__ = ["SEVERITY_ORDER", "Notification"]

SEVERITY_ORDER: tuple[str, ...] = get_args(Severity)
"""Lowest first, as the ``Severity`` literal lists them."""


@dataclass(frozen=True)
class Notification:
    """Alerts that a route sends together. ``alerts`` is never empty and is in arrival order."""

    route: str
    group_key: str
    alerts: tuple[Alert, ...]

    def __post_init__(self) -> None:
        if not self.alerts:
            raise ValueError("a notification needs at least one alert")

    @property
    def count(self) -> int:
        return len(self.alerts)

    @property
    def first(self) -> Alert:
        return self.alerts[0]

    @property
    def severity(self) -> str:
        """The highest severity of the group."""
        return max((alert.severity for alert in self.alerts), key=SEVERITY_ORDER.index)

    @property
    def summary(self) -> str:
        """The first alert's message, with the size of the group when there is more than one."""
        if self.count == 1:
            return self.first.message
        return f"{self.first.message} (+{self.count - 1} more, {self.count} alerts in this group)"

    def to_dict(self) -> dict[str, Any]:
        """The JSON body webhooks receive and dead-letter files keep."""
        return {
            "route": self.route,
            "group_key": self.group_key,
            "count": self.count,
            "severity": self.severity,
            "title": self.first.title,
            "summary": self.summary,
            "alerts": [alert.model_dump(mode="json") for alert in self.alerts],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        """Rebuild a notification from :meth:`to_dict` (for dead-letter replay)."""
        alerts = tuple(Alert.model_validate(item) for item in data["alerts"])
        return cls(route=str(data["route"]), group_key=str(data["group_key"]), alerts=alerts)
