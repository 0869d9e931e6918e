"""Repeated ``event_id`` detection: redeliveries are dropped, collisions are dead-lettered.

At-least-once transport repeats messages. An event whose id was seen before with *identical*
content is a redelivery: it is dropped and counted, so that it cannot count twice in a sum. One
whose id was seen with *different* content is a collision (two producers reusing an id, or a
tampered record): it raises :class:`~monitor.errors.EventDecodeError` with reason
``duplicate_event_id`` and the caller dead-letters it. The first event keeps its id.

The memory is bounded twice: ids older than ``window_seconds`` of *event time* behind the newest
event seen are forgotten, and beyond ``max_entries`` the oldest go first. A repeat that arrives
after its original was forgotten is processed as new (a bound has to be chosen; the window is
a setting). The state is a plain ``MutableMapping[event_id, [content_hash, event_time]]`` of JSON
values, so it is saved with the engine state in replay and could live in a changelog table.
No wall clock, no I/O.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, MutableMapping
from typing import Any

from monitor.errors import EventDecodeError
from monitor.events import Event, event_epoch

__all__ = [
    "DEDUP_MAX_ENTRIES",
    "DEDUP_STATE_KEY",
    "DEDUP_WINDOW_SECONDS",
    "EventDeduplicator",
    "admission",
    "content_hash",
]

DEDUP_STATE_KEY = "__dedup__"
"""Where replay keeps the deduplicator's memory inside the engine state."""
DEDUP_WINDOW_SECONDS = 7 * 24 * 3600.0
"""Default event-time window in which a repeated ``event_id`` is recognised (one week)."""
DEDUP_MAX_ENTRIES = 1_000_000
"""Default number of event ids remembered (oldest forgotten first)."""


def content_hash(event: Event) -> str:
    """A hash of the event's content, independent of key order and number formatting.

    >>> from monitor.events import decode_event
    >>> a = decode_event('{"kind": "operator_action", "event_id": "e1", "branch_id": "B1",'
    ...     ' "occurred_at": "2026-03-02T09:00:00+08:00", "operator_id": "op1", "role": "teller",'
    ...     ' "action": "login", "terminal_id": "t1", "outcome": "success"}')
    >>> b = decode_event('{"outcome": "success", "terminal_id": "t1", "action": "login",'
    ...     ' "role": "teller", "operator_id": "op1", "occurred_at": "2026-03-02T01:00:00Z",'
    ...     ' "branch_id": "B1", "event_id": "e1", "kind": "operator_action"}')
    >>> content_hash(a) == content_hash(b)
    True
    """
    if event.model_extra:
        data = event.model_dump(mode="json")
    else:  # the same dict, without the serializer: text as it is, the amount as its text
        data = dict(event.__dict__)
        amount = data.get("amount")
        if amount is not None:
            data["amount"] = str(amount)
    data["occurred_at"] = event_epoch(event)  # the instant, whatever the offset
    return hashlib.sha256(_CANONICAL.encode(data).encode()).hexdigest()[:32]


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""``json.dumps`` with these options, made once."""


class EventDeduplicator:
    """Remembers recent event ids and the hash of their content.

    >>> from monitor.events import decode_event
    >>> line = ('{"kind": "operator_action", "event_id": "e1", "branch_id": "B1",'
    ...     ' "occurred_at": "2026-03-02T09:00:00+08:00", "operator_id": "op1", "role": "teller",'
    ...     ' "action": "login", "terminal_id": "t1", "outcome": "success"}')
    >>> seen = EventDeduplicator()
    >>> seen.admit(decode_event(line)), seen.admit(decode_event(line)), seen.redeliveries
    (True, False, 1)
    >>> seen.admit(decode_event(line.replace("login", "logout")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    monitor.errors.EventDecodeError: duplicate_event_id: event_id 'e1' was already used ...
    """

    def __init__(
        self,
        state: MutableMapping[str, Any] | None = None,
        *,
        window_seconds: float = DEDUP_WINDOW_SECONDS,
        max_entries: int = DEDUP_MAX_ENTRIES,
    ) -> None:
        if window_seconds <= 0 or max_entries <= 0:
            raise ValueError("window_seconds and max_entries must be positive")
        self.state: MutableMapping[str, Any] = state if state is not None else {}
        self.window = window_seconds
        self.max_entries = max_entries
        self.redeliveries = 0
        self.collisions = 0
        # Oldest event time first; among equal times, the first seen (insertion order) first.
        self._order: list[tuple[float, int, str]] = [
            (float(v[1]), n, k) for n, (k, v) in enumerate(self.state.items())
        ]
        heapq.heapify(self._order)
        self._seq = len(self._order)
        self._newest = max((t for t, _, _ in self._order), default=float("-inf"))

    def __len__(self) -> int:
        return len(self.state)

    def admit(self, event: Event) -> bool:
        """``True`` for a new event, ``False`` for a redelivery (drop it).

        Raises :class:`EventDecodeError` (``duplicate_event_id``) for a reused id.
        """
        moment = event_epoch(event)
        digest = content_hash(event)
        known = self.state.get(event.event_id)
        if known is not None:
            if known[0] == digest:
                self.redeliveries += 1
                return False
            self.collisions += 1
            raise EventDecodeError(
                "duplicate_event_id",
                f"event_id {event.event_id!r} was already used by an event with other content "
                f"(content hash {known[0]}, this one {digest})",
            )
        self.state[event.event_id] = [digest, moment]
        heapq.heappush(self._order, (moment, self._seq, event.event_id))
        self._seq += 1
        self._newest = max(self._newest, moment)
        self._evict()
        return True

    def _evict(self) -> None:
        horizon = self._newest - self.window
        order = self._order
        while order and (order[0][0] < horizon or len(self.state) > self.max_entries):
            moment, _, event_id = heapq.heappop(order)
            known = self.state.get(event_id)
            if known is not None and float(known[1]) == moment:
                del self.state[event_id]


def admission(
    *checks: Callable[[Event], None],
    dedup: EventDeduplicator | None = None,
) -> Callable[[Event], bool]:
    """One screen for replay and the worker: reference-data checks first, then repeated ids.

    A check raises :class:`EventDecodeError` to dead-letter an event; an event refused by a check
    is not remembered, so its id stays free.
    """

    def admit(event: Event) -> bool:
        for check in checks:
            check(event)
        return dedup.admit(event) if dedup is not None else True

    return admit
