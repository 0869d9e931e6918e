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


def test_replay_follow_swaps_a_valid_pack_and_refuses_an_invalid_one(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "tuning.yaml").write_text(V1, encoding="utf-8")
    events, out, log = tmp_path / "events.jsonl", tmp_path / "alerts.jsonl", tmp_path / "err.log"
    events.write_text(cash_line("a"), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKMON_")}
    argv = [sys.executable, "-m", "riskmon.cli", "replay", "--follow", str(events)]
    argv += ["--rules", str(rules), "--alerts-out", str(out), "--metrics-port", str(port)]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True
        )

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:]

    def alert_of(name: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            assert process.poll() is None, tail()
            text = out.read_text(encoding="utf-8") if out.exists() else ""
            for line in text.splitlines():
                alert = json.loads(line)
                if f"ev-{name}" in alert["event_ids"] and alert["rule_id"] == "large_cash_single":
                    return dict(alert)
            return None

        return dict(wait_for(found, f"the alert of ev-{name}", tail))

    def append(name: str) -> None:
        with events.open("a", encoding="utf-8") as handle:
            handle.write(cash_line(name))

    try:
        first = alert_of("a")
        assert first["pack_version"] == "bank-tuning@1.0.0" and "v1" in first["tags"]

        # A valid change: swapped in between two lines; later alerts carry the new pack.
        (rules / "tuning.yaml").write_text(V2, encoding="utf-8")
        wait_for(lambda: "replaces" in log.read_text(errors="replace"), "the swap", tail)
        append("b")
        second = alert_of("b")
        assert second["pack_version"] == "bank-tuning@1.1.0" and "v2" in second["tags"]
        assert second["pack_hash"] != first["pack_hash"]
        assert metric(port, "riskmon_rule_reloads_total", outcome="applied") == 1

        # An invalid change: refused with a log line and the metric; the old pack keeps alerting.
        (rules / "tuning.yaml").write_text(V2.replace("tags:", "tagz:"), encoding="utf-8")
        wait_for(
            lambda: metric(port, "riskmon_rule_reloads_total", outcome="refused") == 1,
            "the refusal",
            tail,
        )
        assert "rule pack refused" in log.read_text(errors="replace")
        append("c")
        third = alert_of("c")
        assert (third["pack_version"], third["pack_hash"]) == (
            "bank-tuning@1.1.0",
            second["pack_hash"],
        )

        # SIGTERM ends it cleanly, with the summary.
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
        assert process.returncode == 0, tail()
        assert "Replay summary" in stdout and "alerts (total)" in stdout
        rows = {
            cells[0]: cells[1]
            for line in stdout.splitlines()
            if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
        }
        assert (rows["events"], rows["alerts (total)"]) == ("3", "3"), stdout
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
