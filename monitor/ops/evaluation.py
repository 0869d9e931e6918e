"""Recall, false alarms per branch-day and detection delay of ``operations`` alerts.

A labelled incident (see :mod:`monitor.simulator.incidents`) is *detected* by the first firing
``operations`` alert of its branch with one of its reasons, raised from its start to one hour
after its end; the delay is that alert's event time minus the start. A firing alert that detects
no incident and falls in no incident's span (start to end plus two hours) of its branch is a
*false alarm*. Resolution alerts are not counted.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from monitor.alerts import Alert

__all__ = ["OpsReport", "evaluate_ops"]


@dataclass
class OpsReport:
    incidents: int = 0
    detected: int = 0
    false_alarms: int = 0
    branch_days: float = 0.0
    delays: dict[str, list[float]] = field(default_factory=dict)  # kind -> minutes
    missed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.detected / self.incidents if self.incidents else 0.0

    @property
    def false_per_branch_day(self) -> float:
        return self.false_alarms / self.branch_days if self.branch_days else 0.0

    def median_delay(self, kind: str) -> float | None:
        found = self.delays.get(kind)
        return statistics.median(found) if found else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "detected": self.detected,
            "recall": self.recall,
            "false_alarms": self.false_alarms,
            "branch_days": self.branch_days,
            "false_alarms_per_branch_day": self.false_per_branch_day,
            "median_delay_minutes": {k: self.median_delay(k) for k in sorted(self.delays)},
            "missed": self.missed,
        }


def evaluate_ops(
    alerts: Iterable[Alert], labels: Sequence[Mapping[str, Any]], branch_days: float
) -> OpsReport:
    firing = sorted(
        (
            a
            for a in alerts
            if a.category == "operations" and a.explanation.get("incident_status") == "firing"
        ),
        key=lambda a: a.occurred_at,
    )
    cases = [lb for lb in labels if lb.get("category") == "operations"]
    report = OpsReport(incidents=len(cases), branch_days=branch_days)
    used: set[str] = set()
    for case in cases:
        start = datetime.fromisoformat(str(case["start"]))
        end = datetime.fromisoformat(str(case["end"]))
        reasons = set(case.get("reasons") or [case["reason"]])
        hit = next(
            (
                a
                for a in firing
                if a.entity_id == case["entity_id"]
                and a.reason in reasons
                and start <= a.occurred_at <= end + timedelta(hours=1)
            ),
            None,
        )
        if hit is None:
            report.missed.append(str(case["case_id"]))
            continue
        report.detected += 1
        used.add(hit.alert_id)
        minutes = (hit.occurred_at - start).total_seconds() / 60
        report.delays.setdefault(str(case.get("kind", case["reason"])), []).append(minutes)
    for alert in firing:
        if alert.alert_id in used:
            continue
        explained = any(
            alert.entity_id == case["entity_id"]
            and datetime.fromisoformat(str(case["start"]))
            <= alert.occurred_at
            <= datetime.fromisoformat(str(case["end"])) + timedelta(hours=2)
            for case in cases
        )
        report.false_alarms += not explained
    return report
