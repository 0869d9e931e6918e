"""Labelled operational incidents injected into a simulated stream, for ``operations`` alerts.

Kinds (each on one branch, in business hours of a working day, at most one per branch-day):

``outage``           no event from the branch for 1-3 hours (expected: ``volume_drop``).
``garbage_feed``     the branch's events for 1-2 hours arrive as undecodable lines (expected:
                     ``feed_errors``; ``volume_drop`` also names it).
``posting_backlog``  for 2-3 hours the branch's postings come 20-40 minutes after initiation
                     (expected: ``slow_posting``).
``review_backlog``   for 2-3 hours approvals come 30-60 minutes after initiation (expected:
                     ``slow_review``).
``reversal_wave``    for 1-2 hours a quarter of the branch's postings are reversed a minute later
                     (expected: ``reversal_rate``).

:func:`inject` is pure and seeded: the same events, branches, days and seed give the same result.
Its output is a list of lines (JSON text) in event-time order, garbage included, ready for
replay, and one label per incident.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from monitor.events import Event, OperatorAction, Transaction, encode_event

__all__ = ["KINDS", "OpsIncident", "inject", "plan"]

KINDS: dict[str, tuple[str, ...]] = {
    "outage": ("volume_drop",),
    "garbage_feed": ("feed_errors", "volume_drop"),
    "posting_backlog": ("slow_posting",),
    "review_backlog": ("slow_review",),
    "reversal_wave": ("reversal_rate",),
}
"""Incident kind -> the ``operations`` reasons that count as detecting it (the first expected)."""


@dataclass(frozen=True)
class OpsIncident:
    kind: str
    branch: str
    start: datetime
    end: datetime

    def label(self) -> dict[str, object]:
        return {
            "case_id": f"ops-{self.kind}-{self.branch}-{self.start:%Y%m%dT%H%M}",
            "category": "operations",
            "kind": self.kind,
            "reason": KINDS[self.kind][0],
            "reasons": list(KINDS[self.kind]),
            "entity_type": "branch",
            "entity_id": self.branch,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


def plan(
    branches: Sequence[str],
    days: Sequence[date],
    working: Callable[[date], bool],
    zone: object,
    seed: int,
    rate: float = 0.15,
    warmup_days: int = 7,
) -> list[OpsIncident]:
    """Incidents on about ``rate`` of the working branch-days after ``warmup_days``."""
    rng = random.Random(seed)
    out: list[OpsIncident] = []
    kinds = sorted(KINDS)
    for day in days[warmup_days:]:
        if not working(day):
            continue
        for branch in branches:
            if rng.random() >= rate:
                continue
            kind = kinds[rng.randrange(len(kinds))]
            hours = {"outage": (1, 3), "garbage_feed": (1, 2), "reversal_wave": (1, 2)}.get(
                kind, (2, 3)
            )
            length = timedelta(minutes=rng.randrange(hours[0] * 60, hours[1] * 60 + 1))
            begin = datetime.combine(day, time(9, 30), zone)  # type: ignore[arg-type]
            begin += timedelta(minutes=rng.randrange(0, 5 * 60))
            out.append(OpsIncident(kind, branch, begin, begin + length))
    return out


def inject(
    events: Sequence[Event], incidents: Sequence[OpsIncident], seed: int
) -> tuple[list[str], list[dict[str, object]]]:
    """The stream with ``incidents`` applied, as JSON lines in event-time order, and labels."""
    rng = random.Random(seed)
    by_branch: dict[str, list[OpsIncident]] = {}
    for planned in incidents:
        by_branch.setdefault(planned.branch, []).append(planned)
    initiated: dict[str, datetime] = {}
    approved: dict[str, datetime] = {}  # delayed approvals, by transaction
    out: list[tuple[datetime, str, str]] = []
    for event in events:
        if isinstance(event, Transaction) and event.status == "initiated":
            initiated[event.txn_id] = event.occurred_at
        inc = _active(by_branch.get(event.branch_id, ()), event)
        if isinstance(event, Transaction) and event.txn_id in approved:
            # A posting waits for its (late) review.
            after = approved.pop(event.txn_id) + timedelta(minutes=1)
            if event.occurred_at < after:
                event = event.model_copy(update={"occurred_at": after})
        if inc is None:
            out.append((event.occurred_at, event.event_id, encode_event(event)))
            continue
        if inc.kind == "outage":
            continue
        if inc.kind == "garbage_feed":
            garbage = {"kind": event.kind, "event_id": event.event_id, "branch_id": event.branch_id}
            garbage["occurred_at"] = "not a time"
            out.append((event.occurred_at, event.event_id, json.dumps(garbage)))
            continue
        moved: Event = event
        if inc.kind == "posting_backlog" and isinstance(event, Transaction):
            began = initiated.get(event.txn_id)
            if event.status == "posted" and began is not None:
                delay = timedelta(minutes=rng.randrange(20, 41))
                moved = event.model_copy(update={"occurred_at": began + delay})
        elif inc.kind == "review_backlog" and isinstance(event, OperatorAction):
            began = initiated.get(event.target_txn_id or "")
            if event.action == "approve" and began is not None:
                delay = timedelta(minutes=rng.randrange(30, 61))
                moved = event.model_copy(update={"occurred_at": began + delay})
                approved[event.target_txn_id or ""] = moved.occurred_at
        elif (
            inc.kind == "reversal_wave"
            and isinstance(event, Transaction)
            and event.status == "posted"
            and rng.random() < 0.25
        ):
            reversal = event.model_copy(
                update={
                    "status": "reversed",
                    "event_id": event.event_id + "-rev",
                    "occurred_at": event.occurred_at + timedelta(minutes=1),
                }
            )
            out.append((reversal.occurred_at, reversal.event_id, encode_event(reversal)))
        out.append((moved.occurred_at, moved.event_id, encode_event(moved)))
    out.sort(key=lambda item: (item[0], item[1]))
    return [line for _, _, line in out], [inc.label() for inc in incidents]


def _active(incidents: Sequence[OpsIncident], event: Event) -> OpsIncident | None:
    """The incident of the event's branch that covers its time, if any."""
    for inc in incidents:
        if inc.start <= event.occurred_at < inc.end:
            return inc
    return None
