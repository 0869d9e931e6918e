"""Alert ids by prefix: officers type the first characters of an id, as with git commits.

A prefix names an alert when exactly one stored id starts with it; several matches are refused
with the candidates listed, so an action never lands on the wrong alert. A full id is used as is.
"""

from __future__ import annotations

import sqlalchemy as sa

from alerts.errors import AlertStoreError
from alerts.store import AlertStore
from alerts.store.tables import alerts

__all__ = ["MIN_PREFIX", "AmbiguousAlertIdError", "resolve_alert_id"]

MIN_PREFIX = 4
"""Shorter prefixes are refused: too likely to match by accident."""
SHOWN = 10


class AmbiguousAlertIdError(AlertStoreError):
    """Several stored alert ids start with the prefix given."""

    def __init__(self, prefix: str, candidates: list[str], more: bool) -> None:
        listed = ", ".join(candidates) + (", ..." if more else "")
        super().__init__(f"alert id prefix {prefix!r} is ambiguous; it matches {listed}")
        self.prefix = prefix
        self.candidates = candidates


def resolve_alert_id(store: AlertStore, given: str) -> str:
    """The full id of the one alert whose id is ``given`` or starts with it.

    Returns ``given`` itself when it is a whole id, shorter than :data:`MIN_PREFIX`, or matches
    nothing (the caller's lookup then reports the unknown id); raises
    :class:`AmbiguousAlertIdError` when several ids start with it.
    """
    given = given.strip()
    if len(given) < MIN_PREFIX:
        return given  # too short to be a prefix: looked up as a whole id (and reported if unknown)
    query = (
        sa.select(alerts.c.alert_id)
        .where(alerts.c.alert_id.startswith(given, autoescape=True))
        .order_by(alerts.c.alert_id)
        .limit(SHOWN + 1)
    )
    with store.engine.connect() as connection:
        found = [str(row[0]) for row in connection.execute(query)]
    if given in found or not found:
        return given  # a whole id, or nothing matches: the caller's lookup reports it
    if len(found) > 1:
        raise AmbiguousAlertIdError(given, found[:SHOWN], len(found) > SHOWN)
    return found[0]
