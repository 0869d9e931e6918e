"""The alert store: alerts stored once by ``alert_id``, their lifecycle, silences and labels.

Conventions
-----------
- ``AlertStore.open(url)`` takes a SQLAlchemy URL: ``sqlite:///file.db`` (the default backend, no
  server) or ``postgresql://user@host/db`` (driven by psycopg 3). The schema is migrated on open.
- Writes are idempotent: storing an alert again bumps ``delivery_count`` and ``last_seen_at``
  and changes nothing else, so at-least-once delivery stores each alert once.
- Every status change, silence creation and expiry is appended to the hash-chained history with
  its actor, time and comment, in the same transaction as the change.
- Times come from the caller or from the injected ``clock``. Account ids are masked before they
  are stored unless ``allow_unmasked`` is set; an already-masked id is left as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from alerts.errors import (
    AlertNotFoundError,
    AlertStoreError,
    ApprovalError,
    IdentityError,
    InvalidTransitionError,
    PermissionDeniedError,
)
from alerts.store import audit
from alerts.store.identity import Identity
from alerts.store.labels import read_labels
from alerts.store.lifecycle import (
    CLOSED,
    OUTCOMES,
    Outcome,
    Status,
    check_transition,
    status_for_outcome,
)
from alerts.store.migrate import upgrade
from alerts.store.records import (
    BulkAction,
    BulkItem,
    HistoryEntry,
    LabelRecord,
    Revealed,
    StoredAlert,
)
from alerts.store.silence_repo import SilenceRepository
from alerts.store.tables import alert_evidence, alerts
from monitor.alerts import ACCOUNT_FIELDS, Alert, is_resolution, mask_alert, mask_id

if TYPE_CHECKING:
    from alerts.pack_history import PackHistory
    from alerts.register import RiskRegister

__all__ = ["AlertStore", "Clock", "engine_url", "utc_now"]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, in UTC. The store is an adapter; tests inject their own clock."""
    return datetime.now(UTC)


