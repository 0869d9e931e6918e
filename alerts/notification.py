"""Notifications: what a sink receives, and how alerts are grouped into them.

A notification is one alert, or a group of alerts of one rule about one entity. Grouping works
like Alertmanager's ``group_by``: alerts of the same rule and entity whose event times fall
within ``window`` of the first alert of the group become one notification that shows the count.
Grouping is done on the alerts of one flush; a later flush starts new groups.

>>> from datetime import UTC, datetime, timedelta
>>> def alert(n: int, minute: int) -> Alert:
...     return Alert(
...         alert_id=f"a{n}", category="large_transfer", rule_id="r", title="t",
...         severity="high", entity_type="account", entity_id="acc", event_ids=(f"e{n}",),
...         occurred_at=datetime(2026, 3, 2, 9, minute, tzinfo=UTC), message="m",
...         language="en", pack_version="p@1", pack_hash="h")
>>> [n.count for n in group_alerts("officers", [alert(1, 0), alert(2, 2)], timedelta(minutes=5))]
[2]
>>> [n.count for n in group_alerts("officers", [alert(1, 0), alert(2, 9)], timedelta(minutes=5))]
[1, 1]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, get_args

from monitor.alerts import Alert, Severity

__all__ = ["SEVERITY_ORDER", "Notification", "group_alerts", "group_key"]

SEVERITY_ORDER: tuple[str, ...] = get_args(Severity)
"""Lowest to highest, as :data:`monitor.alerts.Severity` lists them."""


@dataclass(frozen=True)
class Notification:
    """Alerts that a route sends together. ``alerts`` is never empty and is in arrival order.

    ``silenced`` maps the id of each alert a silence covered (delivered only because the route
    ignores silences, as the store's does) to the id of that silence.
    """

    route: str
    group_key: str
    alerts: tuple[Alert, ...]
    silenced: Mapping[str, str] = field(default_factory=dict)

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
        body: dict[str, Any] = {
            "route": self.route,
            "group_key": self.group_key,
            "count": self.count,
            "severity": self.severity,
            "title": self.first.title,
            "summary": self.summary,
            "alerts": [alert.model_dump(mode="json") for alert in self.alerts],
        }
        if self.silenced:
            body["silenced"] = dict(self.silenced)
        return body

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        """Rebuild a notification from :meth:`to_dict` (for dead-letter replay)."""
        alerts = tuple(Alert.model_validate(item) for item in data["alerts"])
        return cls(
            route=str(data["route"]),
            group_key=str(data["group_key"]),
            alerts=alerts,
            silenced={str(k): str(v) for k, v in data.get("silenced", {}).items()},
        )


def group_key(alert: Alert) -> str:
    """``rule_id/entity_type/entity_id``: the identity of a group."""
    return f"{alert.rule_id}/{alert.entity_type}/{alert.entity_id}"


def group_alerts(
    route: str,
    alerts: Iterable[Alert],
    window: timedelta,
    silenced: Mapping[str, str] | None = None,
) -> list[Notification]:
    """Group ``alerts`` by rule and entity within ``window`` of event time.

    Groups come out in the order of their first alert; a zero window puts each alert alone.
    ``silenced`` (alert id -> silence id) is carried onto the notifications of those alerts.
    """
    by_key: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_key.setdefault(group_key(alert), []).append(alert)
    groups: list[tuple[Alert, list[Alert]]] = []
    for key_alerts in by_key.values():
        current: list[Alert] = []
        for alert in sorted(key_alerts, key=lambda a: (a.occurred_at, a.alert_id)):
            if current and (
                window <= timedelta(0) or alert.occurred_at - current[0].occurred_at > window
            ):
                groups.append((current[0], current))
                current = []
            current.append(alert)
        groups.append((current[0], current))
    groups.sort(key=lambda group: (group[0].occurred_at, group[0].alert_id))
    marks = silenced or {}
    return [
        Notification(
            route,
            group_key(first),
            tuple(items),
            {a.alert_id: marks[a.alert_id] for a in items if a.alert_id in marks},
        )
        for first, items in groups
    ]
