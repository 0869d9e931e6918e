"""Labelled cases: what the simulator knows the monitor should (or should not) find.

A :class:`Label` names the events of one case. ``injected`` tells a deliberate violation or
anomaly from ordinary business; ``expected`` says whether the shipped rules are expected to alert
on it (true for every rule category, including genuinely large transactions, which are ordinary
business but reportable; false for rule-less ``model_anomaly`` cases, which the rules must not
see). Scoring matches an alert to a label when their categories agree (and, for dual review,
their reasons) and their event ids intersect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from monitor.alerts import Category, EntityType
from monitor.events import Event

__all__ = ["AnomalyReason", "Case", "DualReviewReason", "Label", "Reason", "finalise"]

DualReviewReason = Literal["missing", "self_approval", "unauthorised_reviewer", "late"]
AnomalyReason = Literal["account_takeover", "dormant_drain", "bulk_view"]
Reason = DualReviewReason | AnomalyReason


class Label(BaseModel):
    """One labelled case, one JSON object per line in ``labels.jsonl``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str
    category: Category
    reason: Reason | None = None
    injected: bool
    expected: bool
    entity_type: EntityType
    entity_id: str
    branch_id: str
    start: AwareDatetime
    event_ids: tuple[str, ...]
    detail: str = ""

    def to_json(self) -> str:
        return self.model_dump_json()


@dataclass
class Case:
    """A case while it is being built; becomes a :class:`Label` once ids are final."""

    category: Category
    reason: Reason | None
    injected: bool
    entity_type: EntityType
    entity_id: str
    branch_id: str
    detail: str
    events: list[Event] = field(default_factory=list)
    extra_event_ids: tuple[str, ...] = ()
    """Ids of events known only by id (a crossing found by the ledger)."""
    at: datetime | None = None
    """The start when the case has no event objects."""

    @property
    def start(self) -> datetime:
        times = [e.occurred_at for e in self.events]
        if self.at is not None:
            times.append(self.at)
        return min(times)

    @property
    def event_ids(self) -> tuple[str, ...]:
        ordered = sorted(self.events, key=lambda e: (e.occurred_at, e.event_id))
        ids = [e.event_id for e in ordered]
        return tuple(dict.fromkeys([*ids, *self.extra_event_ids]))


def finalise(cases: list[Case]) -> list[Label]:
    """Labels sorted by start time, numbered ``case-00001``... in that order."""
    keyed = sorted(((c.start, c.event_ids, c) for c in cases), key=lambda item: item[:2])
    return [
        Label(
            case_id=f"case-{n:05d}",
            category=case.category,
            reason=case.reason,
            injected=case.injected,
            expected=case.category != "model_anomaly",
            entity_type=case.entity_type,
            entity_id=case.entity_id,
            branch_id=case.branch_id,
            start=start,
            event_ids=event_ids,
            detail=case.detail,
        )
        for n, (start, event_ids, case) in enumerate(keyed, start=1)
    ]
