"""The risk-event register: every confirmed incident is followed until 四不放过 is met.

"四不放过": a risk event is not let go until (1) its root cause is found, (2) the people
responsible are dealt with, (3) the staff are educated, and (4) the remedy is in place.

Conventions
-----------
- A risk event is opened from one or more alerts closed as ``confirmed`` (status ``resolved``),
  with an owner (a known user). Its follow-ups: the root cause (a category of
  :data:`ROOT_CAUSE_CATEGORIES` plus text), how the people responsible were dealt with, the staff
  education given, and remediation actions (each with an owner, a due date, a status, and an
  optional link to a rule-change proposal id).
- :meth:`RiskRegister.close` is refused while any follow-up is missing or an action is not
  ``done``; :meth:`RiskRegister.missing` says what is missing.
- Every change names an authenticated :class:`~alerts.identity.Identity` and is appended to the
  register's own hash-chained history (``risk_event_history``), like the alert history.
- Overdue actions are computed against a given ``now`` (in the bank's time zone, for due dates),
  so tests are deterministic; :class:`RegisterCollector` exports their count as
  ``riskmon_risk_event_actions_overdue``.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from pydantic import AwareDatetime, BaseModel, ConfigDict
from sqlalchemy.engine import Connection

from alerts.errors import RegisterError, RiskEventNotFoundError
from alerts.store import AlertStore, AlertStoreCollector
from alerts.store.audit import GENESIS, REGISTER_LOCK, entry_hash, serialise_appends
from alerts.store.identity import Identity
from alerts.store.tables import register_history, risk_actions, risk_event_alerts, risk_events

__all__ = [
    "ACTION_STATUSES",
    "FOLLOW_UPS",
    "ROOT_CAUSE_CATEGORIES",
    "ActionStatus",
    "RegisterCollector",
    "RegisterEntry",
    "RemediationAction",
    "RiskEvent",
    "RiskRegister",
    "workspace_registry",
]

ROOT_CAUSE_CATEGORIES: tuple[str, ...] = (
    "process_gap",  # 制度流程缺陷
    "control_failure",  # 控制措施失效
    "system_defect",  # 系统缺陷
    "human_error",  # 操作失误
    "misconduct",  # 违规操作
    "external_fraud",  # 外部欺诈
    "training_gap",  # 培训不足
    "other",  # 其他
)
ActionStatus = Literal["open", "in_progress", "done"]
ACTION_STATUSES: tuple[ActionStatus, ...] = ("open", "in_progress", "done")
FOLLOW_UPS: tuple[str, ...] = (
    "root_cause",
    "people_dealt_with",
    "staff_education",
    "remediation_actions",
)
BANK_TIMEZONE = ZoneInfo("Asia/Shanghai")
MAX_TEXT = 4000


class RemediationAction(BaseModel):
    """One remedy: who does it, by when, and whether it is done."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    action_id: int
    event_id: str
    description: str
    owner: str
    due_date: date
    status: ActionStatus
    proposal_id: str | None
    created_at: AwareDatetime
    done_at: AwareDatetime | None

    def is_overdue(self, today: date) -> bool:
        """Not done and its due date has passed (a due date is the last day it may be done)."""
        return self.status != "done" and self.due_date < today


class RiskEvent(BaseModel):
    """A risk event with its alerts, follow-ups and remediation actions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    title: str
    owner: str
    status: Literal["open", "closed"]
    opened_by: str
    opened_at: AwareDatetime
    alert_ids: tuple[str, ...]
    root_cause_category: str | None
    root_cause: str | None
    people_dealt_with: str | None
    staff_education: str | None
    actions: tuple[RemediationAction, ...]
    closed_by: str | None
    closed_at: AwareDatetime | None

    def missing(self) -> list[str]:
        """The follow-ups that still block closing, by name (empty: it may be closed)."""
        gaps = []
        if not (self.root_cause_category and self.root_cause):
            gaps.append("root_cause")
        if not self.people_dealt_with:
            gaps.append("people_dealt_with")
        if not self.staff_education:
            gaps.append("staff_education")
        if not self.actions:
            gaps.append("remediation_actions")
        gaps.extend(
            f"action {action.action_id} not done"
            for action in self.actions
            if action.status != "done"
        )
        return gaps


class RegisterEntry(BaseModel):
    """One line of the register's hash-chained history."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: int
    event_id: str
    action: str
    actor: str
    at: AwareDatetime
    comment: str
    prev_hash: str
    entry_hash: str


