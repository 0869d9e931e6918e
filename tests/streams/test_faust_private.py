"""The private faust APIs the worker reaches, checked against the installed faust.

If a faust upgrade renames or removes one of them, these fail here first, naming the API, instead
of the worker failing at run time.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Any

import faust.streams
from faust.transport.consumer import Consumer
from faust.types import TP

from streams.worker.faust_private import committed_offset, current_event


class _Event:
    """Stands for a faust event: anything faust can hold a weak reference to."""


def test_current_event_is_what_faust_reports_inside_the_block_only() -> None:
    event = _Event()
    assert faust.streams.current_event() is None
    with current_event(event):
        assert faust.streams.current_event() is event
        inner = _Event()
        with current_event(inner):
            assert faust.streams.current_event() is inner
        assert faust.streams.current_event() is event
    assert faust.streams.current_event() is None


def test_the_consumer_keeps_committed_offsets_where_we_read_them() -> None:
    # Building a faust consumer needs a running app; read faust's own code instead: the
    # attribute is declared, made a mapping in __init__, and filled when faust resumes
    # (seek_to_committed) and when it commits.
    assert "_committed_offset" in Consumer.__annotations__
    assert "self._committed_offset = defaultdict(" in inspect.getsource(Consumer.__init__)
    assert "self._committed_offset.update(" in inspect.getsource(Consumer)

    class Resumed:
        def __init__(self) -> None:
            self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)

    tp = TP("bank.transactions", 0)
    consumer = Resumed()
    assert committed_offset(consumer, tp) is None
    consumer._committed_offset[tp] = 42
    assert committed_offset(consumer, tp) == 42


def test_the_aiokafka_producer_is_where_we_reach_it() -> None:
    # faust's aiokafka Producer keeps the started aiokafka producer in ``_producer``.
    from faust.transport.drivers.aiokafka import Producer

    from streams.worker.faust_private import aiokafka_producer

    assert "_producer" in Producer.__annotations__
    assert "self._producer = " in inspect.getsource(Producer)

    class App:
        class producer:  # stands for app.producer
            _producer = None

    try:
        aiokafka_producer(App())
    except RuntimeError as exc:
        assert "not started" in str(exc)
    else:
        raise AssertionError("a producer that has not started was returned")


def test_commits_go_through_the_methods_refuse_commits_replaces() -> None:
    # The at-least-once path ends in ``Consumer._commit``; the exactly-once path in the
    # transaction manager's ``commit`` (both called from ``_commit_offsets``, where every commit
    # of ``commit`` and ``force_commit`` goes).
    assert "self._commit_offsets(" in inspect.getsource(Consumer._commit_tps)
    source = inspect.getsource(Consumer._commit_offsets)
    assert "await self._commit(" in source
    assert "await self.transactions.commit(" in source


def test_a_resume_of_a_flowing_app_keeps_the_records_in_its_agents_queues() -> None:
    import asyncio

    import faust
    from mode.utils.queues import FlowControlEvent

    from streams.worker.faust_private import keep_live_queues_on_resume

    # What the patch works around: faust's resume empties every managed queue, each time.
    assert "self.clear()" in inspect.getsource(FlowControlEvent.resume)
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("t-flow", broker="kafka://127.0.0.1:1", loop=loop)
        keep_live_queues_on_resume(app)
        queue = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
        assert not app.flow_control.is_active()  # faust starts suspended
        queue.put_nowait("stale")
        app.flow_control.resume()  # suspended -> flowing: emptied, as faust does
        assert app.flow_control.is_active() and queue.qsize() == 0
        queue.put_nowait("fetched")
        app.flow_control.resume()  # already flowing (end of recovery): the record stays
        assert queue.get_nowait() == "fetched"
        queue.put_nowait("before a rebalance")
        app.flow_control.suspend()
        app.flow_control.resume()  # after a suspend: emptied again
        assert queue.qsize() == 0
    finally:
        loop.close()


def test_recovery_seeks_the_stream_partitions_before_it_resumes_them() -> None:
    import asyncio

    import faust
    from faust.tables.recovery import Recovery
    from kafka import TopicPartition

    from streams.worker.faust_private import guard_recovery_seek

    # What the patch works around: both of recovery's paths resume the stream partitions, then
    # seek them, and faust's seek sets its read and committed offsets to what the broker said.
    for path in (Recovery.on_recovery_completed, Recovery._resume_streams):
        source = inspect.getsource(path)
        assert source.index("consumer.resume_partitions(") < source.index("consumer.perform_seek()")
    seek = inspect.getsource(Consumer.perform_seek)
    assert "read_offset.update(" in seek and "self._committed_offset.update(" in seek
    # The guard tells stream from changelog partitions as faust's consumer does.
    assert list(inspect.signature(Consumer._is_changelog_tp).parameters) == ["self", "tp"]
    loop = asyncio.new_event_loop()
    try:
        app = faust.App("t-seek", broker="kafka://127.0.0.1:1", loop=loop)
        guard_recovery_seek(app)
        consumer = app.consumer
        fetched = consumer._thread._fetch_records
        app.on_rebalance_start()  # installs the guards
        assert consumer._thread._fetch_records is not fetched
        stream, moved, changelog = TP("in", 0), TP("in", 1), TP("t-changelog", 0)
        assigned = {stream, changelog}  # ``moved`` went to another worker during the seek
        consumer.assignment = lambda: assigned  # type: ignore[method-assign]
        consumer._is_changelog_tp = lambda tp: tp.topic.endswith("-changelog")  # type: ignore[method-assign]
        active = consumer._get_active_partitions()
        consumer._read_offset.update({stream: 150})  # read before a rebalance emptied the queue
        active_during_seek: list[set[TP]] = []

        async def seek_to_committed() -> dict[Any, Any]:
            active_during_seek.append(set(active))
            return {TopicPartition("in", 0): 63, TopicPartition("t-changelog", 0): None}

        consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign]
        consumer.resume_partitions({stream, moved, changelog})
        assert active == {changelog}  # the changelog at once, the stream partitions held back
        loop.run_until_complete(consumer.perform_seek())
        assert active_during_seek == [{changelog}]
        assert active == {changelog, stream}  # resumed after the seek; ``moved`` is not ours
        # faust's own seek: read again from the committed offset, whatever was read before it
        assert (consumer._read_offset[stream], consumer._committed_offset[stream]) == (63, 63)
    finally:
        thread = app.consumer._thread  # the consumer's thread made event loops of its own
        for own in {thread.thread_loop, thread.parent_loop, thread.loop} - {loop}:
            own.close()
        loop.close()


def test_the_consumer_thread_fetches_a_copy_of_the_active_partitions_and_nothing_for_none() -> None:
    import asyncio
    from types import SimpleNamespace

    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    from streams.worker.faust_private import fetch_only_active

    # faust hands its shared set of active partitions to the thread's fetch.
    assert "self._fetch_records,\n" in inspect.getsource(AIOKafkaConsumerThread.getmany)
    calls: list[Any] = []

    async def fetch(client: Any, active: Any, timeout: float | None = None, **kw: Any) -> Any:
        calls.append(active)
        return {tp: ["record"] for tp in active}

    consumer = SimpleNamespace(_thread=SimpleNamespace(_fetch_records=fetch))
    fetch_only_active(consumer)
    shared = {TP("in", 0)}
    got = asyncio.run(consumer._thread._fetch_records(None, shared, timeout=0.01))
    assert got == {TP("in", 0): ["record"]} and calls[0] == shared and calls[0] is not shared
    shared.clear()  # every partition paused or held: aiokafka would return them all
    assert asyncio.run(consumer._thread._fetch_records(None, shared, timeout=0.01)) == {}
    assert len(calls) == 1


def test_partitions_are_counted_from_the_aiokafka_consumer_in_faust_s_consumer_thread() -> None:
    from aiokafka import AIOKafkaConsumer
    from faust.transport.consumer import ThreadDelegateConsumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    # faust's thread keeps its started aiokafka consumer in ``_consumer``, and faust's consumer
    # keeps that thread in ``_thread``.
    assert "self._consumer = self._create_consumer(" in inspect.getsource(AIOKafkaConsumerThread)
    assert "self._thread = self._new_consumer_thread()" in inspect.getsource(ThreadDelegateConsumer)
    assert list(inspect.signature(AIOKafkaConsumer.partitions_for_topic).parameters) == [
        "self",
        "topic",
    ]
