"""Scoring alerts against labelled cases (the simulator's labels file).

A labelled case is *detected* when an alert of the same category (and, for dual review, the same
reason) names at least one of the case's events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.alerts import Alert

RULE_CATEGORIES = ("dual_review", "large_transfer", "structuring", "after_hours")


@dataclass(frozen=True)
class RecallRow:
    category: str
    reason: str | None
    cases: int
    detected: int
    missed: tuple[str, ...]

    @property
    def recall(self) -> float:
        return self.detected / self.cases if self.cases else 1.0


def detects(alert: Alert, label: Mapping[str, Any]) -> bool:
    if alert.category != label["category"]:
        return False
    if label["category"] == "dual_review" and alert.reason != label.get("reason"):
        return False
    return not set(alert.event_ids).isdisjoint(label["event_ids"])


def rule_recall(labels: Sequence[Mapping[str, Any]], alerts: Iterable[Alert]) -> list[RecallRow]:
    """Recall per (category, reason) over the labels of rule categories."""
    by_event: dict[str, list[Alert]] = {}
    for alert in alerts:
        for event_id in alert.event_ids:
            by_event.setdefault(event_id, []).append(alert)
    groups: dict[tuple[str, str | None], list[Mapping[str, Any]]] = {}
    for label in labels:
        if label["category"] in RULE_CATEGORIES:
            reason = label.get("reason") if label["category"] == "dual_review" else None
            groups.setdefault((label["category"], reason), []).append(label)
    rows = []
    for (category, reason), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        missed = tuple(
            str(label["case_id"])
            for label in members
            if not any(
                detects(alert, label) for e in label["event_ids"] for alert in by_event.get(e, ())
            )
        )
        rows.append(RecallRow(category, reason, len(members), len(members) - len(missed), missed))
    return rows


def unexplained(labels: Sequence[Mapping[str, Any]], alerts: Iterable[Alert]) -> list[Alert]:
    """Rule alerts no label of their category (and dual-review reason) explains: false alarms."""
    events_by_kind: dict[tuple[str, str | None], set[str]] = {}
    for label in labels:
        events_by_kind.setdefault(_kind(label["category"], label.get("reason")), set()).update(
            label["event_ids"]
        )
    return [
        alert
        for alert in alerts
        if alert.category in RULE_CATEGORIES
        and events_by_kind.get(_kind(alert.category, alert.reason), set()).isdisjoint(
            alert.event_ids
        )
    ]


def _kind(category: str, reason: str | None) -> tuple[str, str | None]:
    # Only dual review distinguishes its reasons; for the other categories the reason is empty.
    return category, reason if category == "dual_review" else None
