"""The pacing of failed metadata updates (streams/worker/aiokafka_private.py) against aiokafka."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from aiokafka.client import AIOKafkaClient

from streams.worker.aiokafka_private import throttle_failed_metadata_updates


def test_the_wrapped_method_still_exists_with_its_signature() -> None:
    throttle_failed_metadata_updates()
    update = inspect.unwrap(AIOKafkaClient._metadata_update)
    assert list(inspect.signature(update).parameters) == ["self", "cluster_metadata", "topics"]
    assert "_retry_backoff" in inspect.getsource(AIOKafkaClient.__init__)


def test_installing_twice_wraps_once() -> None:
    throttle_failed_metadata_updates()
    once = AIOKafkaClient._metadata_update
    throttle_failed_metadata_updates()
    assert AIOKafkaClient._metadata_update is once
    assert inspect.unwrap(once) is not once


@pytest.mark.parametrize(("backoff_ms", "wait"), [(500, 0.5), (10, 0.2)])
def test_a_failed_update_waits_the_backoff_before_it_answers(
    monkeypatch: pytest.MonkeyPatch, backoff_ms: int, wait: float
) -> None:
    """No broker known: aiokafka fails the update at once; the caller hears it only after the
    client's retry backoff (never less than the 0.2 s floor), so a loop that asks again at once
    is paced instead of spinning."""
    throttle_failed_metadata_updates(floor=0.2)
    waits: list[float] = []

    async def record(delay: float, result: object = None) -> object:
        waits.append(delay)
        return result

    async def update_once() -> bool:
        client = AIOKafkaClient(bootstrap_servers="127.0.0.1:9", retry_backoff_ms=backoff_ms)
        monkeypatch.setattr(asyncio, "sleep", record)
        try:
            return bool(await client._metadata_update(client.cluster, []))
        finally:
            monkeypatch.undo()

    assert asyncio.run(update_once()) is False
    assert waits == [wait]
