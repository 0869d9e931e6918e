"""Every use of a private faust-streaming API, in one place.

faust offers no public way to do these things the worker needs:

- make an event *current* outside its per-event context, so that a table write issued once per
  batch lands in the RocksDB database of that event's partition (faust picks the partition from
  the context variable behind :func:`faust.streams.current_event`);
- read the committed offset a consumer resumed from, before this incarnation processed anything;
- count a topic's partitions on any member of the group (:func:`partition_count`): faust's
  ``Consumer.topic_partitions`` answers only on the group's leader;
- reach the aiokafka producer under faust's, to send a stage batch's changelog records as one
  record batch per partition (:mod:`streams.worker.changelog`);
- stop a consumer from committing once an agent has failed (:func:`refuse_commits`): faust's
  ``noack_take`` turns acknowledgements back on when its agent's loop ends, and events that
  reach the stream after that are acknowledged without being processed. A graceful stop then
  committed them: a record that arrived just after the failure was skipped on restart;
- keep the records already in the agents' queues when faust resumes a flow that is not
  suspended (:func:`keep_live_queues_on_resume`);
- make faust's recovery seek the stream partitions before it resumes them
  (:func:`seek_before_resume`), and never let its consumer thread fetch with an empty set of
  active partitions (:func:`fetch_only_active`); both installed by :func:`guard_recovery_seek`.

``tests/streams/test_faust_private.py`` fails when a faust upgrade moves one of them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import faust.streams as faust_streams

__all__ = [
    "aiokafka_producer",
    "committed_offset",
    "current_event",
    "fetch_only_active",
    "guard_recovery_seek",
    "keep_live_queues_on_resume",
    "partition_count",
    "refuse_commits",
    "seek_before_resume",
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


def partition_count(consumer: Any, topic: str) -> int | None:
    """How many partitions ``topic`` has, from ``consumer``'s cluster metadata; None if unknown.

    faust's ``Consumer.topic_partitions`` reads aiokafka's group-coordinator snapshot, which
    only the group's leader keeps: on a member that has never led its group it is empty, so
    every topic had "no partitions" there. A worker in that place owned input partitions but
    sent no tick for them, and no stage's watermark passed them until the group rebalanced
    (the fresh-start chaos scenario, in a loop: the day's last review deadlines never fired,
    4 alerts lost). aiokafka's consumer keeps the metadata of every topic it subscribes to.
    """
    thread = getattr(consumer, "_thread", None)
    client = getattr(thread, "_consumer", None)
    if client is None:
        return None
    partitions = client.partitions_for_topic(topic)
    return len(partitions) if partitions else None


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


def guard_recovery_seek(app: Any) -> None:
    """From ``app``'s first rebalance on, its consumer resumes stream partitions only after
    seeking them (:func:`seek_before_resume`) and fetches only active partitions
    (:func:`fetch_only_active`).

    Installed on the first rebalance: the consumer exists by then, and creating it earlier would
    bind it to an event loop before the worker runs one.
    """
    installed: list[Any] = []
    rebalance_start = app.on_rebalance_start

    def on_rebalance_start() -> None:
        if not installed:
            consumer = app.consumer
            seek_before_resume(consumer)
            fetch_only_active(consumer)
            installed.append(consumer)
        rebalance_start()

    app.on_rebalance_start = on_rebalance_start


def seek_before_resume(consumer: Any) -> None:
    """faust's recovery seeks the stream partitions *before* it resumes them, not after.

    At the end of table recovery (and in ``_resume_streams``) faust resumes the stream
    partitions, then seeks them to their committed offsets: one request per partition, about
    0.5 s with our 14 topics, while records already flow and commits are made. Whatever the
    seek then sets is wrong for some partition: faust's own seek set its committed offset back
    to a value read before the worker's latest commit, after which every commit of the
    partition was refused as "a gap at the head" (CI: input committed at offset 67 of ~3,300);
    a seek that kept the offsets already read instead dropped, as already seen, the records
    re-read after it whose first copies had been emptied from the queue at the rebalance
    (fresh-start chaos loop: 413 input records never reached the decoder, 2 alerts lost).

    So ``resume_partitions`` holds back the stream partitions it is given (changelog partitions
    resume at once), and ``perform_seek`` runs faust's own seek, then resumes the partitions
    held back that are still assigned. Nothing of a stream partition is read between its
    assignment and its seek.
    """
    resume = consumer.resume_partitions
    seek = consumer.perform_seek
    held: set[Any] = set()

    def resume_partitions(tps: Any) -> None:
        tpset = set(tps)
        streams = {tp for tp in tpset if not consumer._is_changelog_tp(tp)}
        held.update(streams)
        if tpset - streams:
            resume(tpset - streams)

    async def perform_seek() -> None:
        try:
            await seek()
        finally:
            assigned = consumer.assignment()
            ready = {tp for tp in held if tp in assigned}
            held.clear()
            if ready:
                resume(ready)

    consumer.resume_partitions = resume_partitions
    consumer.perform_seek = perform_seek


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
