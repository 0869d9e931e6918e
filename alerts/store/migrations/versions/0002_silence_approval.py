"""Maker-checker on silences: who approved a silence, and when.

Silences made before this revision were in force without approval; they are recorded as approved
by their author at their creation time, so they stay in force.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("silences") as batch:
        batch.add_column(sa.Column("approved_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("approved_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE silences SET approved_by = author, approved_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("silences") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approved_by")
