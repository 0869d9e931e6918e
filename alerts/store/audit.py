"""The append-only, hash-chained history of the alert store.

Each entry stores the hash of the entry before it and its own hash over its fields, so an edited
or deleted line breaks the chain and :func:`verify_chain` reports where. The first entry chains to
``GENESIS``. Writers append inside the transaction that makes the change they record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.store.records import HistoryEntry
from alerts.store.tables import history

__all__ = [
    "GENESIS",
    "HISTORY_LOCK",
    "REGISTER_LOCK",
    "append",
    "entry_hash",
    "read",
    "serialise_appends",
    "verify_chain",
]

GENESIS = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, str | None]) -> str:
    """The hash of one entry: SHA-256 over the previous hash and the fields as sorted JSON."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _hashed_fields(
    alert_id: str | None,
    silence_id: str | None,
    action: str,
    from_status: str | None,
    to_status: str | None,
    actor: str,
    at: datetime,
    comment: str,
) -> dict[str, str | None]:
    return {
        "alert_id": alert_id,
        "silence_id": silence_id,
        "action": action,
        "from_status": from_status,
        "to_status": to_status,
        "actor": actor,
        "at": at.astimezone(UTC).isoformat(),
        "comment": comment,
    }


HISTORY_LOCK = 0x7269736B01  # "risk" + 1: the alert history
REGISTER_LOCK = 0x7269736B02  # the risk-event register's history


def serialise_appends(connection: Connection, key: int) -> None:
    """Make concurrent appenders take turns until their transactions end, so two writers
    never chain to the same previous entry. PostgreSQL: a transaction-level advisory lock;
    SQLite: a write that changes nothing takes the database's write lock before the newest
    entry is read (one writer at a time, the others wait for the busy timeout)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    elif connection.dialect.name == "sqlite":
        connection.execute(history.update().where(sa.false()).values(action=history.c.action))


def append(
    connection: Connection,
    *,
    action: str,
    actor: str,
    at: datetime,
    comment: str = "",
    alert_id: str | None = None,
    silence_id: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    """Append one entry, chained to the newest one."""
    serialise_appends(connection, HISTORY_LOCK)
    last = connection.execute(
        sa.select(history.c.entry_hash).order_by(history.c.entry_id.desc()).limit(1)
    ).scalar_one_or_none()
    prev = last or GENESIS
    fields = _hashed_fields(
        alert_id, silence_id, action, from_status, to_status, actor, at, comment
    )
    connection.execute(
        history.insert().values(
            alert_id=alert_id,
            silence_id=silence_id,
            action=action,
            from_status=from_status,
            to_status=to_status,
            actor=actor,
            at=at,
            comment=comment,
            prev_hash=prev,
            entry_hash=entry_hash(prev, fields),
        )
    )


def read(
    connection: Connection, *, alert_id: str | None = None, silence_id: str | None = None
) -> list[HistoryEntry]:
    """History entries, oldest first, for one alert, one silence, or all."""
    query = sa.select(history).order_by(history.c.entry_id)
    if alert_id is not None:
        query = query.where(history.c.alert_id == alert_id)
    if silence_id is not None:
        query = query.where(history.c.silence_id == silence_id)
    return [HistoryEntry.model_validate(row._asdict()) for row in connection.execute(query)]


def verify_chain(entries: Iterable[HistoryEntry]) -> int | None:
    """The ``entry_id`` of the first entry that breaks the chain, or None if it is intact."""
    prev = GENESIS
    for entry in entries:
        fields = _hashed_fields(
            entry.alert_id,
            entry.silence_id,
            entry.action,
            entry.from_status,
            entry.to_status,
            entry.actor,
            entry.at,
            entry.comment,
        )
        if entry.prev_hash != prev or entry.entry_hash != entry_hash(prev, fields):
            return entry.entry_id
        prev = entry.entry_hash
    return None
