"""The one change riskmon makes to a private aiokafka API: back off after a failed metadata update.

While the broker is away, aiokafka's fetcher and producer sender each ask for a metadata update,
wait for it, and ask again. A refused connection fails the update at once, so the two loops and
the client's metadata task spin: about 3,600 updates a second and a whole CPU core, for as long
as the broker is down. aiokafka's client already has a ``retry_backoff_ms``; after a failed update
:func:`throttle_failed_metadata_updates` makes it wait that long (at least ``floor`` seconds)
before it answers, so every loop built on it is paced by the backoff.

``tests/streams/test_aiokafka_private.py`` fails when an aiokafka upgrade moves what this wraps.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

__all__ = ["throttle_failed_metadata_updates"]

_MARK = "_riskmon_throttled"


def throttle_failed_metadata_updates(floor: float = 0.2) -> None:
    """Make every ``AIOKafkaClient`` wait ``max(retry_backoff, floor)`` s after a failed update.

    Idempotent: installing it twice wraps once.
    """
    from aiokafka.client import AIOKafkaClient

    update = AIOKafkaClient._metadata_update
    if getattr(update, _MARK, False):
        return

    @functools.wraps(update)
    async def paced(self: Any, cluster_metadata: Any, topics: Any) -> Any:
        updated = await update(self, cluster_metadata, topics)
        if not updated:
            await asyncio.sleep(max(float(getattr(self, "_retry_backoff", 0.0)), floor))
        return updated

    setattr(paced, _MARK, True)
    AIOKafkaClient._metadata_update = paced
