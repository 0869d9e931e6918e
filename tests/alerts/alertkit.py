"""Helpers for the alerts tests: alert factory, a settable clock, an in-memory sink, a PostgreSQL
database per test, queries of a real Alertmanager."""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from alerts.errors import IdentityError
from alerts.identity import Identity, Role
from alerts.notification import Notification
from alerts.store import AlertStore, engine_url
from monitor.alerts import Alert, make_alert_id

T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_SEQUENCE = itertools.count()


def make_alert(**overrides: Any) -> Alert:
    """A valid alert; every call without ``event_ids`` gets new event ids, so a new alert_id."""
    n = next(_SEQUENCE)
    rule_id = overrides.pop("rule_id", "large_transfer_over_limit")
    event_ids = tuple(overrides.pop("event_ids", (f"evt-{n}",)))
    fields: dict[str, Any] = {
        "alert_id": make_alert_id(rule_id, event_ids),
        "category": "large_transfer",
        "rule_id": rule_id,
        "title": "Large transfer over the branch limit",
        "severity": "high",
        "entity_type": "account",
        "entity_id": "************1234",
        "branch_id": "BR001",
        "event_ids": event_ids,
        "occurred_at": T0 + timedelta(seconds=n),
        "message": f"Transfer of 1,000,000.00 CNY from account ************1234 (#{n})",
        "language": "en",
        "explanation": {"amount": "1000000.00", "limit": "500000.00"},
        "tags": ("maturity_stable", "aml"),
        "pack_version": "1.2.0",
        "pack_hash": "sha256:abc123",
    }
    fields.update(overrides)
    return Alert(**fields)


class MemorySink:
    """A sink that keeps every flushed notification in ``delivered`` (tests only)."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.delivered: list[Notification] = []
        self._buffer: list[Notification] = []

    def add(self, notification: Notification) -> None:
        self._buffer.append(notification)

    def flush(self) -> None:
        self.delivered.extend(self._buffer)
        self._buffer = []

    def close(self) -> None:
        """Nothing to release."""


class SleepRecorder:
    """An injectable ``sleep`` that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class SettableClock:
    """A clock tests move by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """Create an empty database on the server of ``server_url``; drop it afterwards."""
    name = f"alerts_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(engine_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


PASSWORD = "correct horse battery"


def who(store: AlertStore, name: str, role: Role = "officer") -> Identity:
    """The identity of user ``name`` in ``store``, adding the user first if needed."""
    try:
        return store.users.identity(name)
    except IdentityError:
        store.users.add_user(name, role, PASSWORD)
        return store.users.identity(name)


def am_alerts(alertmanager_url: str, **labels: str) -> list[dict[str, Any]]:
    """The alerts a real Alertmanager lists, filtered by label equality."""
    return _am_get(alertmanager_url, "alerts", labels)


def am_groups(alertmanager_url: str, **labels: str) -> list[dict[str, Any]]:
    """The alert groups a real Alertmanager lists, filtered by label equality."""
    return _am_get(alertmanager_url, "alerts/groups", labels)


def _am_get(alertmanager_url: str, path: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    matchers = [("filter", f'{name}="{value}"') for name, value in labels.items()]
    url = f"{alertmanager_url}/api/v2/{path}?{urllib.parse.urlencode(matchers)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return list(json.load(response))


def wait_until(probe: Any, timeout: float = 20.0) -> Any:
    """Call ``probe`` every 0.2 s until it returns something true or ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)
