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
  committed them: a record that arrived just after the failure was skipped on restart;
- keep the records already in the agents' queues when faust resumes a flow that is not
  suspended (:func:`keep_live_queues_on_resume`).

``tests/streams/test_faust_private.py`` fails when a faust upgrade moves either of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust.streams as faust_streams

__all__ = [
    "aiokafka_producer",
    "committed_offset",
    "current_event",
    "keep_live_queues_on_resume",
    "refuse_commits",
]


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


def keep_live_queues_on_resume(app: Any) -> None:
    """``app.flow_control.resume()`` empties the agents' queues only when the flow was suspended.

    faust's ``FlowControlEvent.resume`` always empties every queue it manages (each agent's
    input buffer). After a rebalance that is right: the records in them are stale, and faust
    seeks every partition back to its committed offset. But at the end of table recovery faust
    resumes the stream partitions, then seeks them (one committed-offset request per partition:
    ~0.35 s with 14 topics here), then calls ``resume()`` again. Records fetched in between were
    already counted as read, so emptying the queue skipped them in this process: nothing
    processed them, their offsets were never acknowledged, the partition's commits stopped at the
    first of them, and the stages went on without them (CI: a kill loop's last worker lost an
    alert; read back from the broker, 84 records of two input partitions had never reached the
    decoder, and a fresh worker processed them). A resume of a flow that is already flowing now
    leaves the queues alone; a suspended flow is resumed (and emptied) as before.
    """
    flow = app.flow_control
    resume = flow.resume

    def resume_unless_flowing() -> None:
        if not flow.is_active():
            resume()

    flow.resume = resume_unless_flowing
