"""The HTTP API of the alert store: list, show, acknowledge, close, and silences.

Conventions
-----------
- Every request needs ``Authorization: Bearer <token>``: a user's API token (``riskmon users
  token NAME``); 401 without a valid one. Auditors (read-only) get 403 on every change.
- Every change is recorded with the token's user (an authenticated identity) as the actor
  (silences: as the author). Clients cannot choose the actor.
- Decisions (assign, comment, close with an outcome, approvals, reopen, reveal, bulk) and the
  risk-event register are in :mod:`alerts.api_decisions`.
- Errors: 404 unknown alert, silence or risk event; 409 a transition the lifecycle forbids, a
  broken two-person rule or a register refusal; 403 a role that may not; 422 bad input.
- Paging: ``GET /alerts?page=2&page_size=50`` (pages from 1, as in ``riskmon alerts list
  --page --page-size``); the older ``limit``/``offset`` still work and win when given.
- Times in responses are in the bank's time zone (``timezone``, default ``Asia/Shanghai``); a
  naive ``since``/``until`` is taken in that zone too.
- ``/docs``, ``/redoc`` and ``/openapi.json`` need a token like everything else: the bearer header,
  or HTTP Basic with the token as password (so a browser can open them).
- ``create_app(store, tokens)`` builds the app; the caller owns the store and closes it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alerts.api_auth import ApiToken, Reader, Writer
from alerts.api_auth import caller as _caller
from alerts.api_decisions import decision_routes
from alerts.api_packs import pack_routes
from alerts.errors import (
    AlertNotFoundError,
    ApprovalError,
    IdentityError,
    InvalidSilenceError,
    InvalidTransitionError,
    PermissionDeniedError,
    RegisterError,
    RiskEventNotFoundError,
    SilenceNotFoundError,
)
from alerts.idprefix import AmbiguousAlertIdError, resolve_alert_id
from alerts.matching import AlertMatcher
from alerts.silences import Silence
from alerts.store import AlertStore, HistoryEntry, Status, StoredAlert
from alerts.store.identity import Identity
from monitor.alerts import Category, Severity
from monitor.i18n import BANK_TIMEZONE, localise_times, zone

__all__ = ["AlertDetail", "ApiToken", "create_app"]

# NUL cannot be stored in PostgreSQL text; refuse it at the edge (422) instead of failing (500).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=2000)]
Name = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", min_length=1, max_length=128)]
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class AlertDetail(BaseModel):
    """One alert with its history."""

    alert: StoredAlert
    history: list[HistoryEntry]


class CommentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: Text = ""


class SilenceBody(BaseModel):
    """A new silence: who makes it is the token's owner."""

    model_config = ConfigDict(extra="forbid")

    matchers: AlertMatcher
    duration_minutes: int = Field(ge=1, le=60 * 24 * 366)
    reason: Name
    ticket: Name


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})


def _bounded(value: datetime | None, name: str, tz: str = "UTC") -> datetime | None:
    """An aware time in a sane range (naive means the bank's time zone); 422 outside it."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=zone(tz))
    try:
        in_utc = aware.astimezone(UTC)
    except OverflowError:
        in_utc = LATEST + timedelta(days=1)
    if not EARLIEST <= in_utc <= LATEST:
        raise HTTPException(422, f"{name}: out of range")
    return in_utc


def _docs_reader(request: Request) -> None:
    """The API docs need a token too: as a bearer header, or as the password of HTTP Basic."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            value = ""
    elif scheme.lower() != "bearer":
        value = ""
    try:
        _caller(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=value))
    except HTTPException:
        raise HTTPException(
            401,
            "a valid token is required (bearer, or HTTP Basic with the token as password)",
            {"WWW-Authenticate": 'Basic realm="riskmon API", charset="UTF-8"'},
        ) from None


