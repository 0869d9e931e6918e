"""``riskmon alerts serve``: the real command in a subprocess, queried over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from alerts.store import AlertStore
from riskmon.alerts_cli import alerts_app
from tests.alerts.alertkit import make_alert, who
from tests.alerts.receiver import free_port

LAUNCH = "from riskmon.alerts_cli import alerts_app; alerts_app()"
TOKENS = {"rw": {"owner": "li.wei", "scope": "read-write"}, "ro": {"owner": "a", "scope": "read"}}


@pytest.mark.slow
def test_serve_answers_with_token_scopes(tmp_path: Path, http_client: httpx.Client) -> None:
    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    alert = make_alert()
    with AlertStore.open(url) as store:
        store.upsert(alert)
        who(store, "li.wei")
        who(store, "a", "auditor")  # the older token setting counts only for known users
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


def test_serve_refuses_to_start_without_users(tmp_path: Path) -> None:
    env = {
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{tmp_path / 'a.db'}",
        "RISKMON_ALERT_API_TOKENS": json.dumps(TOKENS),  # owners who are not users: nobody
    }
    result = CliRunner().invoke(alerts_app, ["serve"], env=env)
    assert result.exit_code == 2
    assert "riskmon users add" in result.output


def _serve(url: str, http_client: httpx.Client) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, RISKMON_ALERT_STORE_URL=url)
    command = [sys.executable, "-c", LAUNCH, "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            http_client.get(f"{base}/alerts", timeout=1)
            return process, base
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0].decode()
                raise AssertionError(f"the API did not start within 30 s: {output}") from None
            time.sleep(0.2)


@pytest.mark.slow
def test_with_api_url_the_cli_talks_to_the_server_as_the_token_user(
    tmp_path: Path, http_client: httpx.Client
) -> None:
    url = f"sqlite:///{tmp_path / 'server.db'}"
    alert = make_alert(severity="high")
    with AlertStore.open(url) as store:
        store.upsert(alert)
        who(store, "li.wei")
        who(store, "zhang.min", "supervisor")
        officer = store.users.issue_token("li.wei")
        supervisor = store.users.issue_token("zhang.min")
    process, base = _serve(url, http_client)
    nowhere = {"RISKMON_ALERT_STORE_URL": f"sqlite:///{tmp_path / 'not-here.db'}", "COLUMNS": "250"}
    li = dict(nowhere, RISKMON_API_URL=base, RISKMON_TOKEN=officer)
    boss = dict(nowhere, RISKMON_API_URL=base, RISKMON_TOKEN=supervisor)
    runner = CliRunner()
    try:
        acked = runner.invoke(alerts_app, ["ack", alert.alert_id, "-m", "mine"], env=li)
        pending = runner.invoke(alerts_app, ["false-positive", alert.alert_id], env=li)
        own = runner.invoke(alerts_app, ["approve-close", alert.alert_id], env=li)
        approved = runner.invoke(alerts_app, ["approve-close", alert.alert_id], env=boss)
        silence = runner.invoke(
            alerts_app,
            ["silence", "add", "--reason", "drill", "--ticket", "T-1", "--branch", "BR001"],
            env=li,
        )
        bad_token = runner.invoke(
            alerts_app, ["ack", alert.alert_id], env=dict(li, RISKMON_TOKEN="x")
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()

    assert "acknowledged (by li.wei)" in acked.output
    assert "pending_approval (by li.wei)" in pending.output
    assert (own.exit_code, "403" in own.output) == (1, True)
    assert "false_positive (by zhang.min)" in approved.output
    assert "pending approval" in silence.output
    assert bad_token.exit_code == 1 and "401" in bad_token.output
    assert not (tmp_path / "not-here.db").exists()  # the CLI never opened a store of its own
    with AlertStore.open(url) as store:
        assert [e.actor for e in store.history(alert.alert_id)] == [
            "riskmon", "li.wei", "li.wei", "zhang.min",
        ]  # fmt: skip
        assert [s.author for s in store.list_silences()] == ["li.wei"]
