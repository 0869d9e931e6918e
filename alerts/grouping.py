"""Grouping, like Alertmanager's ``group_by``: one notification per rule and entity and window.

Alerts of the same rule about the same entity whose event times fall within ``window`` of the
first alert of the group become one notification that shows the count. Grouping is done on the
alerts of one flush; a later flush starts new groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from alerts.notification import Notification
from monitor.alerts import Alert

__all__ = ["group_alerts", "group_key"]


def group_key(alert: Alert) -> str:
    """``rule_id/entity_type/entity_id``: the identity of a group."""
    return f"{alert.rule_id}/{alert.entity_type}/{alert.entity_id}"


def group_alerts(route: str, alerts: Iterable[Alert], window: timedelta) -> list[Notification]:
    """Group ``alerts`` by rule and entity within ``window`` of event time.

    Groups come out in the order of their first alert; a zero window puts each alert alone.
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
    return [Notification(route, group_key(first), tuple(items)) for first, items in groups]
