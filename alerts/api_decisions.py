"""HTTP endpoints for decisions on alerts and for the risk-event register (四不放过).

Every change is made as the caller's authenticated identity (see :mod:`alerts.api_auth`):

- ``GET /me``: who the token belongs to; ``GET /users``: users (no secrets), for assignment.
- ``POST /alerts/{id}/assign`` ``{"assignee": "li.wei" | null, "comment"}``;
  ``POST /alerts/{id}/comment`` ``{"comment"}`` (no status change);
  ``POST /alerts/{id}/close`` ``{"outcome": "confirmed"|"false_positive"|"duplicate", "comment"}``
  (a false-positive close of a high/critical alert becomes ``pending_approval``);
  ``POST /alerts/{id}/approve-close`` / ``reject-close`` (a supervisor other than the requester);
  ``POST /alerts/{id}/reopen`` ``{"reason"}``; ``POST /alerts/{id}/reveal`` ``{"reason"}``
  (supervisors; recorded); ``GET /alerts/{id}/evidence``; ``POST /alerts/bulk``.
- ``GET|POST /risk-events``, ``GET /risk-events/{id}`` (with history and what blocks closing),
  ``POST /risk-events/{id}/root-cause|people|education|comment|actions|close``,
  ``POST /risk-events/{id}/actions/{action_id}`` ``{"status"}``, ``GET /risk-events/overdue``,
  ``GET /risk-events.csv``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from alerts.api_auth import Reader, Writer
from alerts.register import (
    ROOT_CAUSE_CATEGORIES,
    ActionStatus,
    RegisterEntry,
    RemediationAction,
    RiskEvent,
)
from alerts.store import AlertStore, StoredAlert
from alerts.store.identity import Identity, User
from alerts.store.lifecycle import Outcome
from alerts.store.records import BulkAction, BulkItem, Revealed
from monitor.i18n import localise_times

__all__ = ["decision_routes"]

Text = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", max_length=4000)]
Required = Annotated[
    str, StringConstraints(pattern=r"^[^\x00]*\S[^\x00]*$", min_length=1, max_length=4000)
]
Name = Annotated[str, StringConstraints(pattern=r"^[^\x00]*$", min_length=1, max_length=128)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignBody(_Body):
    assignee: Name | None
    comment: Text = ""


class NoteBody(_Body):
    comment: Required


class CloseBody(_Body):
    outcome: Outcome = "confirmed"
    comment: Text = ""


class ApprovalBody(_Body):
    comment: Text = ""


class ReasonBody(_Body):
    reason: Required


class BulkBody(_Body):
    alert_ids: list[Name] = Field(min_length=1, max_length=500)
    action: BulkAction
    comment: Text = ""
    outcome: Outcome = "confirmed"
    assignee: Name | None = None


class OpenEventBody(_Body):
    alert_ids: list[Name] = Field(min_length=1, max_length=100)
    owner: Name
    title: Required


class RootCauseBody(_Body):
    category: Name
    text: Required

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ROOT_CAUSE_CATEGORIES:
            raise ValueError(f"use one of {', '.join(ROOT_CAUSE_CATEGORIES)}")
        return value


class TextBody(_Body):
    text: Required


class ActionBody(_Body):
    description: Required
    owner: Name
    due: date
    proposal_id: Name | None = None


class ActionStatusBody(_Body):
    status: ActionStatus
    comment: Text = ""


class EventDetail(BaseModel):
    """A risk event with its history and what still blocks closing it."""

    event: RiskEvent
    missing: list[str]
    history: list[RegisterEntry]


def decision_routes(store: AlertStore, timezone: str) -> APIRouter:
    """The decision and register endpoints over ``store``; times shown in ``timezone``."""
    router = APIRouter()
    register = store.register

    def local(model: BaseModel) -> dict[str, Any]:
        return dict(localise_times(model.model_dump(), timezone))

    @router.get("/me", response_model=Identity)
    def me(identity: Reader) -> Identity:
        return identity

    @router.get("/users", response_model=list[User])
    def list_users(identity: Reader) -> list[dict[str, Any]]:
        return [local(user) for user in store.users.list_users()]

    # -- alerts -----------------------------------------------------------------------------

    @router.post("/alerts/bulk", response_model=list[BulkItem])
    def bulk(body: BulkBody, identity: Writer) -> list[BulkItem]:
        return store.bulk(
            body.alert_ids, body.action, by=identity, comment=body.comment,
            outcome=body.outcome, assignee=body.assignee,
        )  # fmt: skip

    @router.post("/alerts/{alert_id}/assign", response_model=StoredAlert)
    def assign(alert_id: Name, body: AssignBody, identity: Writer) -> dict[str, Any]:
        return local(store.assign(alert_id, body.assignee, by=identity, comment=body.comment))

    @router.post("/alerts/{alert_id}/comment", response_model=StoredAlert)
    def comment(alert_id: Name, body: NoteBody, identity: Writer) -> dict[str, Any]:
        return local(store.comment(alert_id, body.comment, by=identity))

    @router.post("/alerts/{alert_id}/close", response_model=StoredAlert)
    def close(alert_id: Name, body: CloseBody, identity: Writer) -> dict[str, Any]:
        closed = store.resolve(alert_id, body.outcome, by=identity, comment=body.comment)
        return local(closed)

    @router.post("/alerts/{alert_id}/approve-close", response_model=StoredAlert)
    def approve_close(
        alert_id: Name, identity: Writer, body: ApprovalBody | None = None
    ) -> dict[str, Any]:
        text = (body or ApprovalBody()).comment
        return local(store.approve_close(alert_id, by=identity, comment=text))

    @router.post("/alerts/{alert_id}/reject-close", response_model=StoredAlert)
    def reject_close(alert_id: Name, body: NoteBody, identity: Writer) -> dict[str, Any]:
        return local(store.reject_close(alert_id, by=identity, comment=body.comment))

    @router.post("/alerts/{alert_id}/reopen", response_model=StoredAlert)
    def reopen(alert_id: Name, body: ReasonBody, identity: Writer) -> dict[str, Any]:
        return local(store.reopen(alert_id, by=identity, reason=body.reason))

    @router.post("/alerts/{alert_id}/reveal", response_model=Revealed)
    def reveal(alert_id: Name, body: ReasonBody, identity: Writer) -> Revealed:
        return store.reveal(alert_id, by=identity, reason=body.reason)

    @router.get("/alerts/{alert_id}/evidence")
    def evidence(alert_id: Name, identity: Reader) -> list[dict[str, Any]]:
        return store.evidence(alert_id)

    # -- the risk-event register ------------------------------------------------------------

    @router.get("/risk-events", response_model=list[RiskEvent])
    def list_events(
        identity: Reader, status: Literal["open", "closed"] | None = None
    ) -> list[dict[str, Any]]:
        return [local(event) for event in register.list_events(status=status)]

    @router.post("/risk-events", response_model=RiskEvent, status_code=201)
    def open_event(body: OpenEventBody, identity: Writer) -> dict[str, Any]:
        event = register.open_event(body.alert_ids, owner=body.owner, title=body.title, by=identity)
        return local(event)

    @router.get("/risk-events.csv", response_class=PlainTextResponse)
    def export_csv(identity: Reader) -> PlainTextResponse:
        return PlainTextResponse(
            register.export_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="risk-events.csv"'},
        )

    @router.get("/risk-events/overdue", response_model=list[RemediationAction])
    def overdue(
        identity: Reader, now: Annotated[datetime | None, Query()] = None
    ) -> list[RemediationAction]:
        if now is not None and now.tzinfo is None:
            raise HTTPException(422, "now: give a time zone offset")
        return register.overdue(now or register.clock())

    @router.get("/risk-events/{event_id}", response_model=EventDetail)
    def show_event(event_id: Name, identity: Reader) -> dict[str, Any]:
        event = register.get(event_id)
        detail = EventDetail(
            event=event, missing=event.missing(), history=register.history(event_id)
        )
        return local(detail)

    @router.post("/risk-events/{event_id}/root-cause", response_model=RiskEvent)
    def root_cause(event_id: Name, body: RootCauseBody, identity: Writer) -> dict[str, Any]:
        return local(register.set_root_cause(event_id, body.category, body.text, by=identity))

    @router.post("/risk-events/{event_id}/people", response_model=RiskEvent)
    def people(event_id: Name, body: TextBody, identity: Writer) -> dict[str, Any]:
        return local(register.set_people_dealt_with(event_id, body.text, by=identity))

    @router.post("/risk-events/{event_id}/education", response_model=RiskEvent)
    def education(event_id: Name, body: TextBody, identity: Writer) -> dict[str, Any]:
        return local(register.set_staff_education(event_id, body.text, by=identity))

    @router.post("/risk-events/{event_id}/comment", response_model=RiskEvent)
    def event_comment(event_id: Name, body: TextBody, identity: Writer) -> dict[str, Any]:
        return local(register.add_comment(event_id, body.text, by=identity))

    @router.post(
        "/risk-events/{event_id}/actions", response_model=RemediationAction, status_code=201
    )
    def add_action(event_id: Name, body: ActionBody, identity: Writer) -> dict[str, Any]:
        action = register.add_action(
            event_id, description=body.description, owner=body.owner, due=body.due,
            proposal_id=body.proposal_id, by=identity,
        )  # fmt: skip
        return local(action)

    @router.post("/risk-events/{event_id}/actions/{action_id}", response_model=RemediationAction)
    def action_status(
        event_id: Name, action_id: int, body: ActionStatusBody, identity: Writer
    ) -> dict[str, Any]:
        action = register.set_action_status(
            event_id, action_id, body.status, by=identity, comment=body.comment
        )
        return local(action)

    @router.post("/risk-events/{event_id}/close", response_model=RiskEvent)
    def close_event(
        event_id: Name, identity: Writer, body: ApprovalBody | None = None
    ) -> dict[str, Any]:
        text = (body or ApprovalBody()).comment
        return local(register.close(event_id, by=identity, comment=text))

    return router
