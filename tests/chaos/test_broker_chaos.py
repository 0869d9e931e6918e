"""Chaos that stops the broker: on the session's own `secure_broker`, never the shared one."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.produce import ProduceStats, produce
from tests.chaos.chaos_harness import (
    Figures,
    Pipeline,
    WorkerProcess,
    expected_alerts,
    file_lines,
    simulated_day,
    until,
    wait_for,
)
from tests.fixtures_kafka import SecureBroker, broker_tool
from tests.integration.stream_harness import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AWAY_S = 15.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_records(bootstrap: str, topic: str) -> int:
    """Records in ``topic`` (the sum of its partitions' end offsets; 0 if it does not exist)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        consumer.close()


def _collect_client_sockets() -> None:
    """kafka-python leaves the socket of each connect that failed while the broker was away to the
    garbage collector; collect them here, where they were made, instead of letting their
    ResourceWarning fail whichever later test the collector happens to run in."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_broker_restart(secure_broker: SecureBroker, tmp_path: Path) -> None:
    """Stop the broker mid-stream for 15 s and start it again: the worker carries on by itself,
    with bounded CPU and log volume while the broker is away; `riskmon produce`, caught in the
    outage, reports what it could not deliver and exits non-zero."""
    lines = file_lines(simulated_day(tmp_path, seed=24))
    expected, _ = expected_alerts(lines)
    pipe = Pipeline(secure_broker.plaintext, tmp_path)
    pipe.create_topics(broker_tool)
    worker = WorkerProcess(pipe, "r").start()
    assert worker.process is not None

    stats: list[ProduceStats] = []

    def stream_in() -> None:  # a producer that outlives the outage (its default 120 s timeout)
        producer = KafkaProducer(bootstrap_servers=pipe.bootstrap, acks="all", linger_ms=5)
        try:
            sent = produce(
                lines,
                lambda t, k, v: producer.send(t, key=k, value=v),
                pipe.topics["transactions"],
                pipe.topics["actions"],
                rate=300.0,
            )
            producer.flush()
            stats.append(sent)
        finally:
            producer.close()

    side = tmp_path / "side.jsonl"
    side.write_text("".join(line.text + "\n" for line in lines[:400]), encoding="utf-8")
    side_env = pipe.env(
        RISKMON_TOPIC_TRANSACTIONS=f"{pipe.prefix}.side-tx",
        RISKMON_TOPIC_OPERATOR_ACTIONS=f"{pipe.prefix}.side-op",
        RISKMON_PRODUCE_DELIVERY_TIMEOUT="3",
    )
    streaming = threading.Thread(target=stream_in)
    side_produce: subprocess.Popen[str] | None = None
    try:
        ready = until(lambda: "Ready" in worker.log.read_text(errors="replace"), 90)
        assert ready is not None, worker.tail()
        streaming.start()
        time.sleep(5)
        side_produce = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "produce", "--rate", "20", str(side)],
            cwd=REPO, env=side_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        side_topic = f"{pipe.prefix}.side-tx"
        started = until(lambda: count_records(pipe.bootstrap, side_topic) >= 20, 60)
        assert started is not None, "riskmon produce did not start sending"
        log_before, cpu_before = worker.log.stat().st_size, cpu_seconds(worker.process.pid)
        secure_broker.stop()  # graceful: SIGTERM
        time.sleep(AWAY_S)
        cpu_away = cpu_seconds(worker.process.pid) - cpu_before
        log_away = worker.log.stat().st_size - log_before
        worker.check_alive()
        secure_broker.start()
        restarted = time.monotonic()
        out, errors = side_produce.communicate(timeout=120)
        streaming.join(timeout=120)
        delivered = wait_for(pipe, expected, 150, [worker])
        recovery = time.monotonic() - restarted
    finally:
        if streaming.is_alive():
            streaming.join(timeout=120)
        if side_produce is not None and side_produce.poll() is None:
            side_produce.kill()
            side_produce.communicate()
        worker.stop()
        _collect_client_sockets()
    assert stats and stats[0].undelivered == 0, stats
    # riskmon produce: a non-zero exit and counts that add up to its 400 lines.
    assert side_produce.returncode == 1, out + errors
    assert "Traceback" not in errors, errors
    sent = int(re.search(r"sent ([\d,]+) messages", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    lost = int(re.search(r"([\d,]+) line\(s\) not delivered", errors).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert sent + lost == 400 and lost > 0, out + errors
    assert count_records(pipe.bootstrap, f"{pipe.prefix}.side-tx") >= sent
    # While the broker was away: bounded CPU and log volume.
    assert cpu_away < 0.5 * AWAY_S, f"worker used {cpu_away:.1f} s CPU in {AWAY_S:.0f} s"
    assert log_away < 200_000, f"worker logged {log_away} bytes in {AWAY_S:.0f} s"
    note = (
        f"{AWAY_S:.0f} s away: worker cpu {cpu_away:.1f} s, log +{log_away // 1024} KiB; "
        f"produce: {sent} sent, {lost} reported undelivered, exit 1"
    )
    Figures("broker_restart", len(lines), expected, delivered, recovery, note).report()
