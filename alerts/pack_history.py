"""Two people for a pack change: proposals and approvals in an append-only, hash-chained log.

Deploying a rule pack is a *proposal* by one person and an *approval* by another. Both are lines
of a JSONL file beside the alert store. Each line holds the pack version and hash, a summary of
the diff, the proposer, the approver, the times and a ticket reference, plus the hash of the line
before it and its own hash over all of that, like the alert store's history
(:mod:`alerts.store.audit`). Editing or deleting a line breaks the chain, and
:meth:`PackHistory.verify` names the first broken entry.

Names are compared case-insensitively after trimming (``" Alice "`` is ``alice``), against the
configured identities: an unknown name can neither propose nor approve, and nobody approves their
own proposal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from alerts.errors import AlertsError
from alerts.store.audit import GENESIS, entry_hash

__all__ = ["PackEntry", "PackHistory", "PackHistoryError", "same_person"]


class PackHistoryError(AlertsError):
    """A proposal or approval was refused, or the log cannot be read."""


def normalise(name: str) -> str:
    """The form names are compared in.

    >>> normalise("  Alice ") == normalise("ALICE")
    True
    """
    return " ".join(name.split()).casefold()


def same_person(first: str, second: str) -> bool:
    return normalise(first) == normalise(second)


@dataclass(frozen=True)
class PackEntry:
    seq: int
    action: Literal["propose", "approve"]
    version: str
    pack_hash: str
    diff_summary: str
    ticket: str
    proposer: str
    proposed_at: str
    approver: str | None
    approved_at: str | None
    prev_hash: str
    entry_hash: str

    def fields(self) -> dict[str, str | None]:
        data = asdict(self)
        data.pop("entry_hash")
        data.pop("prev_hash")
        return {key: None if value is None else str(value) for key, value in data.items()}


class PackHistory:
    """The log in ``path``, checked against ``identities`` (the people allowed to act)."""

    def __init__(self, path: Path | str, identities: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.identities = {normalise(name) for name in identities if name.strip()}

    def entries(self) -> list[PackEntry]:
        if not self.path.exists():
            return []
        out = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(PackEntry(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise PackHistoryError(f"{self.path}:{number}: unreadable entry ({exc})") from None
        return out

    def _check_identity(self, name: str, role: str) -> str:
        if not name.strip():
            raise PackHistoryError(f"a {role} needs a name")
        if not self.identities:
            raise PackHistoryError("no identities are configured (RISKMON_IDENTITIES)")
        if normalise(name) not in self.identities:
            raise PackHistoryError(f"{name.strip()!r} is not a configured identity")
        return name.strip()

    def _append(self, entry: dict[str, Any]) -> PackEntry:
        existing = self.entries()
        prev = existing[-1].entry_hash if existing else GENESIS
        draft = PackEntry(seq=len(existing) + 1, prev_hash=prev, entry_hash="", **entry)
        final = PackEntry(**{**asdict(draft), "entry_hash": entry_hash(prev, draft.fields())})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(final), ensure_ascii=False, sort_keys=True) + "\n")
        return final

    def propose(
        self,
        *,
        version: str,
        pack_hash: str,
        diff_summary: str,
        proposer: str,
        ticket: str,
        at: datetime,
    ) -> PackEntry:
        name = self._check_identity(proposer, "proposer")
        if not ticket.strip():
            raise PackHistoryError("a proposal needs a ticket reference")
        return self._append(
            {
                "action": "propose",
                "version": version,
                "pack_hash": pack_hash,
                "diff_summary": diff_summary,
                "ticket": ticket.strip(),
                "proposer": name,
                "proposed_at": at.astimezone(UTC).isoformat(),
                "approver": None,
                "approved_at": None,
            }
        )

    def pending(self, pack_hash: str) -> PackEntry | None:
        """The newest proposal of ``pack_hash`` not yet approved."""
        entries = self.entries()
        approved = {e.pack_hash for e in entries if e.action == "approve"}
        for entry in reversed(entries):
            if entry.action == "propose" and entry.pack_hash == pack_hash:
                return None if pack_hash in approved else entry
        return None

    def approve(self, *, pack_hash: str, approver: str, at: datetime) -> PackEntry:
        name = self._check_identity(approver, "approver")
        proposal = self.pending(pack_hash)
        if proposal is None:
            state = "already approved" if self.is_approved(pack_hash) else "never proposed"
            raise PackHistoryError(f"pack {pack_hash} is {state}")
        if same_person(proposal.proposer, name):
            raise PackHistoryError(
                f"{name!r} proposed pack {pack_hash}: the same person cannot also approve it"
            )
        return self._append(
            {
                "action": "approve",
                "version": proposal.version,
                "pack_hash": proposal.pack_hash,
                "diff_summary": proposal.diff_summary,
                "ticket": proposal.ticket,
                "proposer": proposal.proposer,
                "proposed_at": proposal.proposed_at,
                "approver": name,
                "approved_at": at.astimezone(UTC).isoformat(),
            }
        )

    def is_approved(self, pack_hash: str) -> bool:
        """Whether an intact log holds an approval of ``pack_hash`` by a second person."""
        entries = self.entries()
        if verify(entries) is not None:
            return False
        return any(
            e.action == "approve"
            and e.pack_hash == pack_hash
            and e.approver is not None
            and not same_person(e.proposer, e.approver)
            for e in entries
        )

    def verify(self) -> int | None:
        return verify(self.entries())


def verify(entries: Sequence[PackEntry]) -> int | None:
    """The ``seq`` of the first entry that breaks the chain, or None if it is intact."""
    prev = GENESIS
    for position, entry in enumerate(entries, start=1):
        if (
            entry.seq != position
            or entry.prev_hash != prev
            or entry.entry_hash != entry_hash(prev, entry.fields())
        ):
            return position
        prev = entry.entry_hash
    return None
