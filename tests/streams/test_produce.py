"""`streams.produce` accounting with kafka-python's own futures: every line is counted once."""

from __future__ import annotations

from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future

from streams.produce import produce
from streams.replay import SourceLine


def lines(count: int) -> list[SourceLine]:
    return [
        SourceLine("in.jsonl", n, f'{{"kind": "transaction", "account_id": "A{n}"}}')
        for n in range(1, count + 1)
    ]


def test_refused_failed_and_unconfirmed_lines_are_counted_with_their_line_numbers() -> None:
    futures: list[Future] = []

    def send(topic: str, key: bytes | None, value: bytes) -> Future:
        if len(futures) == 2:
            futures.append(Future())  # keeps the count of calls
            raise MessageSizeTooLargeError("too large")
        future = Future()
        futures.append(future)
        return future

    stats = produce(lines(6), send, "tx", "op", refuse=(MessageSizeTooLargeError,))
    futures[0].success("metadata")
    futures[1].failure(KafkaTimeoutError("expired"))
    futures[3].success("metadata")  # futures[4] and [5] never complete
    stats.settle()
    assert (stats.sent, stats.acked, stats.refused, stats.failed) == (5, 2, 1, 1)
    assert (stats.unconfirmed, stats.delivered, stats.undelivered) == (2, 2, 4)
    assert [(p.line, p.error.split(":")[0]) for p in stats.problems] == [
        (3, "MessageSizeTooLargeError"),
        (2, "KafkaTimeoutError"),
    ]


def test_a_blocked_producer_counts_the_rest_of_the_input_as_unsent() -> None:
    calls = []

    def send(topic: str, key: bytes | None, value: bytes) -> Future:
        calls.append(topic)
        if len(calls) == 3:
            raise KafkaTimeoutError("Failed to update metadata after 3.0 secs.")
        future = Future()
        future.success("metadata")
        return future

    stats = produce(lines(10), send, "tx", "op", abort=(KafkaTimeoutError,))
    stats.settle()
    assert (stats.sent, stats.acked, stats.unsent, stats.undelivered) == (2, 2, 8, 8)
    assert len(calls) == 3 and stats.problems[0].line == 3
