"""The alert lifecycle: ``open → acknowledged → resolved | false_positive | duplicate``.

A risk officer acknowledges an alert before closing it, so every closed alert names who looked at
it first. Closing takes an outcome: ``confirmed`` (status ``resolved``), ``false_positive`` or
``duplicate``. A false-positive close of a high or critical alert first waits in
``pending_approval`` until a second person (a supervisor) approves it; a rejection sends it back to
``acknowledged``. A closed alert can be reopened with a reason (back to ``acknowledged``) and
closed again with another outcome. Labels of closed alerts feed model tuning.

>>> check_transition("a1", "open", "acknowledged")
>>> next_statuses("acknowledged")
('resolved', 'false_positive', 'duplicate', 'pending_approval')
>>> status_for_outcome("confirmed")
'resolved'
>>> label_for("false_positive")
'false_positive'
"""

from __future__ import annotations

from typing import Literal

from alerts.errors import InvalidTransitionError

__all__ = [
    "CLOSED",
    "OUTCOMES",
    "STATUSES",
    "Label",
    "Outcome",
    "Status",
    "check_transition",
    "label_for",
    "next_statuses",
    "status_for_outcome",
]

Status = Literal[
    "open", "acknowledged", "pending_approval", "resolved", "false_positive", "duplicate"
]
Label = Literal["true_positive", "false_positive"]
Outcome = Literal["confirmed", "false_positive", "duplicate"]
STATUSES: tuple[Status, ...] = (
    "open",
    "acknowledged",
    "pending_approval",
    "resolved",
    "false_positive",
    "duplicate",
)
OUTCOMES: tuple[Outcome, ...] = ("confirmed", "false_positive", "duplicate")
CLOSED: frozenset[str] = frozenset({"resolved", "false_positive", "duplicate"})

_NEXT: dict[str, tuple[Status, ...]] = {
    "open": ("acknowledged",),
    "acknowledged": ("resolved", "false_positive", "duplicate", "pending_approval"),
    "pending_approval": ("false_positive", "acknowledged"),
    "resolved": ("acknowledged",),
    "false_positive": ("acknowledged",),
    "duplicate": ("acknowledged",),
}


def status_for_outcome(outcome: Outcome) -> Status:
    """The status a close with ``outcome`` leads to: ``confirmed`` is ``resolved``."""
    return "resolved" if outcome == "confirmed" else outcome


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
