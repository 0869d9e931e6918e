"""The alert store: SQLite by default, PostgreSQL (psycopg 3) by URL.

Conventions
-----------
- Open with ``AlertStore.open(url)``; the shipped Alembic migrations run on open.
- ``alert_id`` is the key: storing an alert again never makes a second row.
- Lifecycle ``open → acknowledged → resolved | false_positive``; every change, silence creation
  and silence expiry is appended to a hash-chained history with actor, time and comment.
- Close the store (or use it as a context manager): it owns its engine's connection pool.
"""

from __future__ import annotations

from alerts.store.lifecycle import STATUSES, Label, Status
from alerts.store.records import HistoryEntry, LabelRecord, StoredAlert
from alerts.store.store import AlertStore, engine_url, utc_now
from alerts.store.telemetry import AlertStoreCollector

__all__ = [
    "STATUSES",
    "AlertStore",
    "AlertStoreCollector",
    "HistoryEntry",
    "Label",
    "LabelRecord",
    "Status",
    "StoredAlert",
    "engine_url",
    "utc_now",
]
