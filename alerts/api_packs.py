"""HTTP endpoints of the rule-pack approval log (:mod:`alerts.pack_history`), for the CLI's
``rules propose/approve/history/verify-history`` when ``RISKMON_API_URL`` is set.

- ``GET /rule-packs/history``: every entry, oldest first, times in the bank's zone, and
  ``broken_at``: the first entry that breaks the hash chain (``null`` when intact).
- ``POST /rule-packs/proposals`` ``{"version", "pack_hash", "diff_summary", "ticket"}``: a proposal
  by the caller (officer, supervisor or admin).
- ``POST /rule-packs/{pack_hash}/approve``: the caller's approval (a supervisor or admin who did
  not propose it).

The caller is the token's identity; a refused proposal or approval answers 409 with the reason.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, StringConstraints

from alerts.api_auth import Reader
from alerts.pack_history import PackEntry, PackHistoryError, verify
from alerts.store import AlertStore
from monitor.i18n import localise_times

__all__ = ["pack_routes"]

Short = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=256)]
Hash = Annotated[str, StringConstraints(pattern=r"^[0-9a-zA-Z]{1,64}$")]


class ProposalBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Short
    pack_hash: Hash
    diff_summary: Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=4000)]
    ticket: Short


def pack_routes(store: AlertStore, timezone: str) -> APIRouter:
    """The approval-log endpoints over ``store``; times shown in ``timezone``."""
    router = APIRouter()

    def local(entry: PackEntry) -> dict[str, Any]:
        return dict(localise_times(asdict(entry), timezone))

    def refused(exc: PackHistoryError) -> HTTPException:
        return HTTPException(409, str(exc))

    @router.get("/rule-packs/history")
    def history(identity: Reader) -> dict[str, Any]:
        entries = store.pack_history.entries()
        return {"entries": [local(e) for e in entries], "broken_at": verify(entries)}

    @router.post("/rule-packs/proposals", status_code=201)
    def propose(body: ProposalBody, identity: Reader) -> dict[str, Any]:
        try:
            entry = store.pack_history.propose(
                identity,
                version=body.version,
                pack_hash=body.pack_hash,
                diff_summary=body.diff_summary,
                ticket=body.ticket,
            )
        except PackHistoryError as exc:
            raise refused(exc) from None
        return local(entry)

    @router.post("/rule-packs/{pack_hash}/approve")
    def approve(pack_hash: Hash, identity: Reader) -> dict[str, Any]:
        try:
            entry = store.pack_history.approve(identity, pack_hash=pack_hash)
        except PackHistoryError as exc:
            raise refused(exc) from None
        return local(entry)

    return router
