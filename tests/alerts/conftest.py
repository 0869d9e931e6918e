"""Fixtures of the alerts tests: the store over SQLite and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.metrics import SinkMetrics
from alerts.store import AlertStore
from tests.alerts.alertkit import SettableClock, SleepRecorder, fresh_postgres_database
from tests.templates import sqlite_copy


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a new database on the real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'alerts.db'}"
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite_template: Path
) -> Iterator[str]:
    """A database for a store: on SQLite, a copy of one already migrated to the newest schema
    (what :meth:`AlertStore.open` makes of an empty file, without migrating again for each
    test); on the real PostgreSQL server, a new empty database. Tests of the migrations
    themselves take ``empty_store_url``."""
    if request.param == "sqlite":
        yield sqlite_copy(migrated_sqlite_template, tmp_path / "alerts.db")
        return
    with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@pytest.fixture
def store(store_url: str, clock: SettableClock) -> Iterator[AlertStore]:
    with AlertStore.open(store_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sink_metrics(registry: CollectorRegistry) -> SinkMetrics:
    return SinkMetrics(registry)


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()
