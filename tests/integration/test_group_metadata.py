"""What every member of a consumer group knows about its topics, on the real broker.

faust's ``Consumer.topic_partitions`` answers only on the group's leader; the worker's ticks need
the partition count of its input topics on whichever member owns them
(:func:`streams.worker.faust_private.partition_count`).
"""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.worker.faust_private import partition_count

pytestmark = [pytest.mark.kafka]


def test_every_member_of_a_group_counts_the_partitions_of_its_topics(kafka_bootstrap: str) -> None:
    """Two members share a 3-partition topic; one of them is not the group's leader."""
    topic = f"members-{uuid.uuid4().hex[:8]}"

    async def run() -> list[int | None]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        finally:
            await admin.close()
        members = [
            AIOKafkaConsumer(
                topic, bootstrap_servers=kafka_bootstrap, group_id=topic, session_timeout_ms=6000
            )
            for _ in range(2)
        ]
        for member in members:
            await member.start()
        try:
            for _ in range(300):  # both assigned: the group has settled with two members
                await asyncio.gather(*(m.getmany(timeout_ms=50) for m in members))
                if all(m.assignment() for m in members):
                    break
            assert all(m.assignment() for m in members), "the group never gave both a partition"
            return [
                partition_count(SimpleNamespace(_thread=SimpleNamespace(_consumer=m)), topic)
                for m in members
            ]
        finally:
            for member in members:
                await member.stop()

    assert asyncio.run(run()) == [3, 3]


def test_a_consumer_not_started_yet_knows_no_partitions() -> None:
    assert partition_count(SimpleNamespace(_thread=SimpleNamespace(_consumer=None)), "in") is None
