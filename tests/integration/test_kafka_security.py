"""Kafka over SASL_SSL: a broker with a certificate made by the test tooling, SCRAM and PLAIN users.

The worker connects with SCRAM-SHA-512 and processes events that `riskmon produce` sent with
PLAIN; with a wrong password each fails fast with one clear line.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from monitor.engine import Engine
from monitor.events import encode_event
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example
from streams.kafka_client import KafkaClientConfig
from tests.fixtures_kafka import SecureBroker, broker_tool
from tests.integration.stream_harness import REPO, Pipeline, WorkerProcess, alert_ids

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def cash_events(path: Path, count: int = 6) -> set[str]:
    """``count`` large ATM withdrawals (one alert each) in ``path``; returns their alert ids."""
    raw = [
        {"kind": "transaction", "txn_id": f"S{i}", "txn_type": "withdrawal", "channel": "atm",
         "amount": str(60_000 + i), "occurred_at": f"2026-03-03T10:{i:02d}:00+08:00"}
        for i in range(count)
    ]  # fmt: skip
    events = list(example_events(Example(events=raw, expect=[])))
    path.write_text("".join(encode_event(e) + "\n" for e in events), encoding="utf-8")
    engine = Engine(load_rules())
    return {a.alert_id for e in events for a in engine.process(e)}


def riskmon(args: list[str], env: dict[str, str], timeout: float = 60) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "riskmon.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_worker_over_sasl_ssl(secure_broker: SecureBroker, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    expected = cash_events(events)
    assert len(expected) == 6
    pipe = Pipeline(secure_broker.plaintext, tmp_path)
    pipe.create_topics(broker_tool)
    secure = secure_broker.client_env()
    worker = WorkerProcess(pipe, "tls", **secure).start()
    try:
        produced = riskmon(
            ["produce", str(events)], pipe.env(**secure_broker.client_env("PLAIN")), timeout=90
        )
        assert produced.returncode == 0, produced.stderr
        assert "sent 6 messages" in produced.stdout
        messages = pipe.collect(
            pipe.topics["alerts"], lambda m: expected <= set(alert_ids(m)), 90, worker.check_alive
        )
    finally:
        worker.stop()
    assert set(alert_ids(messages)) == expected, worker.tail()
    log = worker.log.read_text(errors="replace")
    assert secure_broker.password not in log


@pytest.mark.parametrize("command", ["worker", "produce", "dispatch"])
def test_wrong_password_fails_fast_with_one_clear_line(
    secure_broker: SecureBroker, tmp_path: Path, command: str
) -> None:
    events = tmp_path / "events.jsonl"
    cash_events(events, 1)
    pipe = Pipeline(secure_broker.plaintext, tmp_path)
    env = pipe.env(
        **secure_broker.client_env(password="not-the-password"),
        RISKMON_PRODUCE_DELIVERY_TIMEOUT="10",
        RISKMON_ALERT_STORE_URL=f"sqlite:///{tmp_path / 'alerts.db'}",
        RISKMON_WORKER_DATA_DIR=str(tmp_path / "data"),
    )
    args = {"worker": ["worker"], "produce": ["produce", str(events)], "dispatch": ["dispatch"]}
    began = time.monotonic()
    done = riskmon(args[command], env, timeout=60)
    seconds = time.monotonic() - began
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert seconds < 30, f"{command} took {seconds:.0f} s to fail"
    assert "Traceback" not in output, output
    last = done.stderr.strip().splitlines()[-1]
    assert "Authentication" in last or "authentication" in last, output
    assert "not-the-password" not in output


def test_client_config_refuses_settings_that_do_not_fit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="user name and password"):
        KafkaClientConfig(security_protocol="SASL_SSL", sasl_mechanism="PLAIN").validate()
    with pytest.raises(ValueError, match="does not exist"):
        KafkaClientConfig(security_protocol="SSL", ssl_cafile=tmp_path / "none.pem").validate()
    with pytest.raises(ValueError, match="needs its key"):
        KafkaClientConfig(security_protocol="SSL", ssl_certfile=tmp_path / "c.pem").validate()
    secret = KafkaClientConfig(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u",
        sasl_password="hunter2",
    )  # fmt: skip
    assert "hunter2" not in repr(secret)
    assert secret.kafka_python()["sasl_plain_password"] == "hunter2"
