"""A sink that keeps notifications in a list: for ``sdf.test()``-style runs without servers."""

from __future__ import annotations

from alerts.notification import Notification

__all__ = ["MemorySink"]


class MemorySink:
    """Keeps every flushed notification in ``delivered``."""

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
