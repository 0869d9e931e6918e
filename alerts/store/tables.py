"""The SQLAlchemy Core tables the store queries. The schema itself is made by the migrations.

Times are stored as naive UTC (``UTCDateTime``) so SQLite and PostgreSQL read back the same value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "alert_evidence",
    "alerts",
    "api_tokens",
    "history",
    "metadata",
    "pack_history",
    "register_history",
    "risk_actions",
    "risk_event_alerts",
    "risk_events",
    "silences",
    "users",
]


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime in Python, naive UTC in the database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the alert store only accepts timezone-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("rule_id", sa.String(128), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("entity_type", sa.String(16), nullable=False),
    sa.Column("entity_id", sa.String(128), nullable=False),
    sa.Column("branch_id", sa.String(64)),
    sa.Column("occurred_at", UTCDateTime(), nullable=False),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("pack_version", sa.String(64), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_changed_at", UTCDateTime(), nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("delivery_count", sa.Integer(), nullable=False),
    sa.Column("assignee", sa.String(128)),
    sa.Column("pending_by", sa.String(128)),
    sa.Column("pending_at", UTCDateTime()),
    sa.Column("entity_id_full", sa.String(128)),
    sa.Column("silenced_by", sa.String(64)),
)

history = sa.Table(
    "alert_history",
    metadata,
    sa.Column("entry_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(64)),
    sa.Column("silence_id", sa.String(64)),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16)),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("silence_id", sa.String(64), primary_key=True),
    sa.Column("matchers", sa.Text(), nullable=False),
    sa.Column("starts_at", UTCDateTime(), nullable=False),
    sa.Column("ends_at", UTCDateTime(), nullable=False),
    sa.Column("author", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("ticket", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expired_at", UTCDateTime()),
    sa.Column("expired_by", sa.String(128)),
    sa.Column("approved_by", sa.String(128)),
    sa.Column("approved_at", UTCDateTime()),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),  # canonical: trimmed, case-folded
    sa.Column("display_name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256; never the token
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("label", sa.String(128), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
)

alert_evidence = sa.Table(
    "alert_evidence",
    metadata,
    sa.Column("alert_id", sa.String(64), primary_key=True),
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),  # account ids masked
    sa.Column("full_payload", sa.Text()),  # as received; only shown by a recorded reveal
)

risk_events = sa.Table(
    "risk_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("title", sa.Text(), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("opened_by", sa.String(128), nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("root_cause_category", sa.String(64)),
    sa.Column("root_cause", sa.Text()),
    sa.Column("people_dealt_with", sa.Text()),
    sa.Column("staff_education", sa.Text()),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("closed_at", UTCDateTime()),
)

risk_event_alerts = sa.Table(
    "risk_event_alerts",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("alert_id", sa.String(64), primary_key=True),
)

risk_actions = sa.Table(
    "risk_actions",
    metadata,
    sa.Column("action_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("due_date", sa.Date(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("proposal_id", sa.String(128)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("done_at", UTCDateTime()),
)

register_history = sa.Table(
    "risk_event_history",
    metadata,
    sa.Column("entry_id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)

pack_history = sa.Table(
    "rule_pack_history",  # two people for a rule-pack change (alerts.pack_history)
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("version", sa.Text(), nullable=False),
    sa.Column("pack_hash", sa.String(64), nullable=False),
    sa.Column("diff_summary", sa.Text(), nullable=False),
    sa.Column("ticket", sa.String(128), nullable=False),
    sa.Column("proposer", sa.String(128), nullable=False),
    sa.Column("proposed_at", UTCDateTime(), nullable=False),
    sa.Column("approver", sa.String(128)),
    sa.Column("approved_at", UTCDateTime()),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("entry_hash", sa.String(64), nullable=False),
)
