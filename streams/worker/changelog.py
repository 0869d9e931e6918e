"""A stage batch's state writes: into the Table's store, and to its changelog in record batches.

A faust Table sends one changelog record per write, each through faust's per-record producer path
(a future message, the producer buffer, a serialization, aiokafka's ``send``): ~50 % of a stage
agent's time in a py-spy profile of the worker, where a batch of 500 events changes ~350 keys.
:func:`write_batch` writes the same records (same topic and partition, key and value serialized
by the Table's own changelog topic, tombstones for deletes) as one aiokafka record batch per
changelog partition, and returns once the broker has acknowledged every one of them. So a batch
is acknowledged (and its offsets may be committed) only after its state is durable, and a restart
restores exactly what faust's own writes would have left in the changelog.

The values go into the Table's store directly (``table.data``), which is what ``Table.__setitem__``
does after sending its record; the store of a RocksDB table picks the partition database from the
current event, which ``bind(key)`` sets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from faust.types import TP

from streams.worker.faust_private import aiokafka_producer
from streams.worker.runner import DELETED

__all__ = ["DELETED", "encode", "write_batch"]


def encode(table: Any, key: str, value: Any) -> tuple[bytes | None, bytes | None]:
    """The changelog record's key and value, serialized as faust's ``Table.on_key_set`` (or, for
    :data:`DELETED`, ``on_key_del``) serializes them."""
    topic = table.changelog_topic
    raw_key, _ = topic.prepare_key(key, table.key_serializer)
    if value is DELETED:
        raw_value, _ = topic.prepare_value(None, "raw")
    else:
        raw_value, _ = topic.prepare_value(value, table.value_serializer)
    return raw_key, raw_value


async def write_batch(
    table: Any,
    writes: Mapping[str, Any],
    bind: Callable[[str], AbstractContextManager[Any]],
) -> int:
    """Write ``writes`` (``{key: value or DELETED}``) to ``table``; returns how many keys.

    Returns once every changelog record is acknowledged by the broker; a refused batch raises
    (the agent fails, the batch is not acknowledged, and the next owner runs it again).
    """
    if not writes:
        return 0
    producer = aiokafka_producer(table.app)
    topic = table.changelog_topic.get_topic_name()
    store = table.data
    builders: dict[int, Any] = {}
    sent: list[tuple[int, Any]] = []
    for key, value in writes.items():
        partition = table.partition_for_key(key)
        with bind(key):
            if value is DELETED:
                if key not in store:
                    continue
                del store[key]
            else:
                store[key] = value
        raw_key, raw_value = encode(table, key, value)
        builder = builders.get(partition)
        if builder is None:
            builder = builders[partition] = producer.create_batch()
        if builder.append(key=raw_key, value=raw_value, timestamp=None) is None:  # full
            sent.append((partition, await producer.send_batch(builder, topic, partition=partition)))
            builder = builders[partition] = producer.create_batch()
            if builder.append(key=raw_key, value=raw_value, timestamp=None) is None:
                # aiokafka always takes a new batch's first record: not reached, but a record
                # must never be left out silently.
                raise RuntimeError(f"changelog record for {key!r} refused by an empty batch")
    for partition, builder in builders.items():
        if builder.record_count():
            sent.append((partition, await producer.send_batch(builder, topic, partition=partition)))
    results = await asyncio.gather(*(future for _, future in sent))
    # As faust's changelog callback does: remember, per partition, an offset the store holds, so
    # that a RocksDB table recovers from there. The base offset of the last batch is a safe one
    # (recovery re-reads the rest of that batch and writes the same values again).
    latest: dict[int, int] = {}
    for (partition, _), metadata in zip(sent, results, strict=True):
        latest[partition] = max(latest.get(partition, -1), int(metadata.offset))
    for partition, offset in latest.items():
        store.set_persisted_offset(TP(topic, partition), offset)
    return len(writes)
