"""Two people for a pack change: proposals and approvals in an append-only, hash-chained log.

Deploying a rule pack is a *proposal* by one person and an *approval* by another. Both are rows of
the ``rule_pack_history`` table in the alert store's database, beside the alert history (SQLite or
PostgreSQL, created by the store's migration ``0004_pack_history``). Each row holds the pack
version and hash, a summary of the diff (:mod:`monitor.rules.diff`), the proposer, the approver,
the times and a ticket reference, plus the hash of the row before it and its own hash over all of
that (its position included), like the alert store's history (:mod:`alerts.store.audit`). Editing,
deleting or reordering a row breaks the chain, and :meth:`PackHistory.verify` names the first
broken entry; a broken log approves nothing.

Proposer and approver are authenticated identities (:class:`alerts.identity.Identity`, from an API
token or a web session), checked again against the store's users when they act: a free-text name
is never enough. Proposing needs a role that may change things (officer, supervisor, admin);
approving needs one that may approve (supervisor, admin). Nobody approves their own proposal:
canonical user ids are compared (trimmed and case-folded), never display names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alerts.errors import AlertsError
from alerts.store.audit import GENESIS, entry_hash, serialise_appends
from alerts.store.identity import Identity, UserDirectory, same_user
from alerts.store.tables import pack_history

__all__ = ["PACK_LOCK", "PackEntry", "PackHistory", "PackHistoryError", "verify"]

PACK_LOCK = 0x7269736B03  # "risk" + 3: the rule-pack approval log


class PackHistoryError(AlertsError):
    """A proposal or approval was refused, or the log cannot be read."""


@dataclass(frozen=True)
class PackEntry:
    seq: int
    action: Literal["propose", "approve"]
    version: str
    pack_hash: str
    diff_summary: str
    ticket: str
    proposer: str
    proposed_at: datetime
    approver: str | None
    approved_at: datetime | None
    prev_hash: str
    entry_hash: str

    def fields(self) -> dict[str, str | None]:
        """What the entry's hash covers: everything but the two hashes."""
        data = asdict(self)
        data.pop("entry_hash")
        data.pop("prev_hash")
        out: dict[str, str | None] = {}
        for key, value in data.items():
            if isinstance(value, datetime):
                out[key] = value.astimezone(UTC).isoformat()
            else:
                out[key] = None if value is None else str(value)
        return out


def _entry(row: sa.Row[tuple[object, ...]]) -> PackEntry:
    data = row._asdict()
    return PackEntry(**data)


