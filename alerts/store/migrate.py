"""Run the shipped Alembic migrations on a connection, programmatically (no alembic.ini)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

__all__ = ["HEAD", "VERSION_TABLE", "current_revision", "upgrade"]

SCRIPT_LOCATION = "alerts.store:migrations"
VERSION_TABLE = "riskmon_alerts_schema_version"
HEAD = "0005_silenced_by"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema of ``engine``'s database to ``revision`` (the newest by default)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()
