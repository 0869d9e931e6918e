"""The officers' workspace: users and API tokens, assignment and pending approvals on alerts,
the evidence events of each alert, and the risk-event register (四不放过) with its own history.

Revision ID: 0003_workspace
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_workspace"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("assignee", sa.String(128), nullable=True))
        batch.add_column(sa.Column("pending_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("pending_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("entity_id_full", sa.String(128), nullable=True))
        batch.create_index("ix_alerts_assignee", ["assignee"])
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False, index=True),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "alert_evidence",
        sa.Column("alert_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("full_payload", sa.Text(), nullable=True),
    )
    op.create_table(
        "risk_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("root_cause_category", sa.String(64), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("people_dealt_with", sa.Text(), nullable=True),
        sa.Column("staff_education", sa.Text(), nullable=True),
        sa.Column("closed_by", sa.String(128), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "risk_event_alerts",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("alert_id", sa.String(64), primary_key=True, index=True),
    )
    op.create_table(
        "risk_actions",
        sa.Column("action_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, index=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposal_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "risk_event_history",
        sa.Column("entry_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "risk_event_history",
        "risk_actions",
        "risk_event_alerts",
        "risk_events",
        "alert_evidence",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_assignee")
        batch.drop_column("entity_id_full")
        batch.drop_column("pending_at")
        batch.drop_column("pending_by")
        batch.drop_column("assignee")
