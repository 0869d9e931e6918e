"""Stages run inside the decoder (no hop) on the real broker: used, and crash-safe mid-batch.

``riskmon produce`` keys transactions by account and operator actions by operator, so the account
and operator stages get every event on the input partition they read it from: the decoder runs
them there and their stage topics carry only ticks. A worker is crashed (``os._exit``, no
cleanup) inside that path, at the two points that matter: after a batch's alerts are
acknowledged but before its state is written, and after its state is written but before the
input batch is acknowledged. The next worker runs the batch again: every alert replay raises is
there and none other.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer

from streams.worker.app import BUNDLE_HEADER, TICK_HEADER
from tests.integration.stream_harness import REPO, Pipeline, WorkerProcess, alert_ids
from tests.integration.test_worker_stream import (
    pipeline,
    replay_alerts,
    simulated_day,
    wait_for_alerts,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CRASH_EXIT = 86

# Runs `riskmon worker` with the decoder's in-line stage path wrapped: on its CRASH_AT-th batch
# the process ends at once (no flush, no commit) at the point CRASH_POINT names.
LAUNCHER = """
import os, sys, runpy
import streams.worker.app as app
point, at, code = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
calls = {"n": 0, "inside": False}
run_inline, write_batch = app._run_inline, app.write_batch

async def crashing_write(*args, **kwargs):
    if calls["inside"] and calls["n"] == at and point == "before-state":
        print("crash: alerts sent, state not written", flush=True)
        os._exit(code)
    return await write_batch(*args, **kwargs)

async def crashing_inline(*args, **kwargs):
    calls["n"] += 1
    calls["inside"] = True
    try:
        await run_inline(*args, **kwargs)
    finally:
        calls["inside"] = False
    if calls["n"] == at and point == "after-state":
        print("crash: state written, input batch not acknowledged", flush=True)
        os._exit(code)

app._run_inline, app.write_batch = crashing_inline, crashing_write
sys.argv = ["riskmon", "worker", "--loglevel", "info"]
runpy.run_module("riskmon.cli", run_name="__main__")
"""


class CrashingWorker(WorkerProcess):
    """A worker that crashes inside the decoder's in-line stage path on one batch."""

    def __init__(self, pipe: Pipeline, name: str, point: str, at: int) -> None:
        super().__init__(pipe, name)
        self.point, self.at = point, at

    def start(self) -> CrashingWorker:
        handle = self.log.open("ab")
        self.starts += 1
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, self.point, str(self.at), str(CRASH_EXIT)],
            cwd=REPO,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        handle.close()
        return self


def stage_records(pipe: Pipeline, stage: str) -> list[list[str]]:
    """The header names of every record in the stage topic ``stage``."""
    consumer = KafkaConsumer(
        f"{pipe.prefix}-stage-{stage}",
        bootstrap_servers=pipe.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        group_id=None,
    )
    try:
        return [[name for name, _ in message.headers] for message in consumer]
    finally:
        consumer.close()


@pytest.mark.parametrize("point", ["before-state", "after-state"])
def test_a_crash_inside_the_in_decoder_stage_loses_and_invents_nothing(
    kafka_bootstrap: str, tmp_path: Path, point: str
) -> None:
    events = simulated_day(tmp_path, branches=4, seed=17)
    replayed = replay_alerts(events)
    expected = {a.alert_id for a in replayed}
    assert {"account", "operator"} & {a.entity_type for a in replayed}
    pipe = pipeline(kafka_bootstrap, tmp_path)
    crashing = CrashingWorker(pipe, "crash", point, at=3).start()
    try:
        pipe.produce_file(events)
        assert crashing.process is not None
        crashing.process.wait(timeout=180)
        log = crashing.log.read_text(errors="replace")
        assert crashing.process.returncode == CRASH_EXIT, crashing.tail()
        assert "crash:" in log
        # The same data directory (a memory store: the state comes back from the changelog).
        worker = WorkerProcess(pipe, "crash").start()
        try:
            wait_for_alerts(pipe, expected, 180, worker)
            time.sleep(3)  # a late extra alert would show up here
            messages = pipe.collect(pipe.topics["alerts"], lambda m: False, 3)
        finally:
            worker.stop()
    finally:
        crashing.stop()
    got = set(alert_ids(messages))
    assert got == expected, (
        f"missing {len(expected - got)}, extra {len(got - expected)}\n{worker.tail()}"
    )
    # The path under test ran: the account and operator stages got no event through their
    # topics (only ticks), while the transaction stage (keyed by txn_id) still hops.
    for stage in ("account", "operator"):
        records = stage_records(pipe, stage)
        assert records and all(TICK_HEADER in names for names in records)
        assert not any(BUNDLE_HEADER in names for names in records)
    assert any(BUNDLE_HEADER in names for names in stage_records(pipe, "transaction"))
