"""Running real `riskmon worker` processes against the real broker, for the streaming tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from streams.produce import produce
from streams.replay import read_lines

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Pipeline:
    """One isolated set of topics and one consumer group on the broker."""

    bootstrap: str
    workdir: Path
    partitions: int = 4
    prefix: str = field(default_factory=lambda: f"it-{uuid.uuid4().hex[:8]}")

    @property
    def topics(self) -> dict[str, str]:
        return {
            "transactions": f"{self.prefix}.tx",
            "actions": f"{self.prefix}.op",
            "alerts": f"{self.prefix}.alerts",
            "deadletter": f"{self.prefix}.dl",
        }

    def input_committed(self) -> bool:
        """Whether the worker group has committed every input partition up to its end.

        A worker commits a partition only up to its first record not processed, so this also
        says no record was read and then skipped inside a worker (faust once emptied an agent's
        queue at the end of recovery: the commits stopped there while the worker went on).
        """
        # Asks for the group's offsets only: a consumer that never subscribes never joins it.
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.prefix, enable_auto_commit=False
        )
        try:
            wanted = [
                TopicPartition(topic, p)
                for topic in (self.topics["transactions"], self.topics["actions"])
                for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            ends = consumer.end_offsets(wanted)
            return all((consumer.committed(tp) or 0) >= ends[tp] for tp in wanted)
        finally:
            consumer.close()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            RISKMON_KAFKA_BOOTSTRAP=self.bootstrap,
            RISKMON_TOPIC_TRANSACTIONS=self.topics["transactions"],
            RISKMON_TOPIC_OPERATOR_ACTIONS=self.topics["actions"],
            RISKMON_TOPIC_ALERTS=self.topics["alerts"],
            RISKMON_TOPIC_DEADLETTER=self.topics["deadletter"],
            RISKMON_TOPIC_PARTITIONS=str(self.partitions),
            RISKMON_WORKER_APP_ID=self.prefix,
            RISKMON_WORKER_TICK_INTERVAL="0.5",
            RISKMON_WORKER_IDLE_AFTER="2",
            RISKMON_WORKER_SESSION_TIMEOUT="6",
        )
        env.update(extra)
        return env

    def create_topics(self, broker_tool: Any) -> None:
        broker_tool.create_topics(
            self.bootstrap,
            {
                self.topics["transactions"]: self.partitions,
                self.topics["actions"]: self.partitions,
                self.topics["alerts"]: 1,
                self.topics["deadletter"]: 1,
            },
        )

    def produce_file(self, path: Path) -> int:
        return self.produce_lines(read_lines([str(path)]))

    def produce_lines(
        self, lines: Iterable[Any], rate: float | None = None, *, auto_create: bool = True
    ) -> int:
        """Send ``lines`` to the input topics. ``auto_create=False``: missing input topics are
        waited for (up to a minute) instead of made by the broker with its default of one
        partition (kafka-python's producer ignores its own ``allow_auto_create_topics``)."""
        if not auto_create:
            inputs = {self.topics["transactions"], self.topics["actions"]}
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
            try:
                if until(lambda: inputs <= set(admin.list_topics()), 60) is None:
                    raise AssertionError(f"no one created the input topics {sorted(inputs)}")
            finally:
                admin.close()
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        try:
            stats = produce(
                lines,
                lambda topic, key, value: producer.send(topic, key=key, value=value),
                self.topics["transactions"],
                self.topics["actions"],
                rate=rate,
            )
            producer.flush()
        finally:
            producer.close()
        return stats.sent

    def produce_raw(self, topic: str, values: Iterable[bytes]) -> None:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            for value in values:
                producer.send(topic, value=value)
            producer.flush()
        finally:
            producer.close()

    def collect(
        self,
        topic: str,
        done: Callable[[list[Any]], bool],
        timeout: float,
        alive: Callable[[], None] | None = None,
    ) -> list[Any]:
        """Read ``topic`` from the start until ``done(messages)`` or ``timeout`` seconds."""
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        messages: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and not done(messages):
                for records in consumer.poll(timeout_ms=500).values():
                    messages.extend(records)
                if alive is not None:
                    alive()
        finally:
            consumer.close()
        return messages


class WorkerProcess:
    """A `riskmon worker` subprocess with its own log file."""

    def __init__(self, pipeline: Pipeline, name: str, **env: str) -> None:
        self.pipeline = pipeline
        self.name = name
        self.env = pipeline.env(
            RISKMON_WORKER_DATA_DIR=str(pipeline.workdir / f"data-{name}"), **env
        )
        self.log = pipeline.workdir / f"worker-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> WorkerProcess:
        handle = self.log.open("ab")
        self.starts += 1
        self.process = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "worker", "--loglevel", "info"],
            cwd=REPO,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        return self

    def kill9(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"worker {self.name} exited:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def alert_ids(messages: Iterable[Any]) -> list[str]:
    return [json.loads(m.value)["alert_id"] for m in messages]


def until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> float | None:
    """Seconds until ``condition()`` holds, or ``None`` after ``timeout``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return time.monotonic() - began
        time.sleep(step)
    return None