class PackHistory:
    """The log in the alert store's database; ``users`` authenticates who acts."""

    def __init__(self, engine: Engine, users: UserDirectory, *, clock: Callable[[], datetime]):
        self.engine = engine
        self.users = users
        self.clock = clock

    def entries(self) -> list[PackEntry]:
        """Every entry, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(pack_history).order_by(pack_history.c.seq))
            return [_entry(row) for row in rows]

    def _acting(self, who: Identity, role: str) -> Identity:
        if not isinstance(who, Identity):
            raise PackHistoryError(f"a {role} must be an authenticated identity, not a name")
        try:
            current = self.users.verify(who)
        except AlertsError as exc:
            raise PackHistoryError(f"{role}: {exc}") from None
        if role == "proposer" and not current.can_write:
            raise PackHistoryError(f"{current.user_id} ({current.role}) may not propose packs")
        if role == "approver" and not current.can_approve:
            raise PackHistoryError(
                f"{current.user_id} ({current.role}) may not approve packs: "
                "a supervisor or an admin approves"
            )
        return current

    def _append(self, connection: Connection, values: dict[str, object]) -> PackEntry:
        serialise_appends(connection, PACK_LOCK)
        last = connection.execute(
            sa.select(pack_history.c.seq, pack_history.c.entry_hash)
            .order_by(pack_history.c.seq.desc())
            .limit(1)
        ).first()
        seq, prev = (int(last.seq) + 1, str(last.entry_hash)) if last is not None else (1, GENESIS)
        draft = PackEntry(seq=seq, prev_hash=prev, entry_hash="", **values)  # type: ignore[arg-type]
        final = PackEntry(**{**asdict(draft), "entry_hash": entry_hash(prev, draft.fields())})
        connection.execute(pack_history.insert().values(**asdict(final)))
        return final

    def propose(
        self,
        who: Identity,
        *,
        version: str,
        pack_hash: str,
        diff_summary: str,
        ticket: str,
        at: datetime | None = None,
    ) -> PackEntry:
        """Record ``who``'s proposal to deploy the pack ``pack_hash``; a ticket is required."""
        proposer = self._acting(who, "proposer")
        if not ticket.strip():
            raise PackHistoryError("a proposal needs a ticket reference")
        now = (at or self.clock()).astimezone(UTC)
        with self.engine.begin() as connection:
            return self._append(
                connection,
                {
                    "action": "propose",
                    "version": version,
                    "pack_hash": pack_hash,
                    "diff_summary": diff_summary,
                    "ticket": ticket.strip()[:128],
                    "proposer": proposer.user_id,
                    "proposed_at": now,
                    "approver": None,
                    "approved_at": None,
                },
            )

    def pending(self, pack_hash: str) -> PackEntry | None:
        """The newest proposal of ``pack_hash`` not yet approved."""
        return _pending(self.entries(), pack_hash)

    def approve(self, who: Identity, *, pack_hash: str, at: datetime | None = None) -> PackEntry:
        """Record ``who``'s approval of the pending proposal of ``pack_hash`` (not their own)."""
        approver = self._acting(who, "approver")
        now = (at or self.clock()).astimezone(UTC)
        with self.engine.begin() as connection:
            serialise_appends(connection, PACK_LOCK)  # the check and the append in one turn
            rows = connection.execute(sa.select(pack_history).order_by(pack_history.c.seq))
            entries = [_entry(row) for row in rows]
            proposal = _pending(entries, pack_hash)
            if proposal is None:
                state = "already approved" if _approved(entries, pack_hash) else "never proposed"
                raise PackHistoryError(f"pack {pack_hash} is {state}")
            if same_user(proposal.proposer, approver.user_id):
                raise PackHistoryError(
                    f"{approver.user_id} proposed pack {pack_hash}: the same person cannot also "
                    "approve it"
                )
            return self._append(
                connection,
                {
                    "action": "approve",
                    "version": proposal.version,
                    "pack_hash": proposal.pack_hash,
                    "diff_summary": proposal.diff_summary,
                    "ticket": proposal.ticket,
                    "proposer": proposal.proposer,
                    "proposed_at": proposal.proposed_at,
                    "approver": approver.user_id,
                    "approved_at": now,
                },
            )

    def is_approved(self, pack_hash: str) -> bool:
        """Whether an intact log holds an approval of ``pack_hash`` by a second person."""
        entries = self.entries()
        return verify(entries) is None and _approved(entries, pack_hash)

    def verify(self) -> int | None:
        """The ``seq`` of the first entry that breaks the chain, or None if it is intact."""
        return verify(self.entries())


def _pending(entries: Sequence[PackEntry], pack_hash: str) -> PackEntry | None:
    if _approved(entries, pack_hash):
        return None
    for entry in reversed(entries):
        if entry.action == "propose" and entry.pack_hash == pack_hash:
            return entry
    return None


def _approved(entries: Sequence[PackEntry], pack_hash: str) -> bool:
    return any(
        e.action == "approve"
        and e.pack_hash == pack_hash
        and e.approver is not None
        and not same_user(e.proposer, e.approver)
        for e in entries
    )


def verify(entries: Sequence[PackEntry]) -> int | None:
    """The ``seq`` of the first entry that breaks the chain, or None if it is intact."""
    prev = GENESIS
    for position, entry in enumerate(entries, start=1):
        if (
            entry.seq != position
            or entry.prev_hash != prev
            or entry.entry_hash != entry_hash(prev, entry.fields())
        ):
            return entry.seq if entry.seq >= position else position
        prev = entry.entry_hash
    return None
