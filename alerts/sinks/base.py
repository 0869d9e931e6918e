"""The sink role and the buffered, retrying base the sinks share.

Conventions
-----------
- A sink gets ``add(notification)`` per notification and ``flush()`` at commit; ``flush`` delivers
  everything added, each notification with its own retries and exponential backoff.
- A notification that still fails goes to the dead-letter file when the sink has one; otherwise it
  stays buffered for the next flush and ``flush`` raises :class:`SinkDeliveryError`.
- After one notification has used all its attempts, the rest of that flush get one attempt each,
  so an outage does not stall the pipeline for attempts × backoff × notifications.
- Counters go to the :class:`SinkMetrics` passed in, labelled with the sink's name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from alerts.errors import DeliveryAttemptError, SinkDeliveryError
from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks.deadletter import DeadLetterFile
from monitor.alerts import delivery_key

__all__ = ["AlertSink", "BufferedSink", "DeliveryAttemptError", "RetryPolicy"]


@runtime_checkable
class AlertSink(Protocol):
    """Where notifications go: ``add`` per notification, ``flush`` on commit."""

    name: str

    def add(self, notification: Notification) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all, sleeping ``backoff × 2^n`` (capped) between them."""

    attempts: int = 4
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        """The pause after failed attempt number ``attempt`` (1-based).

        >>> [RetryPolicy(backoff_seconds=1, max_backoff_seconds=5).delay(n) for n in (1, 2, 3, 4)]
        [1.0, 2.0, 4.0, 5]
        """
        return min(self.max_backoff_seconds, self.backoff_seconds * 2.0 ** (attempt - 1))


class BufferedSink:
    """Buffers notifications and delivers them on flush with retries, backoff and dead-lettering.

    Subclasses implement :meth:`deliver`, raising :class:`DeliveryAttemptError` on failure.
    """

    def __init__(
        self,
        name: str,
        *,
        metrics: SinkMetrics,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dead_letter: Path | None = None,
    ) -> None:
        self.name = name
        self.metrics = metrics
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.dead_letter = DeadLetterFile(dead_letter) if dead_letter is not None else None
        self._buffer: list[Notification] = []
        self._keys: set[tuple[str, str, tuple[str, ...]]] = set()

    def deliver(self, notification: Notification) -> None:
        """Make one attempt to deliver ``notification``."""
        raise NotImplementedError

    def add(self, notification: Notification) -> None:
        # A notification kept from a failed flush comes back when the dispatcher rewinds to its
        # committed offsets; taking it twice would grow the buffer with every retry.
        key = _key(notification)
        if key not in self._keys:
            self._keys.add(key)
            self._buffer.append(notification)

    def pending(self) -> int:
        """Notifications added or kept from a failed flush, not yet delivered."""
        return len(self._buffer)

    def _attempt(self, notification: Notification, attempts: int) -> tuple[str | None, int]:
        """Return (error or None, attempts made)."""
        for attempt in range(1, attempts + 1):
            try:
                self.deliver(notification)
                return None, attempt
            except DeliveryAttemptError as exc:
                if not exc.retryable or attempt == attempts:
                    return str(exc), attempt
                self.metrics.retried.labels(self.name).inc()
                self.sleep(self.retry.delay(attempt))
        return "no attempt was made", 0  # pragma: no cover - attempts is at least 1

    def flush(self) -> None:
        """Deliver everything buffered; raise :class:`SinkDeliveryError` if some remains."""
        kept: list[Notification] = []
        last_error, outage = "", False
        for notification in self._buffer:
            error, made = self._attempt(notification, 1 if outage else self.retry.attempts)
            if error is None:
                self.metrics.sent.labels(self.name).inc()
                continue
            outage, last_error = True, error
            self.metrics.failed.labels(self.name).inc()
            if self.dead_letter is not None:
                try:
                    self.dead_letter.append(self.name, error, made, notification)
                except OSError as exc:  # a full disk: keep it, never lose it
                    last_error = f"{error}; dead-letter file {self.dead_letter.path}: {exc}"
                    kept.append(notification)
                    continue
                self.metrics.dead_lettered.labels(self.name).inc()
            else:
                kept.append(notification)
        self._buffer = kept
        self._keys = {_key(n) for n in kept}
        if kept:
            raise SinkDeliveryError(self.name, self.retry.attempts, last_error)

    def close(self) -> None:
        """Release what the sink owns; clients passed in are closed by their owner."""


def _key(notification: Notification) -> tuple[str, str, tuple[str, ...]]:
    return (
        notification.route,
        notification.group_key,
        tuple(delivery_key(a) for a in notification.alerts),
    )
