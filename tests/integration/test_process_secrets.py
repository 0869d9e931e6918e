"""Secrets and account numbers in the logs of a real worker and a real dispatcher (issue 11, 8).

A `riskmon worker` (faust at DEBUG) and a `riskmon dispatch` (every logger at DEBUG) run over the
real broker with secret settings: the webhook signing secret, a PostgreSQL store URL with a
password, an Alertmanager URL with a password. Alerts flow end to end into a real PostgreSQL store,
a signature-checking webhook receiver and an Alertmanager stand-in; then both logs are scanned: no
secret and no full account number. (The SASL password is scanned in the worker's log by
``tests/integration/test_kafka_security.py``.)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alerts.store import AlertStore
from monitor.events import encode_event
from monitor.simulator import SimConfig, simulate
from tests.alerts.receiver import webhook_receiver
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import REPO, Pipeline, WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.services, pytest.mark.slow]

WEBHOOK_SECRET = "whsec-proc-4c1d-do-not-log"
DB_PASSWORD = "db-pass-proc-77e0-do-not-log"
AM_PASSWORD = "am-pass-proc-1b9f-do-not-log"
SECRETS = (WEBHOOK_SECRET, DB_PASSWORD, AM_PASSWORD)

# `riskmon dispatch` sets no log level of its own: this runs it with the root logger at DEBUG.
DEBUG_DISPATCH = (
    "import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
    "from riskmon.cli import main; main(['dispatch'])"
)


def with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{password}@{host}"


def test_worker_and_dispatch_logs_show_no_secret_and_no_account_number(
    kafka_bootstrap: str, postgres_url: str, tmp_path: Path
) -> None:
    sim = simulate(SimConfig(seed=11, days=1, branches=2))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(encode_event(e) + "\n" for e in sim.events), encoding="utf-8")
    accounts = {
        value
        for line in events.read_text().splitlines()
        for key in ("account_id", "counterparty_account", "target_account_id")
        if len(value := str(json.loads(line).get(key) or "")) > 4
    }
    assert len(accounts) > 20
    store_url = with_password(postgres_url, DB_PASSWORD)  # trust auth: accepted, never needed
    pipe = Pipeline(kafka_bootstrap, tmp_path, partitions=2)
    pipe.create_topics(broker_tool)
    with (
        webhook_receiver(secret=WEBHOOK_SECRET.encode()) as hook,
        webhook_receiver() as manager,
    ):
        am_url = manager.url.replace("http://", f"http://riskmon:{AM_PASSWORD}@")
        secret_env = {
            "RISKMON_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "RISKMON_WEBHOOK_URL": hook.url,
            "RISKMON_ALERTMANAGER_URL": am_url.removesuffix("/hook"),
            "RISKMON_ALERT_STORE_URL": store_url,
        }
        worker = WorkerProcess(pipe, "secrets", **secret_env)
        with worker.log.open("wb") as out:
            worker.process = subprocess.Popen(  # as WorkerProcess.start, at DEBUG
                [sys.executable, "-m", "riskmon.cli", "worker", "--loglevel", "debug"],
                cwd=REPO,
                env=worker.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        dispatch_log = tmp_path / "dispatch.log"
        dispatch_env = pipe.env(
            **secret_env,
            RISKMON_DISPATCH_GROUP=f"{pipe.prefix}-dispatch",
            RISKMON_DISPATCH_DEAD_LETTER_DIR=str(tmp_path / "dispatch-dl"),
        )
        with dispatch_log.open("wb") as out:
            dispatcher = subprocess.Popen(
                [sys.executable, "-c", DEBUG_DISPATCH],
                cwd=REPO,
                env=dispatch_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            pipe.produce_file(events)
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline and not (hook.accepted and manager.requests):
                worker.check_alive()
                assert dispatcher.poll() is None, dispatch_log.read_text(errors="replace")[-3000:]
                time.sleep(1)
            time.sleep(3)  # a few more flushes, logged
        finally:
            dispatcher.terminate()
            dispatcher.wait(timeout=30)
            worker.stop()
        assert hook.accepted and manager.requests, worker.tail()
        assert hook.bad_signatures == 0
    with AlertStore.open(postgres_url) as store:
        assert store.count() > 0
    logs = {
        "worker": worker.log.read_text(errors="replace"),
        "dispatch": dispatch_log.read_text(errors="replace"),
    }
    assert "DEBUG" in logs["dispatch"] and "dispatching" in logs["dispatch"]
    assert "[DEBUG]" in logs["worker"]
    for where, text in logs.items():
        assert not [s for s in SECRETS if s in text], where
        leaked = sorted(a for a in accounts if a in text)
        assert not leaked, f"{where}: full account numbers {leaked[:3]}"
