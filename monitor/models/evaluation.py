"""Scoring model alerts against the simulator's labels: precision, recall, PR-AUC, delay.

Conventions
-----------
- A case is *detected* when an alert of its category names one of its events
  (:func:`monitor.scoring.detects`); the delay is from the case's start to that alert's event.
- A case is *eligible* when it starts after the warm-up of the models of its entity type
  (``warm_from``): no model may alert before. Cases of rule categories are always eligible.
- A model alert is *true* when it names an event of a ``model_anomaly`` case and *false*
  otherwise; false alerts that name an event of another labelled case (a genuinely large
  transfer, say) are counted separately, as ``explained``.
- PR-AUC is the average precision of the per-event scores: the events of one anomaly type
  against every scored event of no labelled case.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.alerts import Alert
from monitor.scoring import detects

__all__ = ["ModelReport", "TypeRow", "average_precision", "evaluate", "reports"]

MODEL_CATEGORY = "model_anomaly"


@dataclass(frozen=True)
class TypeRow:
    """One anomaly type (``category/reason``)."""

    kind: str
    cases: int
    eligible: int
    detected: int
    pr_auc: float | None
    median_delay_s: float | None

    @property
    def recall(self) -> float:
        return self.detected / self.eligible if self.eligible else 1.0


@dataclass(frozen=True)
class ModelReport:
    """Alerts of one configuration (models alone, or rules and models) against the labels."""

    name: str
    events: int
    days: float
    alerts: int
    true_alerts: int
    explained_alerts: int
    rows: tuple[TypeRow, ...]

    @property
    def false_alerts(self) -> int:
        return self.alerts - self.true_alerts

    @property
    def precision(self) -> float:
        return self.true_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        eligible = sum(r.eligible for r in self.rows)
        return sum(r.detected for r in self.rows) / eligible if eligible else 1.0

    @property
    def false_per_10k(self) -> float:
        return self.false_alerts / self.events * 10_000 if self.events else 0.0

    @property
    def alerts_per_day(self) -> float:
        return self.alerts / self.days if self.days else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-shaped data."""
        return {
            "alerts": self.alerts,
            "precision": self.precision,
            "recall": self.recall,
            "false_per_10k": self.false_per_10k,
            "alerts_per_day": self.alerts_per_day,
            "rows": [vars(row) | {"recall": row.recall} for row in self.rows],
        }


def _kind(label: Mapping[str, Any]) -> str:
    reason = label.get("reason")
    return f"{label['category']}/{reason}" if reason else str(label["category"])


def average_precision(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Area under the precision-recall curve as average precision (ties broken pessimistically).

    >>> average_precision([0.9, 0.8], [0.1, 0.85])
    0.8333333333333333
    """
    if not positives:
        return None
    # Negatives first among equal scores: a tie never flatters the model.
    ranked = sorted(
        [(s, 0) for s in negatives] + [(s, 1) for s in positives], key=lambda i: (-i[0], i[1])
    )
    hits, total = 0, 0.0
    for rank, (_, positive) in enumerate(ranked, start=1):
        if positive:
            hits += 1
            total += hits / rank
    return total / len(positives)


def evaluate(
    name: str,
    alerts: Iterable[Alert],
    labels: Sequence[Mapping[str, Any]],
    *,
    events: int,
    days: float,
    warm_from: Mapping[str, datetime] | None = None,
    categories: Sequence[str] = (MODEL_CATEGORY,),
    scores: Mapping[str, float] | None = None,
) -> ModelReport:
    """Score ``alerts`` against the labels of ``categories``; ``scores`` maps event id to score."""
    alerts = list(alerts)
    chosen = [lb for lb in labels if lb["category"] in categories]
    by_event: dict[str, list[Alert]] = {}
    for alert in alerts:
        for event_id in alert.event_ids:
            by_event.setdefault(event_id, []).append(alert)
    labelled_events = {e for lb in labels for e in lb["event_ids"]}
    true_alerts = sum(1 for a in alerts if _names(a, chosen))
    explained = sum(
        1 for a in alerts if not _names(a, chosen) and not labelled_events.isdisjoint(a.event_ids)
    )
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for label in chosen:
        groups.setdefault(_kind(label), []).append(label)
    rows = []
    for kind, members in sorted(groups.items()):
        eligible = [lb for lb in members if _eligible(lb, warm_from)]
        delays = [d for lb in eligible if (d := _delay(lb, by_event)) is not None]
        rows.append(
            TypeRow(
                kind=kind,
                cases=len(members),
                eligible=len(eligible),
                detected=len(delays),
                pr_auc=_pr_auc(members, scores, labelled_events)
                if members[0]["category"] == MODEL_CATEGORY
                else None,
                median_delay_s=statistics.median(delays) if delays else None,
            )
        )
    return ModelReport(name, events, days, len(alerts), true_alerts, explained, tuple(rows))


def _names(alert: Alert, labels: Sequence[Mapping[str, Any]]) -> bool:
    return any(detects(alert, label) for label in labels)


def _eligible(label: Mapping[str, Any], warm_from: Mapping[str, datetime] | None) -> bool:
    """Whether the case starts once the models of its entity type may alert."""
    if warm_from is None or label["category"] != MODEL_CATEGORY:
        return True
    warm = warm_from.get(str(label["entity_type"]))
    return warm is not None and _start(label) >= warm


def _start(label: Mapping[str, Any]) -> datetime:
    start = label["start"]
    return start if isinstance(start, datetime) else datetime.fromisoformat(str(start))


def _delay(label: Mapping[str, Any], by_event: Mapping[str, list[Alert]]) -> float | None:
    hits = [
        alert.occurred_at
        for event_id in label["event_ids"]
        for alert in by_event.get(event_id, ())
        if detects(alert, label)
    ]
    return (min(hits) - _start(label)).total_seconds() if hits else None


def _pr_auc(
    members: Sequence[Mapping[str, Any]], scores: Mapping[str, float] | None, excluded: set[str]
) -> float | None:
    if not scores:
        return None
    positive_ids = {e for lb in members for e in lb["event_ids"]}
    positives = [scores[e] for e in positive_ids if e in scores]
    negatives = [s for e, s in scores.items() if e not in excluded]
    return average_precision(positives, negatives)


def reports(
    alerts: Sequence[Alert],
    labels: Sequence[Mapping[str, Any]],
    *,
    events: int,
    days: float,
    warm_from: Mapping[str, datetime],
    scores: Mapping[str, float],
) -> tuple[ModelReport, ModelReport]:
    """Models alone (model alerts, model cases) and rules+models (every alert, every case)."""
    common: dict[str, Any] = {
        "events": events,
        "days": days,
        "warm_from": warm_from,
        "scores": scores,
    }
    model_alerts = [a for a in alerts if a.category == MODEL_CATEGORY]
    alone = evaluate("models", model_alerts, labels, **common)
    categories = sorted({str(lb["category"]) for lb in labels})
    both = evaluate("rules+models", alerts, labels, categories=categories, **common)
    return alone, both
