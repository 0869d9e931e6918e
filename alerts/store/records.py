"""What the store returns: stored alerts, history entries and tuning labels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from alerts.store.lifecycle import Label, Status
from monitor.alerts import Alert

__all__ = ["BulkAction", "BulkItem", "HistoryEntry", "LabelRecord", "Revealed", "StoredAlert"]

BulkAction = Literal["acknowledge", "assign", "comment", "resolve"]


class StoredAlert(BaseModel):
    """An alert with its lifecycle state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert: Alert
    status: Status
    status_changed_at: AwareDatetime
    first_seen_at: AwareDatetime
    last_seen_at: AwareDatetime
    delivery_count: int
    assignee: str | None = None
    """The user id the alert is assigned to."""
    pending_by: str | None = None
    """Who asked for the false-positive close that waits for approval (``pending_approval``)."""
    silenced_by: str | None = None
    """The silence that kept this alert from people's routes, if one did."""


class HistoryEntry(BaseModel):
    """One line of the append-only history, hash-chained to the line before it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: int
    alert_id: str | None
    silence_id: str | None
    action: str
    from_status: str | None
    to_status: str | None
    actor: str
    at: AwareDatetime
    comment: str
    prev_hash: str
    entry_hash: str


class LabelRecord(BaseModel):
    """A disposition of one alert, for model and rule tuning."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    rule_id: str
    category: str
    severity: str
    pack_version: str
    occurred_at: AwareDatetime
    label: Label
    decided_by: str
    decided_at: AwareDatetime
    comment: str


class BulkItem(BaseModel):
    """What a bulk action did to one alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    ok: bool
    status: str | None = None
    error: str | None = None


class Revealed(BaseModel):
    """A full account and the unmasked evidence, shown to a supervisor after a recorded reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert_id: str
    entity_id: str
    events: list[dict[str, Any]]
