"""Read-only inputs that cost time to make, made once per test session and copied per test."""

from __future__ import annotations

import shutil
from pathlib import Path


def make_migrated_sqlite(path: Path) -> Path:
    """A SQLite alert store at ``path``, migrated to the newest schema and closed."""
    from alerts.store import AlertStore

    AlertStore.open(f"sqlite:///{path}").close()
    return path


def sqlite_copy(template: Path, path: Path) -> str:
    """Copy ``template`` (a closed SQLite file) to ``path``; returns its store URL."""
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"
