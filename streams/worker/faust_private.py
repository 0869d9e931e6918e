"""Every use of a private faust-streaming API, in one place.

faust offers no public way to do two things the worker needs:

- make an event *current* outside its per-event context, so that a table write issued once per
  batch lands in the RocksDB database of that event's partition (faust picks the partition from
  the context variable behind :func:`faust.streams.current_event`);
- read the committed offset a consumer resumed from, before this incarnation processed anything;
- reach the aiokafka producer under faust's, to send a stage batch's changelog records as one
  record batch per partition (:mod:`streams.worker.changelog`);
- stop a consumer from committing once an agent has failed (:func:`refuse_commits`): faust's
  ``noack_take`` turns acknowledgements back on when its agent's loop ends, and events that
  reach the stream after that are acknowledged without being processed. A graceful stop then
  committed them: a record that arrived just after the failure was skipped on restart.

``tests/streams/test_faust_private.py`` fails when a faust upgrade moves either of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust.streams as faust_streams

__all__ = ["aiokafka_producer", "committed_offset", "current_event", "refuse_commits"]


@contextmanager
def current_event(event: Any) -> Iterator[None]:
    """Within the block, :func:`faust.streams.current_event` returns ``event``."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset ``consumer`` last committed (or resumed from) for ``tp``; None if unknown."""
    offsets: dict[Any, int] = consumer._committed_offset
    return offsets.get(tp)


def aiokafka_producer(app: Any) -> Any:
    """The started :class:`aiokafka.AIOKafkaProducer` behind ``app``'s faust producer."""
    producer = app.producer._producer
    if producer is None:
        raise RuntimeError("the faust producer has not started")
    return producer


def refuse_commits(consumer: Any) -> None:
    """From now on ``consumer`` commits no offset: each commit reports it did not.

    Covers both of faust's paths: the consumer's own commit (at least once) and the transaction
    manager's (exactly once).
    """

    async def refuse(*args: Any, **kwargs: Any) -> bool:
        return False

    consumer._commit = refuse
    transactions = getattr(consumer, "transactions", None)
    if transactions is not None:
        transactions.commit = refuse