def _fields(
    event_id: str, action: str, actor: str, at: datetime, comment: str
) -> dict[str, str | None]:
    return {
        "event_id": event_id,
        "action": action,
        "actor": actor,
        "at": at.astimezone(UTC).isoformat(),
        "comment": comment,
    }


def _text(value: str, what: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise RegisterError(f"{what} must not be blank")
    if len(cleaned) > MAX_TEXT or "\x00" in cleaned:
        raise RegisterError(f"{what}: at most {MAX_TEXT} characters, no NUL")
    return cleaned


class RiskRegister:
    """The register over an :class:`AlertStore`'s database (the caller owns the store)."""

    def __init__(
        self,
        store: AlertStore,
        *,
        clock: Callable[[], datetime] | None = None,
        timezone: tzinfo = BANK_TIMEZONE,
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.clock = clock or store.clock
        self.timezone = timezone

    # -- reading ----------------------------------------------------------------------------

    def _event(self, connection: Connection, event_id: str) -> RiskEvent:
        row = connection.execute(
            sa.select(risk_events).where(risk_events.c.event_id == event_id)
        ).first()
        if row is None:
            raise RiskEventNotFoundError(event_id)
        alert_ids = connection.execute(
            sa.select(risk_event_alerts.c.alert_id)
            .where(risk_event_alerts.c.event_id == event_id)
            .order_by(risk_event_alerts.c.alert_id)
        ).scalars()
        actions = connection.execute(
            sa.select(risk_actions)
            .where(risk_actions.c.event_id == event_id)
            .order_by(risk_actions.c.action_id)
        )
        return RiskEvent(
            **row._asdict(),
            alert_ids=tuple(alert_ids),
            actions=tuple(RemediationAction.model_validate(a._asdict()) for a in actions),
        )

    def get(self, event_id: str) -> RiskEvent:
        """The risk event ``event_id``; :class:`RegisterError` if there is none."""
        with self.engine.connect() as connection:
            return self._event(connection, event_id)

    def list_events(self, *, status: Literal["open", "closed"] | None = None) -> list[RiskEvent]:
        """Risk events, newest first; only open or closed ones when ``status`` is given."""
        query = sa.select(risk_events.c.event_id).order_by(
            risk_events.c.opened_at.desc(), risk_events.c.event_id
        )
        if status is not None:
            query = query.where(risk_events.c.status == status)
        with self.engine.connect() as connection:
            ids = list(connection.execute(query).scalars())
            return [self._event(connection, event_id) for event_id in ids]

    def events_for_alert(self, alert_id: str) -> list[str]:
        """The ids of the risk events an alert belongs to."""
        with self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(risk_event_alerts.c.event_id).where(
                        risk_event_alerts.c.alert_id == alert_id
                    )
                ).scalars()
            )

    def missing(self, event_id: str) -> list[str]:
        """What still blocks closing ``event_id``."""
        return self.get(event_id).missing()

    # -- writing ----------------------------------------------------------------------------

    def _writer(self, by: Identity) -> str:
        identity = self.store.users.verify(by)
        identity.require_writer()
        return identity.user_id

    def _append(
        self,
        connection: Connection,
        event_id: str,
        action: str,
        actor: str,
        at: datetime,
        comment: str,
    ) -> None:
        serialise_appends(connection, REGISTER_LOCK)
        last = connection.execute(
            sa.select(register_history.c.entry_hash)
            .order_by(register_history.c.entry_id.desc())
            .limit(1)
        ).scalar_one_or_none()
        prev = last or GENESIS
        connection.execute(
            register_history.insert().values(
                event_id=event_id,
                action=action,
                actor=actor,
                at=at,
                comment=comment,
                prev_hash=prev,
                entry_hash=entry_hash(prev, _fields(event_id, action, actor, at, comment)),
            )
        )

    def _open_event(self, connection: Connection, event_id: str) -> RiskEvent:
        event = self._event(connection, event_id)
        if event.status != "open":
            raise RegisterError(f"risk event {event_id!r} is closed")
        return event

    def open_event(
        self, alert_ids: Sequence[str], *, owner: str, title: str, by: Identity
    ) -> RiskEvent:
        """Open a risk event from confirmed alerts (closed as ``confirmed``), with an owner."""
        actor = self._writer(by)
        owner_id = self.store.users.identity(owner).user_id
        title = _text(title, "the title")
        ids = list(dict.fromkeys(alert_ids))
        if not ids:
            raise RegisterError("a risk event is opened from at least one confirmed alert")
        for alert_id in ids:
            stored = self.store.get(alert_id)
            if stored.status != "resolved":
                raise RegisterError(
                    f"alert {alert_id!r} is {stored.status}; "
                    "only confirmed alerts open a risk event"
                )
        now = self.clock()
        event_id = "RE-" + uuid.uuid4().hex[:12]
        with self.engine.begin() as connection:
            connection.execute(
                risk_events.insert().values(
                    event_id=event_id,
                    title=title,
                    owner=owner_id,
                    status="open",
                    opened_by=actor,
                    opened_at=now,
                )
            )
            for alert_id in ids:
                connection.execute(
                    risk_event_alerts.insert().values(event_id=event_id, alert_id=alert_id)
                )
            self._append(
                connection,
                event_id,
                "opened",
                actor,
                now,
                json.dumps({"title": title, "owner": owner_id, "alerts": ids}, ensure_ascii=False),
            )
            return self._event(connection, event_id)

    def _set(
        self, event_id: str, by: Identity, action: str, comment: str, **values: object
    ) -> RiskEvent:
        actor = self._writer(by)
        now = self.clock()
        with self.engine.begin() as connection:
            self._open_event(connection, event_id)
            if values:
                connection.execute(
                    risk_events.update().where(risk_events.c.event_id == event_id).values(**values)
                )
            self._append(connection, event_id, action, actor, now, comment)
            return self._event(connection, event_id)

    def set_root_cause(self, event_id: str, category: str, text: str, *, by: Identity) -> RiskEvent:
        """Record the root cause: a category of :data:`ROOT_CAUSE_CATEGORIES` and its analysis."""
        if category not in ROOT_CAUSE_CATEGORIES:
            raise RegisterError(
                f"unknown root-cause category {category!r}; "
                f"use one of {', '.join(ROOT_CAUSE_CATEGORIES)}"
            )
        text = _text(text, "the root cause")
        return self._set(
            event_id,
            by,
            "root_cause",
            f"[{category}] {text}",
            root_cause_category=category,
            root_cause=text,
        )

    def set_people_dealt_with(self, event_id: str, text: str, *, by: Identity) -> RiskEvent:
        """Record how the people responsible were dealt with."""
        text = _text(text, "how the people responsible were dealt with")
        return self._set(event_id, by, "people_dealt_with", text, people_dealt_with=text)

    def set_staff_education(self, event_id: str, text: str, *, by: Identity) -> RiskEvent:
        """Record the staff education given."""
        text = _text(text, "the staff education")
        return self._set(event_id, by, "staff_education", text, staff_education=text)

    def add_comment(self, event_id: str, text: str, *, by: Identity) -> RiskEvent:
        """A note in the register's history."""
        return self._set(event_id, by, "commented", _text(text, "a comment"))

    def _proposal(self, given: str) -> str:
        """What a remediation links to: a rule-pack proposal of the store's approval log
        (``riskmon rules propose``) named by its pack hash or a unique prefix of it, stored as the
        full hash; anything else (an external change ticket) is kept as given."""
        hashes = {e.pack_hash for e in self.store.pack_history.entries() if e.action == "propose"}
        found = [h for h in hashes if h.startswith(given)]
        return found[0] if len(found) == 1 else given

    def add_action(
        self,
        event_id: str,
        *,
        description: str,
        owner: str,
        due: date,
        by: Identity,
        proposal_id: str | None = None,
    ) -> RemediationAction:
        """Add a remediation action (owner: a known user; optional rule-change proposal id)."""
        actor = self._writer(by)
        owner_id = self.store.users.identity(owner).user_id
        description = _text(description, "the action")
        proposal = proposal_id.strip() if proposal_id and proposal_id.strip() else None
        if proposal is not None:
            proposal = self._proposal(proposal)
        now = self.clock()
        with self.engine.begin() as connection:
            self._open_event(connection, event_id)
            action_id = connection.execute(
                risk_actions.insert()
                .values(
                    event_id=event_id,
                    description=description,
                    owner=owner_id,
                    due_date=due,
                    status="open",
                    proposal_id=proposal,
                    created_at=now,
                )
                .returning(risk_actions.c.action_id)
            ).scalar_one()
            link = f" (rule change {proposal})" if proposal else ""
            self._append(
                connection,
                event_id,
                "action_added",
                actor,
                now,
                f"#{action_id} {description} -> {owner_id} by {due.isoformat()}{link}",
            )
            event = self._event(connection, event_id)
        return next(a for a in event.actions if a.action_id == action_id)

    def set_action_status(
        self,
        event_id: str,
        action_id: int,
        status: ActionStatus,
        *,
        by: Identity,
        comment: str = "",
    ) -> RemediationAction:
        """Move a remediation action to ``open``, ``in_progress`` or ``done``."""
        if status not in ACTION_STATUSES:
            raise RegisterError(
                f"unknown action status {status!r}; use one of {', '.join(ACTION_STATUSES)}"
            )
        actor = self._writer(by)
        now = self.clock()
        with self.engine.begin() as connection:
            self._open_event(connection, event_id)
            changed = connection.execute(
                risk_actions.update()
                .where(risk_actions.c.event_id == event_id, risk_actions.c.action_id == action_id)
                .values(status=status, done_at=now if status == "done" else None)
            ).rowcount
            if changed != 1:
                raise RegisterError(f"risk event {event_id!r} has no action {action_id}")
            note = f"#{action_id} -> {status}" + (f": {comment.strip()}" if comment.strip() else "")
            self._append(connection, event_id, "action_status", actor, now, note)
            event = self._event(connection, event_id)
        return next(a for a in event.actions if a.action_id == action_id)

    def close(self, event_id: str, *, by: Identity, comment: str = "") -> RiskEvent:
        """Close the event; refused (naming what is missing) until all four follow-ups are met."""
        actor = self._writer(by)
        now = self.clock()
        with self.engine.begin() as connection:
            event = self._open_event(connection, event_id)
            gaps = event.missing()
            if gaps:
                raise RegisterError(
                    f"risk event {event_id!r} cannot close yet: missing {', '.join(gaps)}"
                )
            connection.execute(
                risk_events.update()
                .where(risk_events.c.event_id == event_id, risk_events.c.status == "open")
                .values(status="closed", closed_by=actor, closed_at=now)
            )
            self._append(connection, event_id, "closed", actor, now, comment.strip())
            return self._event(connection, event_id)

    # -- overdue, export, history -----------------------------------------------------------

    def today(self, now: datetime) -> date:
        """The calendar day of ``now`` in the bank's time zone."""
        return now.astimezone(self.timezone).date()

    def overdue(self, now: datetime) -> list[RemediationAction]:
        """Actions not done whose due date is before ``now``'s day, oldest due first."""
        today = self.today(now)
        query = (
            sa.select(risk_actions)
            .where(risk_actions.c.status != "done", risk_actions.c.due_date < today)
            .order_by(risk_actions.c.due_date, risk_actions.c.action_id)
        )
        with self.engine.connect() as connection:
            return [
                RemediationAction.model_validate(row._asdict()) for row in connection.execute(query)
            ]

    def export_csv(
        self, events: Iterable[RiskEvent] | None = None, *, now: datetime | None = None
    ) -> str:
        """The register as CSV: one row per remediation action (one row for an event without)."""
        today = self.today(now or self.clock())
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "event_id",
                "title",
                "status",
                "owner",
                "opened_by",
                "opened_at",
                "alert_ids",
                "root_cause_category",
                "root_cause",
                "people_dealt_with",
                "staff_education",
                "closed_by",
                "closed_at",
                "action_id",
                "action",
                "action_owner",
                "due_date",
                "action_status",
                "overdue",
                "proposal_id",
            ]
        )
        for event in self.list_events() if events is None else events:
            head = [
                event.event_id,
                event.title,
                event.status,
                event.owner,
                event.opened_by,
                event.opened_at.isoformat(),
                " ".join(event.alert_ids),
                event.root_cause_category or "",
                event.root_cause or "",
                event.people_dealt_with or "",
                event.staff_education or "",
                event.closed_by or "",
                event.closed_at.isoformat() if event.closed_at else "",
            ]
            if not event.actions:
                writer.writerow(head + [""] * 7)
            for action in event.actions:
                writer.writerow(
                    [
                        *head,
                        action.action_id,
                        action.description,
                        action.owner,
                        action.due_date.isoformat(),
                        action.status,
                        "yes" if action.is_overdue(today) else "no",
                        action.proposal_id or "",
                    ]
                )
        return out.getvalue()

    def history(self, event_id: str | None = None) -> list[RegisterEntry]:
        """The register's history, oldest first: of one event, or all."""
        query = sa.select(register_history).order_by(register_history.c.entry_id)
        if event_id is not None:
            query = query.where(register_history.c.event_id == event_id)
        with self.engine.connect() as connection:
            return [
                RegisterEntry.model_validate(row._asdict()) for row in connection.execute(query)
            ]

    def verify_history(self) -> int | None:
        """The id of the first register history entry that breaks the hash chain, or None."""
        prev = GENESIS
        for entry in self.history():
            fields = _fields(entry.event_id, entry.action, entry.actor, entry.at, entry.comment)
            if entry.prev_hash != prev or entry.entry_hash != entry_hash(prev, fields):
                return entry.entry_id
            prev = entry.entry_hash
        return None


class RegisterCollector(Collector):
    """``riskmon_risk_event_actions_overdue``: remediation actions past due, at each scrape.

    ``clock`` gives "now" (the wall clock in production, a fixed time in tests).
    """

    def __init__(self, register: RiskRegister, clock: Callable[[], datetime] | None = None) -> None:
        self.register = register
        self.clock = clock or register.clock

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "riskmon_risk_event_actions_overdue",
            "Remediation actions of the risk-event register that are not done and past due.",
        )
        gauge.add_metric([], float(len(self.register.overdue(self.clock()))))
        yield gauge


def workspace_registry(
    store: AlertStore, clock: Callable[[], datetime] | None = None
) -> CollectorRegistry:
    """A registry with the store's per-rule telemetry and the register's overdue actions."""
    registry = CollectorRegistry()
    registry.register(AlertStoreCollector(store))
    registry.register(RegisterCollector(RiskRegister(store), clock=clock))
    return registry
