"""A queue of per-key deadlines in event time (epoch seconds), used by every keyed stage.

Each key has at most one live deadline. Rescheduling a key leaves its old heap entry behind; such
stale entries are skipped when they surface, which keeps scheduling O(log n) without deletes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator


class DeadlineQueue:
    """Keys ordered by deadline.

    >>> q = DeadlineQueue()
    >>> q.schedule("a", 10.0); q.schedule("b", 5.0); q.schedule("a", 20.0)
    >>> list(q.pop_due(15.0))
    ['b']
    >>> len(q)
    1
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []
        self._current: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._current)

    def schedule(self, key: str, deadline: float | None) -> None:
        """Set (or clear, with ``None``) the deadline of ``key``."""
        if deadline is None:
            self._current.pop(key, None)
        elif self._current.get(key) != deadline:
            self._current[key] = deadline
            heapq.heappush(self._heap, (deadline, key))

    def due(self, watermark: float) -> bool:
        """Whether :meth:`pop_due` may have work at ``watermark`` (a cheap test of the heap's
        head: stale entries count, and are dropped by the next ``pop_due``)."""
        heap = self._heap
        return bool(heap) and heap[0][0] <= watermark

    def pop_due(self, watermark: float) -> Iterator[str]:
        """Yield (and forget) each key whose deadline is at or before ``watermark``.

        Keys rescheduled while iterating are seen again if their new deadline is also due.
        """
        heap = self._heap
        while heap and heap[0][0] <= watermark:
            deadline, key = heapq.heappop(heap)
            if self._current.get(key) == deadline:
                del self._current[key]
                yield key
