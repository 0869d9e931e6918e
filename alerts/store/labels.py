"""Tuning labels from closed alerts: resolved → true_positive, false_positive → false_positive.

An alert reopened and closed again is labelled by its current status and the entry that set it;
duplicates and alerts waiting for approval carry no label.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alerts.store.lifecycle import label_for
from alerts.store.records import LabelRecord
from alerts.store.tables import alerts, history

__all__ = ["read_labels"]


def read_labels(engine: Engine) -> list[LabelRecord]:
    """One label per closed alert, in the order they were closed, with who closed it and why."""
    query = (
        sa.select(
            alerts,
            history.c.to_status,
            history.c.actor,
            history.c.at,
            history.c.comment,
        )
        .join(history, history.c.alert_id == alerts.c.alert_id)
        .where(
            history.c.action.in_(("transition", "close_approved")),
            history.c.to_status.in_(("resolved", "false_positive")),
            history.c.to_status == alerts.c.status,
        )
        .order_by(history.c.entry_id)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    last: dict[str, sa.Row[tuple[object, ...]]] = {}
    for row in rows:  # oldest first: the last entry that set the current status wins
        last.pop(row.alert_id, None)
        last[row.alert_id] = row
    labels = []
    for row in last.values():
        label = label_for(row.to_status)
        if label is not None:  # always, given the filter above
            labels.append(
                LabelRecord(
                    alert_id=row.alert_id,
                    rule_id=row.rule_id,
                    category=row.category,
                    severity=row.severity,
                    pack_version=row.pack_version,
                    occurred_at=row.occurred_at,
                    label=label,
                    decided_by=row.actor,
                    decided_at=row.at,
                    comment=row.comment,
                )
            )
    return labels
