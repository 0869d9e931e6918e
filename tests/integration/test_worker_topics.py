"""The worker's topics on the real broker (streams/worker/topics.py): what it creates before its
agents start, which partition counts it takes from the input, and what it refuses."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from streams.worker.topics import (
    TopicPlan,
    TopicSetupError,
    ensure_topics,
    partition_counts,
    prepare_inputs,
)
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import REPO, Pipeline

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        yield client
    finally:
        client.close()


def names(*suffixes: str) -> list[str]:
    prefix = f"topics-{uuid.uuid4().hex[:8]}"
    return [f"{prefix}.{suffix}" for suffix in suffixes]


def test_missing_input_topics_are_created_with_the_configured_count(
    admin: KafkaAdminClient,
) -> None:
    topics = names("tx", "op")
    assert prepare_inputs(admin, topics, 3) == 3
    assert partition_counts(admin, topics) == {topics[0]: 3, topics[1]: 3}


def test_existing_input_topics_keep_their_count(
    admin: KafkaAdminClient, kafka_bootstrap: str
) -> None:
    """The broker made them with its default of one partition: the worker follows them."""
    topics = names("tx", "op")
    broker_tool.create_topics(kafka_bootstrap, {topics[0]: 1})
    assert prepare_inputs(admin, topics, 4) == 1  # the missing one is made like the other
    assert partition_counts(admin, topics) == {topics[0]: 1, topics[1]: 1}


def test_input_topics_of_different_counts_are_refused(
    admin: KafkaAdminClient, kafka_bootstrap: str
) -> None:
    topics = names("tx", "op")
    broker_tool.create_topics(kafka_bootstrap, {topics[0]: 1, topics[1]: 3})
    with pytest.raises(TopicSetupError, match="same number of partitions") as raised:
        prepare_inputs(admin, topics, 4)
    assert f"'{topics[0]}' has 1" in str(raised.value) and f"'{topics[1]}' has 3" in str(
        raised.value
    )


def test_internal_topics_are_created_compacted_and_a_wrong_count_is_refused(
    admin: KafkaAdminClient, kafka_bootstrap: str
) -> None:
    stage, changelog = names("stage", "changelog")
    plans = {stage: TopicPlan(4), changelog: TopicPlan(4, {"cleanup.policy": "compact"})}
    assert ensure_topics(admin, plans) == sorted(plans)
    assert partition_counts(admin, plans) == {stage: 4, changelog: 4}
    assert ensure_topics(admin, plans) == []  # all there: nothing to do
    with pytest.raises(TopicSetupError, match=r"has 4 partitions, the worker needs 2"):
        ensure_topics(admin, {stage: TopicPlan(2)})


def test_the_worker_refuses_input_topics_of_different_counts_in_one_line(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    pipe = Pipeline(kafka_bootstrap, REPO)  # no worker data is written: it stops before
    broker_tool.create_topics(
        kafka_bootstrap, {pipe.topics["transactions"]: 2, pipe.topics["actions"]: 1}
    )
    done = subprocess.run(
        [sys.executable, "-m", "riskmon.cli", "worker"],
        cwd=REPO,
        env=pipe.env(RISKMON_WORKER_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the input topics need the same number of partitions" in lines[0]
