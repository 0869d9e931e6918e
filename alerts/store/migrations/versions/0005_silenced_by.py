"""Which silence muted an alert (``alerts.silenced_by``); the history records it too.

Revision ID: 0005_silenced_by
Revises: 0004_pack_history
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_silenced_by"
down_revision = "0004_pack_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("silenced_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("silenced_by")
