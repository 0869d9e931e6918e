"""Alembic environment: runs on the connection the store hands over, never from alembic.ini."""

from __future__ import annotations

from alembic import context

from alerts.store.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
