"""``riskmon replay --follow``: tail a growing file and hot-reload the rule folder between lines."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from monitor.events import encode_event
from monitor.rule_examples import example_events
from monitor.rules.schema import Example
from streams.follow import follow_lines

REPO = Path(__file__).resolve().parents[2]
V1 = "- pack: bank-tuning\n  version: 1.0.0\n- override: large_cash_single\n  tags: [v1]\n"
V2 = V1.replace("1.0.0", "1.1.0").replace("[v1]", "[v2]")


def cash_line(name: str) -> str:
    """A 60,000 cash deposit: one large_cash_single alert."""
    (event,) = example_events(
        Example(
            events=[
                {
                    "event_id": f"ev-{name}",
                    "txn_id": f"TX-{name}",
                    "txn_type": "deposit",
                    "channel": "counter",
                    "amount": "60000",
                }
            ],
            expect=[],
        )
    )
    return encode_event(event) + "\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_follow_lines_waits_for_whole_lines_and_rereads_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("one\n\ntw", encoding="utf-8")
    stop = threading.Event()
    seen: list[tuple[int, str]] = []

    def run() -> None:
        for line in follow_lines(path, stop, poll_seconds=0.02):
            seen.append((line.number, line.text))

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: seen == [(1, "one")], "the first line", lambda: str(seen))
        with path.open("a", encoding="utf-8") as handle:
            handle.write("o\nthree\n")  # the partial "tw" line ends: "two"
        wait_for(lambda: len(seen) == 3, "appended lines", lambda: str(seen))
        assert seen == [(1, "one"), (3, "two"), (4, "three")]
        path.write_text("new\n", encoding="utf-8")  # truncated (rotated): read from the top
        wait_for(lambda: len(seen) == 4, "the rewritten file", lambda: str(seen))
        assert seen[-1] == (1, "new")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def wait_for(
    probe: Callable[[], Any], what: str, tail: Callable[[], str], limit: float = 60
) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{tail()}")


class Follower:
    """A `riskmon replay --follow` subprocess on a rule folder holding ``V1``."""

    def __init__(self, tmp_path: Path, **extra_env: str) -> None:
        self.rules = tmp_path / "rules"
        self.rules.mkdir()
        (self.rules / "tuning.yaml").write_text(V1, encoding="utf-8")
        self.events, self.out = tmp_path / "events.jsonl", tmp_path / "alerts.jsonl"
        self.log = tmp_path / "err.log"
        self.events.write_text(cash_line("a"), encoding="utf-8")
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("RISKMON_")}
        argv = [sys.executable, "-m", "riskmon.cli", "replay", "--follow", str(self.events)]
        argv += ["--rules", str(self.rules), "--alerts-out", str(self.out)]
        argv += ["--metrics-port", str(self.port)]
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env | extra_env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def alert_of(self, name: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            assert self.process.poll() is None, self.tail()
            text = self.out.read_text(encoding="utf-8") if self.out.exists() else ""
            for line in text.splitlines():
                alert = json.loads(line)
                if f"ev-{name}" in alert["event_ids"] and alert["rule_id"] == "large_cash_single":
                    return dict(alert)
            return None

        return dict(wait_for(found, f"the alert of ev-{name}", self.tail))

    def append(self, name: str) -> None:
        with self.events.open("a", encoding="utf-8") as handle:
            handle.write(cash_line(name))

    def logged(self, text: str, count: int = 1) -> None:
        wait_for(lambda: self.log.read_text(errors="replace").count(text) >= count, text, self.tail)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        stdout, _ = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, self.tail()
        return stdout

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.mark.slow
def test_replay_follow_takes_only_approved_packs_when_approval_is_on(tmp_path: Path) -> None:
    from alerts.store import AlertStore
    from monitor.rules.loader import load_rules

    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = AlertStore.open(url)
    store.users.add_user("ann", "officer", "password-ann")
    store.users.add_user("bo", "supervisor", "password-bo")
    ann, bo = store.users.identity("ann"), store.users.identity("bo")
    staging = tmp_path / "staging"
    staging.mkdir()

    def approve(text: str) -> str:
        (staging / "tuning.yaml").write_text(text, encoding="utf-8")
        pack_hash = load_rules([staging]).pack_hash
        store.pack_history.propose(
            ann, version="v", pack_hash=pack_hash, diff_summary="patch", ticket="CHG-1"
        )
        store.pack_history.approve(bo, pack_hash=pack_hash)
        return pack_hash

    first = approve(V1)
    follower = Follower(tmp_path, RISKMON_REQUIRE_PACK_APPROVAL="true", RISKMON_ALERT_STORE_URL=url)
    try:
        assert follower.alert_of("a")["pack_hash"] == first
        (follower.rules / "tuning.yaml").write_text(V2, encoding="utf-8")
        follower.logged("not approved by a second person")  # valid, but not approved
        follower.append("b")
        assert follower.alert_of("b")["pack_hash"] == first
        second = approve(V2)  # the approval arrives; the folder does not change again
        follower.logged("replaces")
        follower.append("c")
        assert follower.alert_of("c")["pack_hash"] == second
        assert "Replay summary" in follower.stop()
    finally:
        follower.kill()
        store.close()


@pytest.mark.slow
def test_replay_follow_swaps_a_valid_pack_and_refuses_an_invalid_one(tmp_path: Path) -> None:
    follower = Follower(tmp_path)
    port = follower.port
    try:
        first = follower.alert_of("a")
        assert first["pack_version"] == "bank-tuning@1.0.0" and "v1" in first["tags"]

        # A valid change: swapped in between two lines; later alerts carry the new pack.
        (follower.rules / "tuning.yaml").write_text(V2, encoding="utf-8")
        follower.logged("replaces")
        follower.append("b")
        second = follower.alert_of("b")
        assert second["pack_version"] == "bank-tuning@1.1.0" and "v2" in second["tags"]
        assert second["pack_hash"] != first["pack_hash"]
        assert metric(port, "riskmon_rule_reloads_total", outcome="applied") == 1

        # An invalid change: refused with a log line and the metric; the old pack keeps alerting.
        (follower.rules / "tuning.yaml").write_text(V2.replace("tags:", "tagz:"), encoding="utf-8")
        wait_for(
            lambda: metric(port, "riskmon_rule_reloads_total", outcome="refused") == 1,
            "the refusal",
            follower.tail,
        )
        follower.logged("rule pack refused")
        follower.append("c")
        third = follower.alert_of("c")
        assert (third["pack_version"], third["pack_hash"]) == (
            "bank-tuning@1.1.0",
            second["pack_hash"],
        )

        # SIGTERM ends it cleanly, with the summary.
        stdout = follower.stop()
        assert "Replay summary" in stdout and "alerts (total)" in stdout
        rows = {
            cells[0]: cells[1]
            for line in stdout.splitlines()
            if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
        }
        assert (rows["events"], rows["alerts (total)"]) == ("3", "3"), stdout
    finally:
        follower.kill()
