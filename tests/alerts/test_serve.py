"""``riskmon alerts serve``: the real command in a subprocess, queried over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from alerts.store import AlertStore
from riskmon.alerts_cli import alerts_app
from tests.alerts.alertkit import make_alert
from tests.alerts.receiver import free_port

LAUNCH = "from riskmon.alerts_cli import alerts_app; alerts_app()"
TOKENS = {"rw": {"owner": "li.wei", "scope": "read-write"}, "ro": {"owner": "a", "scope": "read"}}


def test_serve_answers_with_token_scopes(tmp_path: Path, http_client: httpx.Client) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    alert = make_alert()
    with AlertStore.open(url) as store:
        store.upsert(alert)
    port = free_port()
    env = dict(os.environ, RISKMON_ALERT_STORE_URL=url, RISKMON_ALERT_API_TOKENS=json.dumps(TOKENS))
    command = [sys.executable, "-c", LAUNCH, "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                http_client.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the API did not start within 30 s"
                time.sleep(0.2)
        listed = http_client.get(f"{base}/alerts", headers={"Authorization": "Bearer ro"})
        forbidden = http_client.post(
            f"{base}/alerts/{alert.alert_id}/ack", headers={"Authorization": "Bearer ro"}
        )
        acked = http_client.post(
            f"{base}/alerts/{alert.alert_id}/ack", headers={"Authorization": "Bearer rw"}
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()

    assert [item["alert"]["alert_id"] for item in listed.json()] == [alert.alert_id]
    assert (forbidden.status_code, acked.status_code) == (403, 200)
    with AlertStore.open(url) as store:
        assert store.history(alert.alert_id)[-1].actor == "li.wei"


def test_serve_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    env = {
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "RISKMON_ALERT_API_TOKENS": "{}",
    }
    result = CliRunner().invoke(alerts_app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "RISKMON_ALERT_API_TOKENS" in result.output
