"""Two people for a rule-pack change: the append-only, hash-chained approval log, beside the
alert history (it was a JSONL file before; see ``alerts.pack_history``).

Revision ID: 0004_pack_history
Revises: 0003_workspace
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_pack_history"
down_revision = "0003_workspace"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rule_pack_history",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("pack_hash", sa.String(64), nullable=False, index=True),
        sa.Column("diff_summary", sa.Text(), nullable=False),
        sa.Column("ticket", sa.String(128), nullable=False),
        sa.Column("proposer", sa.String(128), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("approver", sa.String(128), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_pack_history")
