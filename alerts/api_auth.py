"""Who calls the HTTP API: a bearer token resolved to an authenticated :class:`Identity`.

- A token is a user's API token (``riskmon users token NAME``); the store keeps only its hash.
- Compatibility: ``RISKMON_ALERT_API_TOKENS`` (``{"<token>": {"owner": ..., "scope": ...}}``) is
  still read, but a token counts only if its owner is a known, active user; a ``read`` token acts
  with the auditor role (read-only) whatever the user's role.
- 401 without a valid token; 403 when the identity may only read. The identity is the only actor a
  change can name: clients cannot choose it.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from alerts.errors import IdentityError
from alerts.store import AlertStore
from alerts.store.identity import Identity

__all__ = ["ApiToken", "Reader", "Writer", "caller", "writer"]


class ApiToken(BaseModel):
    """A token of the older ``RISKMON_ALERT_API_TOKENS`` setting: an owner and a scope."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    owner: str
    scope: Literal["read", "read-write"]


_bearer = HTTPBearer(auto_error=False)
_UNAUTHORISED = HTTPException(
    401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"}
)


def _legacy(store: AlertStore, tokens: dict[str, ApiToken], given: str) -> Identity | None:
    for token, entry in tokens.items():
        if hmac.compare_digest(given.encode(), token.encode()):
            try:
                identity = store.users.identity(entry.owner)
            except IdentityError:
                return None  # an owner who is not a known user authenticates nobody
            if entry.scope == "read":
                return identity.model_copy(update={"role": "auditor"})
            return identity
    return None


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The identity behind the bearer token; 401 without a valid one."""
    if credentials is None or not credentials.credentials:
        raise _UNAUTHORISED
    store: AlertStore = request.app.state.store
    given = credentials.credentials
    try:
        return store.users.identity_for_token(given)
    except IdentityError:
        pass
    found = _legacy(store, request.app.state.tokens, given)
    if found is None:
        raise _UNAUTHORISED
    return found


def writer(identity: Annotated[Identity, Depends(caller)]) -> Identity:
    """The caller, if it may change things; 403 for read-only roles and tokens."""
    if not identity.can_write:
        raise HTTPException(403, f"{identity.user_id} may only read")
    return identity


Reader = Annotated[Identity, Depends(caller)]
Writer = Annotated[Identity, Depends(writer)]
