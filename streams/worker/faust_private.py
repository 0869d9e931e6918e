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
  suspended (:func:`keep_live_queues_on_resume`);
- let no record of a stream partition reach an agent until faust has sought the partition to its
  committed offset (:func:`resume_streams_after_seek`).

``tests/streams/test_faust_private.py`` fails when a faust upgrade moves either of them.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust.streams as faust_streams

log = logging.getLogger(__name__)

__all__ = [
    "aiokafka_producer",
    "committed_offset",
    "current_event",
    "fetch_only_active",
    "keep_live_queues_on_resume",
    "refuse_commits",
    "resume_streams_after_seek",
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


def resume_streams_after_seek(app: Any) -> None:
    """Stream partitions start flowing only when the rebalance has ended, after faust's seek.

    At the end of table recovery faust resumes the stream partitions, *then* seeks them to their
    committed offsets (``perform_seek``: one committed-offset request per partition, ~0.5 s), then
    ends the rebalance. Records flowed in between, and the seek moved the ground under them: a
    partition was sought back while its later records were already read (faust then dropped the
    re-read ones as already seen), and faust's own idea of the committed offset went back to a
    value read before its latest commit, so that every later commit of the partition was refused
    as "a gap at the head" (CI: the kill test's input partitions stayed committed at offset 67 of
    ~3,300 while the worker processed them all). So while a rebalance is on, a resume of stream
    partitions is held back and done when the rebalance ends; changelog partitions (table
    recovery) resume at once, as before.
    """
    held: set[Any] = set()
    resume_now: list[Any] = []
    rebalance_start, rebalance_end = app.on_rebalance_start, app.on_rebalance_end

    def install(consumer: Any) -> None:
        fetch_only_active(consumer)
        resume = consumer.resume_partitions
        resume_now.append(resume)

        def resume_partitions(tps: Any) -> None:
            wanted = set(tps)
            if app.rebalancing:
                streams = {tp for tp in wanted if not consumer._is_changelog_tp(tp)}
                held.update(streams)
                wanted -= streams
                if streams:
                    log.info("%d stream partitions wait for the end of the rebalance", len(streams))
            if wanted:
                resume(wanted)

        consumer.resume_partitions = resume_partitions

    def on_rebalance_start() -> None:
        if not resume_now:  # the consumer exists by the first rebalance
            install(app.consumer)
        held.clear()
        rebalance_start()

    def on_rebalance_end() -> None:
        rebalance_end()
        waiting = held & set(app.consumer.assignment())
        log.info("rebalance ended: %d stream partitions resume (%d held)", len(waiting), len(held))
        held.clear()
        if waiting and resume_now:
            resume_now[0](waiting)

    app.on_rebalance_start = on_rebalance_start
    app.on_rebalance_end = on_rebalance_end


def fetch_only_active(consumer: Any) -> None:
    """The consumer thread fetches records of the partitions active when it starts, none if none.

    faust checks that its set of active partitions is not empty, then has its consumer thread
    fetch them; the set is shared and changes meanwhile (a pause, the end of table recovery).
    Handed an empty set, aiokafka returns the records of *every* partition, and faust then drops
    those of partitions it does not consider active, after aiokafka has moved past them: records
    read and never delivered. The thread now fetches a copy taken when it starts, and nothing for
    an empty one.
    """
    thread = consumer._thread
    fetch = thread._fetch_records

    async def fetch_records(
        client: Any, active_partitions: Any, timeout: float | None = None, **kwargs: Any
    ) -> Any:
        active = set(active_partitions) if active_partitions is not None else None
        if active is not None and not active:
            await asyncio.sleep(min(timeout or 0.0, 0.1))
            return {}
        return await fetch(client, active, timeout=timeout, **kwargs)

    thread._fetch_records = fetch_records
