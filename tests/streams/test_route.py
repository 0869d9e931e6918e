"""The decoder's routing of one input record, without a broker: what a redelivery reports.

A record read again after a crash (its id is in the event-id memory) is not forwarded again, but
its time is its input partition's progress, as it was the first time; an event the time gate
dead-lettered is no progress, the first time or any other. The whole path on the real broker is
``tests/chaos/test_worker_chaos.py::test_kill_after_the_input_is_forwarded_before_its_offsets_are_committed``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.events import encode_event
from monitor.watermark import TimeBounds
from streams.worker.app import _route
from streams.worker.dedup import DecoderDedup
from streams.worker.runner import EventTimeGate
from tests.streams.test_decoder_dedup import TOPIC, event


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


@dataclass
class Record:
    """What faust hands the decoder: the raw value and where it came from."""

    message: Message
    value: bytes


class DeadLetters:
    """Records what the decoder dead-letters (the topic's ``send``)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **record: Any) -> asyncio.Future[None]:
        self.sent.append(record)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Config:
    partitions: int = 4


def record(offset: int, event_id: str, occurred_at: str) -> Record:
    """An input record at ``offset``: the decoder tests' transaction, dated ``occurred_at``."""
    dated = event(event_id).model_copy(update={"occurred_at": datetime.fromisoformat(occurred_at)})
    return Record(Message(TOPIC, 0, offset), encode_event(dated).encode())


@contextmanager
def bind(partition: int) -> Iterator[None]:
    yield


class Decoder:
    """One incarnation of the decoder's memory: a gate and an event-id memory on ``table``."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.gate = EventTimeGate(TimeBounds(lateness=300.0, max_ahead=86400.0))
        self.dedup = DecoderDedup(table, window_seconds=7 * 86400.0, max_entries=1000)
        self.dedup.prepare({0})
        self.gate.restore(self.dedup.progress)
        self.letters = DeadLetters()
        self.bundles: dict[tuple[str, int], list[list[Any]]] = {}

    def route(self, item: Record) -> float | None:
        return asyncio.run(
            _route(item, [], self.bundles, self.letters, Config(), self.gate, dedup=self.dedup)  # type: ignore[arg-type]
        )


ON_TIME = "2026-03-03T10:05:00+08:00"
IN_2099 = "2099-01-01T00:00:00+00:00"


def test_a_redelivery_is_not_forwarded_but_its_time_is_progress() -> None:
    table: dict[str, Any] = {}
    first = Decoder(table)
    moment = first.route(record(10, "a", ON_TIME))
    assert moment is not None
    first.dedup.commit(bind)  # forwarded: the id is remembered
    # A crash before the offsets were committed: the successor reads offset 10 again.
    again = Decoder(table)
    assert again.route(record(10, "a", ON_TIME)) == moment
    assert again.bundles == {} and again.letters.sent == []  # dropped, not forwarded again
    assert again.gate.progress == {(TOPIC, 0): moment}  # judged as it was the first time


def test_an_event_the_gate_refused_is_no_progress_when_read_again() -> None:
    table: dict[str, Any] = {}
    first = Decoder(table)
    assert first.route(record(11, "far", IN_2099)) is None
    assert [dict(r["headers"])["reason"] for r in first.letters.sent] == [b"time_out_of_range"]
    first.dedup.commit(bind)
    again = Decoder(table)
    assert again.dedup.progress == {}  # the 2099 time is not restored as progress
    assert again.route(record(11, "far", IN_2099)) is None  # nor reported when read again
    assert again.letters.sent == []  # a redelivery: dead-lettered once, the first time
