"""Publishing a JSONL event file to the input topics with kafka-python, keyed correctly.

Transactions go to the transactions topic keyed by ``account_id``; operator actions go to the
operator-actions topic keyed by ``operator_id``. A line that is not an event object still goes out
(to the transactions topic, unkeyed) so that the worker dead-letters it with a reason: producing
never silently drops a line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from streams.replay import SourceLine


@dataclass
class ProduceStats:
    sent: int = 0
    transactions: int = 0
    operator_actions: int = 0
    unparseable: int = 0
    seconds: float = 0.0


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
) -> ProduceStats:
    """Send every line through ``send(topic, key, value)``, optionally paced to ``rate``/s."""
    stats = ProduceStats()
    started = clock()
    for line in lines:
        topic, key = route(line.text, topic_transactions, topic_actions)
        send(topic, key, line.text.encode("utf-8", errors="surrogateescape"))
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