def create_app(
    store: AlertStore,
    tokens: Mapping[str, ApiToken] | None = None,
    *,
    timezone: str = BANK_TIMEZONE,
) -> FastAPI:
    """The API over ``store``; callers authenticate with users' API tokens (``tokens``: the
    older owner/scope mapping, honoured only for owners who are known users).

    ``timezone`` is the bank's: times in responses are shown in it.
    """
    zone(timezone)  # fail at start on an unknown zone, not at the first request
    app = FastAPI(title="riskmon alerts", version="1", docs_url=None, redoc_url=None,
                  openapi_url=None)  # fmt: skip
    app.state.tokens = dict(tokens or {})
    app.state.store = store

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(_docs_reader)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(_docs_reader)])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="riskmon alerts API")

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(_docs_reader)])
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="riskmon alerts API")

    @app.exception_handler(AlertNotFoundError)
    @app.exception_handler(SilenceNotFoundError)
    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(InvalidTransitionError)
    @app.exception_handler(ApprovalError)
    @app.exception_handler(AmbiguousAlertIdError)
    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return _error(409, str(exc))

    @app.exception_handler(IdentityError)
    async def unknown_identity(request: Request, exc: Exception) -> JSONResponse:
        return _error(422, str(exc))  # e.g. assigning to a user who does not exist

    @app.exception_handler(PermissionDeniedError)
    async def forbidden(request: Request, exc: Exception) -> JSONResponse:
        return _error(403, str(exc))

    @app.exception_handler(RegisterError)
    async def register_refused(request: Request, exc: Exception) -> JSONResponse:
        return _error(404 if isinstance(exc, RiskEventNotFoundError) else 409, str(exc))

    @app.exception_handler(InvalidSilenceError)
    async def bad_silence(request: Request, exc: Exception) -> JSONResponse:
        return _error(422, str(exc))

    @app.get("/alerts", response_model=list[StoredAlert])
    def list_alerts(
        token: Reader,
        status: Status | None = None,
        category: Category | None = None,
        severity: Severity | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        assignee: Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00]*$")] = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
        limit: Annotated[int | None, Query(ge=1, le=1000, deprecated=True)] = None,
        offset: Annotated[int | None, Query(ge=0, le=1_000_000, deprecated=True)] = None,
    ) -> list[dict[str, object]]:
        size = limit if limit is not None else page_size
        skip = offset if offset is not None else (page - 1) * page_size
        found = store.list_alerts(
            status=status, category=category, severity=severity,
            since=_bounded(since, "since", timezone), until=_bounded(until, "until", timezone),
            limit=size, offset=skip,
            assignee=assignee.strip().casefold() if assignee is not None else None,
        )  # fmt: skip
        return [localise_times(item.model_dump(), timezone) for item in found]

    @app.get("/alerts/{alert_id}", response_model=AlertDetail)
    def show_alert(alert_id: Name, token: Reader) -> dict[str, object]:
        alert_id = resolve_alert_id(store, alert_id)  # a unique prefix is enough; 409 if not
        detail = AlertDetail(alert=store.get(alert_id), history=store.history(alert_id))
        return dict(localise_times(detail.model_dump(), timezone))

    def _local(model: BaseModel) -> Any:
        """The model as JSON-ready data with its times in the bank's time zone."""
        return localise_times(model.model_dump(), timezone)

    def _move(alert_id: str, to: Status, token: Identity, body: CommentBody) -> Any:
        return _local(store.transition(alert_id, to, by=token, comment=body.comment))

    @app.post("/alerts/{alert_id}/ack", response_model=StoredAlert)
    def ack(alert_id: Name, token: Writer, body: CommentBody | None = None) -> Any:
        return _move(alert_id, "acknowledged", token, body or CommentBody())

    @app.post("/alerts/{alert_id}/resolve", response_model=StoredAlert)
    def resolve(alert_id: Name, token: Writer, body: CommentBody | None = None) -> Any:
        return _move(alert_id, "resolved", token, body or CommentBody())

    @app.post("/alerts/{alert_id}/false-positive", response_model=StoredAlert)
    def false_positive(alert_id: Name, token: Writer, body: CommentBody | None = None) -> Any:
        return _move(alert_id, "false_positive", token, body or CommentBody())

    @app.get("/silences", response_model=list[Silence])
    def list_silences(token: Reader, active: bool = True) -> Any:
        found = store.list_silences(active_at=store.clock() if active else None)
        return [_local(silence) for silence in found]

    @app.post("/silences", response_model=Silence, status_code=201)
    def add_silence(body: SilenceBody, token: Writer) -> Any:
        ends_at = store.clock() + timedelta(minutes=body.duration_minutes)
        return _local(store.add_silence(
            body.matchers, ends_at=ends_at, by=token, reason=body.reason,
            ticket=body.ticket,
        ))  # fmt: skip

    @app.post("/silences/{silence_id}/approve", response_model=Silence)
    def approve_silence(silence_id: Name, token: Writer, body: CommentBody | None = None) -> Any:
        comment = (body or CommentBody()).comment
        return _local(store.approve_silence(silence_id, by=token, comment=comment))

    @app.post("/silences/{silence_id}/expire", response_model=Silence)
    def expire_silence(silence_id: Name, token: Writer, body: CommentBody | None = None) -> Any:
        comment = (body or CommentBody()).comment
        return _local(store.expire_silence(silence_id, by=token, comment=comment))

    app.include_router(decision_routes(store, timezone))
    app.include_router(pack_routes(store, timezone))
    return app
