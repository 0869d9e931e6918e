"""The alert lifecycle: ``open → acknowledged → resolved | false_positive``.

A risk officer acknowledges an alert before closing it, so every closed alert names who looked at
it first. ``resolved`` and ``false_positive`` are final; their labels feed model tuning.

>>> check_transition("a1", "open", "acknowledged")
>>> next_statuses("acknowledged")
('resolved', 'false_positive')
>>> label_for("false_positive")
'false_positive'
"""

from __future__ import annotations

from typing import Literal

from alerts.errors import InvalidTransitionError

__all__ = ["STATUSES", "Label", "Status", "check_transition", "label_for", "next_statuses"]

Status = Literal["open", "acknowledged", "resolved", "false_positive"]
Label = Literal["true_positive", "false_positive"]
STATUSES: tuple[Status, ...] = ("open", "acknowledged", "resolved", "false_positive")

_NEXT: dict[str, tuple[Status, ...]] = {
    "open": ("acknowledged",),
    "acknowledged": ("resolved", "false_positive"),
    "resolved": (),
    "false_positive": (),
}


def next_statuses(current: str) -> tuple[Status, ...]:
    """The statuses an alert in ``current`` may move to."""
    return _NEXT.get(current, ())


def check_transition(alert_id: str, current: str, requested: str) -> None:
    """Raise :class:`InvalidTransitionError` unless ``current → requested`` is allowed."""
    if requested not in next_statuses(current):
        raise InvalidTransitionError(alert_id, current, requested)


def label_for(status: str) -> Label | None:
    """The tuning label of a final status: resolved alerts were true positives."""
    if status == "resolved":
        return "true_positive"
    if status == "false_positive":
        return "false_positive"
    return None
