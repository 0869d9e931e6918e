"""Silences in the store: made with an author, reason and ticket, approved, expired, audited.

With ``require_approval`` (the default) a silence suppresses nothing until a second person
approves it (maker-checker); the author can never approve their own silence. Authors, approvers
and expirers are authenticated :class:`~alerts.store.identity.Identity` values, compared by their
canonical user id (trimmed, case-folded), never by a display name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.errors import InvalidSilenceError, SilenceNotFoundError
from alerts.silences import Silence, SilenceMatchers
from alerts.store import audit
from alerts.store.identity import Identity, UserDirectory
from alerts.store.tables import silences

__all__ = ["SilenceRepository"]


class SilenceRepository:
    """The silence half of the alert store; :class:`AlertStore` builds on it."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], datetime],
        max_silence: timedelta,
        require_approval: bool = True,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_silence = max_silence
        self.require_approval = require_approval
        self.users = UserDirectory(engine, clock=clock)

    def _writer(self, by: Identity) -> Identity:
        """The stored identity of ``by``, refused if blank, unknown or read-only."""
        identity = self.users.verify(by)
        identity.require_writer()
        return identity

    @staticmethod
    def _silence(row: sa.Row[tuple[object, ...]]) -> Silence:
        data = row._asdict()
        data["matchers"] = SilenceMatchers.model_validate_json(str(data["matchers"]))
        return Silence.model_validate(data)

    def _get_silence(self, connection: Connection, silence_id: str) -> Silence:
        query = sa.select(silences).where(silences.c.silence_id == silence_id)
        row = connection.execute(query).first()
        if row is None:
            raise SilenceNotFoundError(silence_id)
        return self._silence(row)

    def add_silence(
        self,
        matchers: SilenceMatchers,
        *,
        ends_at: datetime,
        by: Identity,
        reason: str,
        ticket: str,
        starts_at: datetime | None = None,
    ) -> Silence:
        """Create a silence. Reason and ticket are required; match-all is refused."""
        author = self._writer(by).user_id
        now = self.clock()
        start = starts_at or now
        for name, value in (("reason", reason), ("ticket", ticket)):
            if not value.strip():
                raise InvalidSilenceError(f"a silence needs a non-empty {name}")
        if matchers.is_empty():
            raise InvalidSilenceError("a silence needs at least one matcher")
        if ends_at <= start:
            raise InvalidSilenceError("a silence must end after it starts")
        if ends_at - start > self.max_silence:
            raise InvalidSilenceError(f"a silence may last at most {self.max_silence}")
        silence = Silence(
            silence_id=uuid.uuid4().hex,
            matchers=matchers,
            starts_at=start,
            ends_at=ends_at,
            author=author,
            reason=reason,
            ticket=ticket,
            created_at=now,
            approved_by=None if self.require_approval else author,
            approved_at=None if self.require_approval else now,
        )
        values = silence.model_dump()
        values["matchers"] = matchers.model_dump_json()
        with self.engine.begin() as connection:
            connection.execute(silences.insert().values(**values))
            audit.append(
                connection,
                action="silence_created",
                actor=author,
                at=now,
                comment=f"{reason} [{ticket}] {matchers.model_dump_json(exclude_defaults=True)}",
                silence_id=silence.silence_id,
            )
        return silence

    def approve_silence(
        self, silence_id: str, *, by: Identity, comment: str = "", at: datetime | None = None
    ) -> Silence:
        """Approve a pending silence; the approver must not be its author. Audited."""
        approver = self._writer(by).user_id
        now = at or self.clock()
        with self.engine.begin() as connection:
            silence = self._get_silence(connection, silence_id)
            if silence.approved:
                raise InvalidSilenceError(f"silence {silence_id!r} is already approved")
            if approver == silence.author.strip().casefold():  # canonical, as user ids are
                raise InvalidSilenceError("the author of a silence cannot approve it")
            return self._change_running(
                connection,
                silence,
                now,
                action="silence_approved",
                actor=approver,
                comment=comment,
                values={"approved_by": approver, "approved_at": now},
            )

    def get_silence(self, silence_id: str) -> Silence:
        """The silence ``silence_id``; :class:`SilenceNotFoundError` if there is none."""
        with self.engine.connect() as connection:
            return self._get_silence(connection, silence_id)

    def list_silences(self, *, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, newest first; only those active at ``active_at`` when it is given."""
        query = sa.select(silences).order_by(silences.c.created_at.desc(), silences.c.silence_id)
        if active_at is not None:
            query = query.where(silences.c.starts_at <= active_at, silences.c.ends_at > active_at)
        with self.engine.connect() as connection:
            found = [self._silence(row) for row in connection.execute(query)]
        if active_at is None:
            return found
        return [silence for silence in found if silence.is_active(active_at)]

    def expire_silence(
        self, silence_id: str, *, by: Identity, comment: str = "", at: datetime | None = None
    ) -> Silence:
        """End a silence now (or at ``at``); the expiry is audited with who did it."""
        actor = self._writer(by).user_id
        now = at or self.clock()
        with self.engine.begin() as connection:
            silence = self._get_silence(connection, silence_id)
            return self._change_running(
                connection,
                silence,
                now,
                action="silence_expired",
                actor=actor,
                comment=comment,
                values={"expired_at": now, "expired_by": actor},
            )

    def _change_running(
        self,
        connection: Connection,
        silence: Silence,
        now: datetime,
        *,
        action: str,
        actor: str,
        comment: str,
        values: dict[str, Any],
    ) -> Silence:
        """Update a silence that has not ended yet, audit the change, return the new silence."""
        silence_id = silence.silence_id
        if silence.expired_at is not None or silence.ends_at <= now:
            raise InvalidSilenceError(f"silence {silence_id!r} has already ended")
        connection.execute(
            silences.update().where(silences.c.silence_id == silence_id).values(**values)
        )
        audit.append(
            connection, action=action, actor=actor, at=now, comment=comment, silence_id=silence_id
        )
        return self._get_silence(connection, silence_id)