def engine_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain PostgreSQL URLs.

    >>> engine_url("postgresql://riskmon@127.0.0.1:5432/riskmon")
    'postgresql+psycopg://riskmon@127.0.0.1:5432/riskmon'
    >>> engine_url("sqlite:///alerts.db")
    'sqlite:///alerts.db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class AlertStore(SilenceRepository):
    """Alerts, their lifecycle history, silences and tuning labels in one SQL database.

    Parameters
    ----------
    engine
        A SQLAlchemy engine whose schema is already migrated (use :meth:`open`).
    clock
        Returns the current aware time when the caller passes none.
    allow_unmasked
        Store account ids as given. Off by default: they are masked (last four kept).
    max_silence
        The longest silence accepted.
    require_silence_approval
        Maker-checker: a silence suppresses nothing until someone other than its author approves
        it. Off, a silence is in force as soon as it is made (recorded as approved by its author).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utc_now,
        allow_unmasked: bool = False,
        max_silence: timedelta = timedelta(days=30),
        require_silence_approval: bool = True,
    ) -> None:
        super().__init__(
            engine, clock=clock, max_silence=max_silence, require_approval=require_silence_approval
        )
        self.allow_unmasked = allow_unmasked

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock = utc_now,
        allow_unmasked: bool = False,
        max_silence: timedelta = timedelta(days=30),
        require_silence_approval: bool = True,
    ) -> AlertStore:
        """Connect to ``url``, migrate the schema to the newest revision, and return the store."""
        engine = sa.create_engine(engine_url(url))
        try:
            upgrade(engine)
        except Exception:
            engine.dispose()
            raise
        return cls(
            engine,
            clock=clock,
            allow_unmasked=allow_unmasked,
            max_silence=max_silence,
            require_silence_approval=require_silence_approval,
        )

    @property
    def register(self) -> RiskRegister:
        """The risk-event register in this store's database (:mod:`alerts.register`)."""
        from alerts.register import RiskRegister  # the register builds on the store

        return RiskRegister(self)

    @property
    def pack_history(self) -> PackHistory:
        """The rule-pack approval log in this store's database (:mod:`alerts.pack_history`)."""
        from alerts.pack_history import PackHistory  # the log builds on the store

        return PackHistory(self.engine, self.users, clock=self.clock)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- writing alerts ---------------------------------------------------------------------

    def _masked(self, alert: Alert) -> Alert:
        return alert if self.allow_unmasked else mask_alert(alert)

    def _insert_ignoring_duplicates(self, values: dict[str, object]) -> sa.Executable:
        if self.engine.dialect.name == "postgresql":
            return (
                postgresql.insert(alerts)
                .values(**values)
                .on_conflict_do_nothing()
                .returning(alerts.c.alert_id)
            )
        return (
            sqlite.insert(alerts)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(alerts.c.alert_id)
        )

    def upsert(
        self,
        alert: Alert,
        *,
        at: datetime | None = None,
        events: Iterable[Mapping[str, Any] | BaseModel] = (),
    ) -> bool:
        """Store ``alert`` once. Return True if it is new, False if it was stored before.

        ``events`` are the triggering events (any that the alert names are kept as evidence).
        """
        now = at or self.clock()
        original = alert
        alert = self._masked(alert)
        values: dict[str, object] = {
            "alert_id": alert.alert_id,
            "category": alert.category,
            "rule_id": alert.rule_id,
            "severity": alert.severity,
            "entity_type": alert.entity_type,
            "entity_id": alert.entity_id,
            "branch_id": alert.branch_id,
            "occurred_at": alert.occurred_at,
            "title": alert.title,
            "language": alert.language,
            "pack_version": alert.pack_version,
            "payload": alert.to_json(),
            "status": "open",
            "status_changed_at": now,
            "first_seen_at": now,
            "last_seen_at": now,
            "delivery_count": 1,
            "entity_id_full": (
                original.entity_id if original.entity_id != alert.entity_id else None
            ),
        }
        with self.engine.begin() as connection:
            inserted = (
                connection.execute(self._insert_ignoring_duplicates(values)).first() is not None
            )
            if inserted:
                audit.append(
                    connection,
                    action="stored",
                    actor="riskmon",
                    at=now,
                    alert_id=alert.alert_id,
                    to_status="open",
                )
            else:
                connection.execute(
                    alerts.update()
                    .where(alerts.c.alert_id == alert.alert_id)
                    .values(delivery_count=alerts.c.delivery_count + 1, last_seen_at=now)
                )
            if is_resolution(alert):
                self._resolve_incident(connection, alert, now)
        evidence = list(events)
        if evidence:
            self.attach_evidence_for(original, evidence)
        return inserted

    @staticmethod
    def _resolve_incident(connection: Connection, alert: Alert, now: datetime) -> None:
        """An incident's resolution closes the stored alert automatically, once (an alert a
        person already closed keeps their outcome)."""
        row = connection.execute(
            sa.select(alerts.c.status).where(alerts.c.alert_id == alert.alert_id)
        ).first()
        if row is None or row.status in CLOSED:
            return
        connection.execute(
            alerts.update()
            .where(alerts.c.alert_id == alert.alert_id)
            .values(status="resolved", status_changed_at=now, payload=alert.to_json())
        )
        audit.append(
            connection,
            action="auto_resolved",
            actor="riskmon",
            at=now,
            alert_id=alert.alert_id,
            from_status=row.status,
            to_status="resolved",
            comment=alert.messages.get("en", alert.message),
        )

    def attach_evidence_for(
        self, alert: Alert, events: Iterable[Mapping[str, Any] | BaseModel]
    ) -> int:
        """Keep those of ``events`` that ``alert`` (already stored) names as its evidence."""
        by_id: dict[str, dict[str, Any]] = {}
        for event in events:
            data = event.model_dump(mode="json") if isinstance(event, BaseModel) else dict(event)
            if data.get("event_id") in alert.event_ids:
                by_id[str(data["event_id"])] = data
        with self.engine.begin() as connection:
            return self._keep_evidence(connection, alert, by_id)

    def upsert_many(
        self,
        batch: Sequence[Alert],
        *,
        at: datetime | None = None,
        events: Mapping[str, Mapping[str, Any] | BaseModel] | None = None,
    ) -> int:
        """Store every alert of ``batch``; return how many were new.

        ``events`` maps event ids to events: each alert keeps the ones it names as evidence.
        """
        added = 0
        for alert in batch:
            mine = [events[e] for e in alert.event_ids if e in events] if events else []
            added += self.upsert(alert, at=at, events=mine)
        return added

    def record_silenced(
        self, alert_id: str, silence_id: str, *, at: datetime | None = None
    ) -> bool:
        """Record that ``silence_id`` muted stored alert ``alert_id``, once; True if new.

        The alert keeps the silence's id (``StoredAlert.silenced_by``) and its history gets a
        ``silenced`` entry, so an auditor can ask why nobody was notified. A redelivery records
        nothing more.
        """
        now = at or self.clock()
        with self.engine.begin() as connection:
            changed = connection.execute(
                alerts.update()
                .where(alerts.c.alert_id == alert_id, alerts.c.silenced_by.is_(None))
                .values(silenced_by=silence_id)
            ).rowcount
            if changed != 1:
                self._get(connection, alert_id)  # AlertNotFoundError if it is not stored
                return False
            audit.append(
                connection,
                action="silenced",
                actor="riskmon",
                at=now,
                comment=f"notifications muted by silence {silence_id}",
                alert_id=alert_id,
                silence_id=silence_id,
            )
        return True

    # -- reading alerts ---------------------------------------------------------------------

    @staticmethod
    def _stored(row: sa.Row[tuple[object, ...]]) -> StoredAlert:
        data = row._asdict()
        return StoredAlert(
            alert=Alert.from_json(str(data["payload"])),
            status=data["status"],
            status_changed_at=data["status_changed_at"],
            first_seen_at=data["first_seen_at"],
            last_seen_at=data["last_seen_at"],
            delivery_count=data["delivery_count"],
            assignee=data.get("assignee"),
            pending_by=data.get("pending_by") if data["status"] == "pending_approval" else None,
            silenced_by=data.get("silenced_by"),
        )

    def _get(self, connection: Connection, alert_id: str) -> StoredAlert:
        row = connection.execute(sa.select(alerts).where(alerts.c.alert_id == alert_id)).first()
        if row is None:
            raise AlertNotFoundError(alert_id)
        return self._stored(row)

    def get(self, alert_id: str) -> StoredAlert:
        """The stored alert ``alert_id``; :class:`AlertNotFoundError` if there is none."""
        with self.engine.connect() as connection:
            return self._get(connection, alert_id)

    def list_alerts(
        self,
        *,
        status: str | None = None,
        category: str | None = None,
        severity: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        assignee: str | None = None,
    ) -> list[StoredAlert]:
        """Alerts newest first (by event time), filtered; ``since`` inclusive, ``until`` not."""
        query = sa.select(alerts)
        for column, value in (
            (alerts.c.status, status),
            (alerts.c.category, category),
            (alerts.c.severity, severity),
            (alerts.c.assignee, assignee.strip().casefold() if assignee else None),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(alerts.c.occurred_at >= since)
        if until is not None:
            query = query.where(alerts.c.occurred_at < until)
        query = query.order_by(alerts.c.occurred_at.desc(), alerts.c.alert_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit).offset(offset))
            return [self._stored(row) for row in rows]

    def count(self) -> int:
        """How many alerts are stored."""
        with self.engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(alerts)).scalar_one()
            )

    # -- lifecycle --------------------------------------------------------------------------

    def _change(
        self,
        alert_id: str,
        to: Status,
        *,
        by: Identity,
        action: str,
        comment: str,
        at: datetime | None,
        expect: Callable[[StoredAlert], None] | None = None,
        values: dict[str, object] | None = None,
    ) -> StoredAlert:
        """Move ``alert_id`` to ``to`` under a compare-and-set, with one history entry."""
        actor = self._writer(by).user_id
        now = at or self.clock()
        with self.engine.begin() as connection:
            current = self._get(connection, alert_id)
            check_transition(alert_id, current.status, to)
            if expect is not None:
                expect(current)
            changed = connection.execute(
                alerts.update()
                .where(alerts.c.alert_id == alert_id, alerts.c.status == current.status)
                .values(status=to, status_changed_at=now, **(values or {}))
            ).rowcount
            if changed != 1:  # another writer moved it between our read and our write
                now_status = self._get(connection, alert_id).status
                raise InvalidTransitionError(alert_id, now_status, to)
            audit.append(
                connection,
                action=action,
                actor=actor,
                at=now,
                comment=comment,
                alert_id=alert_id,
                from_status=current.status,
                to_status=to,
            )
            return self._get(connection, alert_id)

    def transition(
        self,
        alert_id: str,
        to: Status,
        *,
        by: Identity,
        comment: str = "",
        at: datetime | None = None,
    ) -> StoredAlert:
        """Move ``alert_id`` to ``to``; record who (an authenticated identity), when and why.

        Closing goes through :meth:`resolve` (outcomes, approvals) and reopening through
        :meth:`reopen` (a reason); this is the plain step, e.g. ``open → acknowledged``.
        """
        if to == "resolved":
            return self.resolve(alert_id, "confirmed", by=by, comment=comment, at=at)
        if to in ("false_positive", "pending_approval"):
            return self.resolve(alert_id, "false_positive", by=by, comment=comment, at=at)
        if to == "duplicate":
            return self.resolve(alert_id, "duplicate", by=by, comment=comment, at=at)
        return self._change(
            alert_id, to, by=by, action="transition", comment=comment, at=at,
            expect=lambda current: self._plain_step(current, to),
        )  # fmt: skip

    @staticmethod
    def _plain_step(current: StoredAlert, to: Status) -> None:
        """Reopening and deciding on approvals have their own methods (reasons, roles)."""
        if current.status in CLOSED or current.status == "pending_approval":
            raise InvalidTransitionError(current.alert.alert_id, current.status, to)

    def acknowledge(
        self, alert_id: str, *, by: Identity, comment: str = "", at: datetime | None = None
    ) -> StoredAlert:
        """``open → acknowledged``: someone is looking at it."""
        return self.transition(alert_id, "acknowledged", by=by, comment=comment, at=at)

    def needs_second_approval(self, stored: StoredAlert, outcome: Outcome) -> bool:
        """A false-positive close of a high or critical alert waits for a supervisor."""
        return outcome == "false_positive" and stored.alert.severity in ("high", "critical")

    def resolve(
        self,
        alert_id: str,
        outcome: Outcome = "confirmed",
        *,
        by: Identity,
        comment: str = "",
        at: datetime | None = None,
    ) -> StoredAlert:
        """Close an acknowledged alert with an outcome: ``confirmed``, ``false_positive``,
        ``duplicate``. A false-positive close of a high/critical alert becomes
        ``pending_approval`` until a supervisor other than ``by`` approves it."""
        if outcome not in OUTCOMES:
            raise InvalidTransitionError(alert_id, "?", str(outcome))
        stored = self.get(alert_id)
        if stored.status == "acknowledged" and self.needs_second_approval(stored, outcome):
            identity = self._writer(by)
            return self._change(
                alert_id, "pending_approval", by=by, action="close_requested", comment=comment,
                at=at, values={"pending_by": identity.user_id, "pending_at": at or self.clock()},
            )  # fmt: skip
        to = status_for_outcome(outcome)
        if stored.status == "pending_approval":  # only an approval closes it from there
            raise InvalidTransitionError(alert_id, stored.status, to)
        return self._change(
            alert_id, to, by=by, action="transition", comment=comment, at=at,
            expect=lambda current: self._closing_from_ack(current, to),
        )  # fmt: skip

    @staticmethod
    def _closing_from_ack(current: StoredAlert, to: Status) -> None:
        if current.status != "acknowledged":
            raise InvalidTransitionError(current.alert.alert_id, current.status, to)

    def mark_false_positive(
        self, alert_id: str, *, by: Identity, comment: str = "", at: datetime | None = None
    ) -> StoredAlert:
        """Close as a false positive (pending a supervisor's approval if high/critical)."""
        return self.resolve(alert_id, "false_positive", by=by, comment=comment, at=at)

    def approve_close(
        self, alert_id: str, *, by: Identity, comment: str = "", at: datetime | None = None
    ) -> StoredAlert:
        """A supervisor (not the requester) approves a pending false-positive close."""
        approver = self._writer(by)
        if not approver.can_approve:
            raise PermissionDeniedError(
                f"{approver.user_id} ({approver.role}) may not approve; a supervisor must"
            )

        def check(current: StoredAlert) -> None:
            if current.status != "pending_approval":
                raise ApprovalError(f"alert {alert_id!r} is {current.status}, not pending approval")
            if current.pending_by is not None and approver.same_as(current.pending_by):
                raise ApprovalError(
                    "a false-positive close needs a second person: not its requester"
                )

        return self._change(
            alert_id, "false_positive", by=by, action="close_approved", comment=comment, at=at,
            expect=check, values={"pending_at": None},
        )  # fmt: skip

    def reject_close(
        self, alert_id: str, *, by: Identity, comment: str, at: datetime | None = None
    ) -> StoredAlert:
        """A supervisor turns down a pending false-positive close: back to ``acknowledged``."""
        approver = self._writer(by)
        if not approver.can_approve:
            raise PermissionDeniedError(
                f"{approver.user_id} ({approver.role}) may not reject; a supervisor must"
            )
        if not comment.strip():
            raise ApprovalError("a rejection needs a reason")

        def check(current: StoredAlert) -> None:
            if current.status != "pending_approval":
                raise ApprovalError(f"alert {alert_id!r} is {current.status}, not pending approval")

        return self._change(
            alert_id, "acknowledged", by=by, action="close_rejected", comment=comment, at=at,
            expect=check, values={"pending_by": None, "pending_at": None},
        )  # fmt: skip

    def reopen(
        self, alert_id: str, *, by: Identity, reason: str, at: datetime | None = None
    ) -> StoredAlert:
        """Reopen a closed alert to correct it: back to ``acknowledged``, with a reason."""
        if not reason.strip():
            raise InvalidTransitionError(alert_id, "closed", "reopened without a reason")

        def check(current: StoredAlert) -> None:
            if current.status not in CLOSED:
                raise InvalidTransitionError(alert_id, current.status, "reopened")

        return self._change(
            alert_id, "acknowledged", by=by, action="reopened", comment=reason, at=at,
            expect=check, values={"pending_by": None, "pending_at": None},
        )  # fmt: skip

    def _note(
        self,
        alert_id: str,
        *,
        by: Identity,
        action: str,
        comment: str,
        at: datetime | None,
        values: dict[str, object] | None = None,
        identity: Identity | None = None,
    ) -> StoredAlert:
        """A history entry (and maybe a column change) without a status change."""
        actor = (identity or self._writer(by)).user_id
        now = at or self.clock()
        with self.engine.begin() as connection:
            current = self._get(connection, alert_id)
            if values:
                connection.execute(
                    alerts.update().where(alerts.c.alert_id == alert_id).values(**values)
                )
            audit.append(
                connection, action=action, actor=actor, at=now, comment=comment,
                alert_id=alert_id, from_status=current.status, to_status=current.status,
            )  # fmt: skip
            return self._get(connection, alert_id)

    def assign(
        self,
        alert_id: str,
        assignee: str | None,
        *,
        by: Identity,
        comment: str = "",
        at: datetime | None = None,
    ) -> StoredAlert:
        """Assign to a known user who may work alerts (``None`` unassigns). Recorded."""
        target: str | None = None
        if assignee is not None:
            user = self.users.identity(assignee)
            if not user.can_write:
                raise PermissionDeniedError(f"{user.user_id} ({user.role}) cannot work alerts")
            target = user.user_id
        note = f"assigned to {target}" if target else "unassigned"
        text = f"{note}: {comment}" if comment.strip() else note
        return self._note(
            alert_id, by=by, action="assigned", comment=text, at=at, values={"assignee": target}
        )

    def comment(
        self, alert_id: str, text: str, *, by: Identity, at: datetime | None = None
    ) -> StoredAlert:
        """A comment in the history, without a status change."""
        if not text.strip():
            raise InvalidTransitionError(alert_id, "-", "commented without text")
        return self._note(alert_id, by=by, action="commented", comment=text, at=at)

    def reveal(
        self, alert_id: str, *, by: Identity, reason: str, at: datetime | None = None
    ) -> Revealed:
        """A supervisor sees the full account and evidence, giving a reason; recorded."""
        identity = self.users.verify(by)
        if not identity.can_reveal:
            raise PermissionDeniedError(
                f"{identity.user_id} ({identity.role}) may not reveal accounts; a supervisor may"
            )
        if not reason.strip():
            raise PermissionDeniedError("revealing a full account needs a reason")
        stored = self._note(
            alert_id, by=by, action="revealed", comment=reason, at=at, identity=identity
        )
        with self.engine.connect() as connection:
            full = connection.execute(
                sa.select(alerts.c.entity_id_full).where(alerts.c.alert_id == alert_id)
            ).scalar_one()
            rows = connection.execute(
                sa.select(alert_evidence)
                .where(alert_evidence.c.alert_id == alert_id)
                .order_by(alert_evidence.c.position)
            ).all()
        events = [json.loads(str(row.full_payload or row.payload)) for row in rows]
        return Revealed(
            alert_id=alert_id, entity_id=str(full or stored.alert.entity_id), events=events
        )

    def bulk(
        self,
        alert_ids: Sequence[str],
        action: BulkAction,
        *,
        by: Identity,
        comment: str = "",
        outcome: Outcome = "confirmed",
        assignee: str | None = None,
    ) -> list[BulkItem]:
        """Apply one decision to many alerts, each in its own transaction; report each."""
        results = []
        for alert_id in dict.fromkeys(alert_ids):
            try:
                if action == "acknowledge":
                    stored = self.acknowledge(alert_id, by=by, comment=comment)
                elif action == "assign":
                    stored = self.assign(alert_id, assignee, by=by, comment=comment)
                elif action == "comment":
                    stored = self.comment(alert_id, comment, by=by)
                elif action == "resolve":
                    stored = self.resolve(alert_id, outcome, by=by, comment=comment)
                else:
                    raise InvalidTransitionError(alert_id, "-", str(action))
            except (IdentityError, PermissionDeniedError):
                raise  # the same for every alert: refuse the whole request
            except AlertStoreError as exc:
                results.append(BulkItem(alert_id=alert_id, ok=False, error=str(exc)))
            else:
                results.append(BulkItem(alert_id=alert_id, ok=True, status=stored.status))
        return results

    # -- evidence ---------------------------------------------------------------------------

    def attach_evidence(self, events: Iterable[Mapping[str, Any] | BaseModel]) -> int:
        """Keep the events that triggered stored alerts (matched by ``event_id``).

        Events no stored alert names are ignored; an event already kept is not kept twice.
        Return how many were newly kept.
        """
        by_id: dict[str, dict[str, Any]] = {}
        for event in events:
            data = event.model_dump(mode="json") if isinstance(event, BaseModel) else dict(event)
            if isinstance(data.get("event_id"), str):
                by_id[data["event_id"]] = data
        if not by_id:
            return 0
        kept = 0
        with self.engine.begin() as connection:
            for row in connection.execute(sa.select(alerts.c.alert_id, alerts.c.payload)):
                alert = Alert.from_json(str(row.payload))
                kept += self._keep_evidence(connection, alert, by_id)
        return kept

    def wanted_evidence(self) -> set[str]:
        """The event ids stored alerts name whose events are not kept yet."""
        wanted: set[str] = set()
        with self.engine.connect() as connection:
            kept = {
                (str(row.alert_id), str(row.event_id))
                for row in connection.execute(
                    sa.select(alert_evidence.c.alert_id, alert_evidence.c.event_id)
                )
            }
            for row in connection.execute(sa.select(alerts.c.alert_id, alerts.c.payload)):
                alert = Alert.from_json(str(row.payload))
                wanted.update(e for e in alert.event_ids if (alert.alert_id, e) not in kept)
        return wanted

    def _keep_evidence(
        self, connection: Connection, alert: Alert, by_id: Mapping[str, Mapping[str, Any]]
    ) -> int:
        have = set(
            connection.execute(
                sa.select(alert_evidence.c.event_id).where(
                    alert_evidence.c.alert_id == alert.alert_id
                )
            ).scalars()
        )
        kept = 0
        for position, event_id in enumerate(alert.event_ids):
            event = by_id.get(event_id)
            if event is None or event_id in have:
                continue
            masked = self._masked_event(event)
            full = json.dumps(dict(event), sort_keys=True, default=str)
            connection.execute(
                alert_evidence.insert().values(
                    alert_id=alert.alert_id, event_id=event_id, position=position,
                    payload=json.dumps(masked, sort_keys=True, default=str),
                    full_payload=None if self.allow_unmasked or masked == event else full,
                )
            )  # fmt: skip
            kept += 1
        return kept

    def _masked_event(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if self.allow_unmasked:
            return dict(event)
        return {
            key: mask_id(value) if key in ACCOUNT_FIELDS and isinstance(value, str) else value
            for key, value in event.items()
        }

    def evidence(self, alert_id: str) -> list[dict[str, Any]]:
        """The kept triggering events of ``alert_id`` (accounts masked), in the alert's order."""
        with self.engine.connect() as connection:
            self._get(connection, alert_id)
            rows = connection.execute(
                sa.select(alert_evidence.c.payload)
                .where(alert_evidence.c.alert_id == alert_id)
                .order_by(alert_evidence.c.position)
            ).scalars()
            return [json.loads(str(payload)) for payload in rows]

    def history(
        self, alert_id: str | None = None, *, silence_id: str | None = None
    ) -> list[HistoryEntry]:
        """History entries, oldest first: of one alert, one silence, or everything."""
        with self.engine.connect() as connection:
            return audit.read(connection, alert_id=alert_id, silence_id=silence_id)

    def verify_history(self) -> int | None:
        """The id of the first history entry that breaks the hash chain, or None."""
        return audit.verify_chain(self.history())

    def export_labels(self) -> list[LabelRecord]:
        """One label per closed alert: resolved → true_positive, false_positive → false_positive."""
        return read_labels(self.engine)
