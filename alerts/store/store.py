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

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from alerts.errors import AlertNotFoundError
from alerts.store import audit
from alerts.store.labels import read_labels
from alerts.store.lifecycle import Status, check_transition
from alerts.store.migrate import upgrade
from alerts.store.records import HistoryEntry, LabelRecord, StoredAlert
from alerts.store.silence_repo import SilenceRepository
from alerts.store.tables import alerts
from monitor.alerts import Alert, mask_alert

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

    def upsert(self, alert: Alert, *, at: datetime | None = None) -> bool:
        """Store ``alert`` once. Return True if it is new, False if it was stored before."""
        now = at or self.clock()
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
        return inserted

    def upsert_many(self, batch: Sequence[Alert], *, at: datetime | None = None) -> int:
        """Store every alert of ``batch``; return how many were new."""
        return sum(self.upsert(alert, at=at) for alert in batch)

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
    ) -> list[StoredAlert]:
        """Alerts newest first (by event time), filtered; ``since`` inclusive, ``until`` not."""
        query = sa.select(alerts)
        for column, value in (
            (alerts.c.status, status),
            (alerts.c.category, category),
            (alerts.c.severity, severity),
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

    def transition(
        self,
        alert_id: str,
        to: Status,
        *,
        actor: str,
        comment: str = "",
        at: datetime | None = None,
    ) -> StoredAlert:
        """Move ``alert_id`` to status ``to``; record actor, time and comment in the history."""
        now = at or self.clock()
        with self.engine.begin() as connection:
            current = self._get(connection, alert_id).status
            check_transition(alert_id, current, to)
            changed = connection.execute(
                alerts.update()
                .where(alerts.c.alert_id == alert_id, alerts.c.status == current)
                .values(status=to, status_changed_at=now)
            ).rowcount
            if changed != 1:  # another writer moved it between our read and our write
                check_transition(alert_id, self._get(connection, alert_id).status, to)
            audit.append(
                connection,
                action="transition",
                actor=actor,
                at=now,
                comment=comment,
                alert_id=alert_id,
                from_status=current,
                to_status=to,
            )
            return self._get(connection, alert_id)

    def acknowledge(self, alert_id: str, *, actor: str, comment: str = "") -> StoredAlert:
        """``open → acknowledged``."""
        return self.transition(alert_id, "acknowledged", actor=actor, comment=comment)

    def resolve(self, alert_id: str, *, actor: str, comment: str = "") -> StoredAlert:
        """``acknowledged → resolved``: the alert was a true positive."""
        return self.transition(alert_id, "resolved", actor=actor, comment=comment)

    def mark_false_positive(self, alert_id: str, *, actor: str, comment: str = "") -> StoredAlert:
        """``acknowledged → false_positive``."""
        return self.transition(alert_id, "false_positive", actor=actor, comment=comment)

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
