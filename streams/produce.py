"""Publishing a JSONL event file to the input topics with kafka-python, keyed correctly.

Transactions go to the transactions topic keyed by ``account_id``; operator actions go to the
operator-actions topic keyed by ``operator_id``. A line that is not an event object still goes out
(to the transactions topic, unkeyed) so that the worker dead-letters it with a reason: producing
never silently drops a line.

Every send is checked. A line the producer refuses at once (over its size limit) is reported with
its line number and the rest are still sent; a send the broker never acknowledged (an outage
longer than the producer's delivery timeout) is counted as undelivered, with its line. The caller
turns either into a non-zero exit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.replay import SourceLine

MAX_REPORTED = 20
"""Undelivered lines kept by number and error (the count is always exact)."""


@dataclass
class Undelivered:
    source: str
    line: int
    error: str


@dataclass
class ProduceStats:
    sent: int = 0
    transactions: int = 0
    operator_actions: int = 0
    unparseable: int = 0
    seconds: float = 0.0
    refused: int = 0
    """Lines the producer refused before sending (e.g. over its size limit)."""
    failed: int = 0
    """Lines sent but never acknowledged by the broker."""
    unsent: int = 0
    """Lines not sent because the producer gave up (``abort``), counted to the end of input."""
    acked: int = 0
    """Lines the broker confirmed."""
    unconfirmed: int = 0
    """Lines sent but neither confirmed nor failed when the caller stopped waiting (`settle`)."""
    problems: list[Undelivered] = field(default_factory=list)
    """The first :data:`MAX_REPORTED` refused or failed lines."""

    @property
    def undelivered(self) -> int:
        return self.refused + self.failed + self.unsent + self.unconfirmed

    @property
    def delivered(self) -> int:
        return self.sent - self.failed - self.unconfirmed

    def settle(self) -> None:
        """Count what is still unconfirmed once the caller stops waiting for the broker."""
        self.unconfirmed = max(0, self.sent - self.acked - self.failed)

    def note(self, line: SourceLine, error: BaseException) -> None:
        if len(self.problems) < MAX_REPORTED:
            text = f"{type(error).__name__}: {error}"[:300]
            self.problems.append(Undelivered(line.source, line.number, text))


def route(text: str, topic_transactions: str, topic_actions: str) -> tuple[str, bytes | None]:
    """The topic and key for one JSONL line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return topic_transactions, None
    if not isinstance(data, dict):
        return topic_transactions, None
    if data.get("kind") == "operator_action":
        key = data.get("operator_id")
        return topic_actions, str(key).encode() if key is not None else None
    key = data.get("account_id")
    return topic_transactions, str(key).encode() if key is not None else None


def produce(
    lines: Iterable[SourceLine],
    send: Callable[[str, bytes | None, bytes], Any],
    topic_transactions: str,
    topic_actions: str,
    *,
    rate: float | None = None,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    refuse: tuple[type[BaseException], ...] = (),
    abort: tuple[type[BaseException], ...] = (),
) -> ProduceStats:
    """Send every line through ``send(topic, key, value)``, optionally paced to ``rate``/s.

    ``send`` may raise at once (``refuse``: the line is reported and skipped) or return a future
    with ``add_errback`` (kafka-python's), whose failure counts the line as undelivered once the
    caller has flushed the producer. ``refuse`` lists the exception types that refuse one line;
    ``abort`` those after which nothing more can be sent (the producer blocked past its limit:
    the broker is unreachable): the rest of the input is counted as unsent. Any other exception
    ends the run.
    """
    stats = ProduceStats()
    started = clock()
    remaining = iter(lines)
    for line in remaining:
        topic, key = route(line.text, topic_transactions, topic_actions)
        try:
            future = send(topic, key, line.text.encode("utf-8", errors="surrogateescape"))
        except refuse as exc:
            stats.refused += 1
            stats.note(line, exc)
            continue
        except abort as exc:
            stats.note(line, exc)
            stats.unsent = 1 + sum(1 for _ in remaining)
            break
        if hasattr(future, "add_errback"):
            future.add_callback(_acked, stats)
            future.add_errback(_failed, stats, line)
        stats.sent += 1
        if key is None:
            stats.unparseable += 1
        elif topic == topic_actions:
            stats.operator_actions += 1
        else:
            stats.transactions += 1
        if rate:
            ahead = started + stats.sent / rate - clock()
            if ahead > 0:
                sleep(ahead)
        if progress is not None:
            progress(1)
    stats.seconds = clock() - started
    return stats


def _acked(stats: ProduceStats, _metadata: Any) -> None:
    """kafka-python calls this (with the arguments given first) once the broker has the line."""
    stats.acked += 1


def _failed(stats: ProduceStats, line: SourceLine, error: BaseException) -> None:
    """kafka-python calls this from its I/O thread when a send fails for good."""
    stats.failed += 1
    stats.note(line, error)
