"""Hot reload of the rule folder while a real `riskmon worker` runs on the real broker."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.identity import Identity
from alerts.pack_history import PackHistory
from alerts.store import AlertStore
from monitor.events import encode_event
from monitor.rule_examples import example_events
from monitor.rules.loader import load_rules
from monitor.rules.schema import Example
from tests.fixtures_kafka import broker_tool
from tests.integration.stream_harness import Pipeline, WorkerProcess

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AT = datetime(2026, 3, 3, tzinfo=UTC)
V1 = "- pack: bank-tuning\n  version: 1.0.0\n- override: large_cash_single\n  tags: [v1]\n"


def version(number: str, tag: str) -> str:
    return V1.replace("1.0.0", number).replace("[v1]", f"[{tag}]")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def approve(
    history: PackHistory, people: tuple[Identity, Identity], staging: Path, text: str
) -> str:
    """Propose and approve the pack ``text`` would make (computed in a staging folder)."""
    (staging / "tuning.yaml").write_text(text, encoding="utf-8")
    pack_hash = load_rules([staging]).pack_hash
    history.propose(
        people[0],
        version=text.split("version: ")[1].split()[0],
        pack_hash=pack_hash,
        diff_summary="patch",
        ticket="CHG-1",
        at=AT,
    )
    history.approve(people[1], pack_hash=pack_hash, at=AT)
    return pack_hash


def metric(port: int, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait(probe: Any, timeout: float, worker: WorkerProcess) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        try:
            result = probe()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out\n{worker.tail()}")


def send_cash(pipe: Pipeline, tmp_path: Path, name: str) -> str:
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
    path = tmp_path / f"{name}.jsonl"
    path.write_text(encode_event(event) + "\n", encoding="utf-8")
    pipe.produce_file(path)
    return event.event_id


def alert_for(pipe: Pipeline, event_id: str, worker: WorkerProcess) -> dict[str, Any]:
    def found(messages: list[Any]) -> bool:
        return any(event_id in json.loads(m.value)["event_ids"] for m in messages)

    messages = pipe.collect(pipe.topics["alerts"], found, 150, worker.check_alive)
    alerts = [json.loads(m.value) for m in messages]
    mine = [a for a in alerts if event_id in a["event_ids"] and a["rule_id"] == "large_cash_single"]
    assert mine, f"no alert for {event_id}\n{worker.tail()}"
    return dict(mine[0])


def test_hot_reload_takes_approved_packs_and_refuses_the_rest(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rules, staging = tmp_path / "rules", tmp_path / "staging"
    for folder in (rules, staging):
        folder.mkdir()
    store_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = AlertStore.open(store_url)
    store.users.add_user("ann", "officer", "password-ann")
    store.users.add_user("bo", "supervisor", "password-bo")
    people = (store.users.identity("ann"), store.users.identity("bo"))
    history = store.pack_history
    first = approve(history, people, staging, V1)
    (rules / "tuning.yaml").write_text(V1, encoding="utf-8")
    pipe = Pipeline(kafka_bootstrap, tmp_path)
    pipe.create_topics(broker_tool)
    port = free_port()
    worker = WorkerProcess(
        pipe,
        "w1",
        RISKMON_RULES_DIR=str(rules),
        RISKMON_REQUIRE_PACK_APPROVAL="true",
        RISKMON_ALERT_STORE_URL=store_url,
        RISKMON_METRICS_PORT=str(port),
        RISKMON_METRICS_ADDR="127.0.0.1",
    ).start()
    try:
        alert = alert_for(pipe, send_cash(pipe, tmp_path, "a"), worker)
        assert (alert["pack_version"], alert["pack_hash"]) == ("bank-tuning@1.0.0", first)

        # A valid change, approved by a second person: it takes effect.
        second = approve(history, people, staging, version("1.1.0", "v2"))
        (rules / "tuning.yaml").write_text(version("1.1.0", "v2"), encoding="utf-8")
        wait(lambda: metric(port, "riskmon_rule_reloads_total", outcome="applied") >= 1, 60, worker)
        alert = alert_for(pipe, send_cash(pipe, tmp_path, "b"), worker)
        assert (alert["pack_version"], alert["pack_hash"]) == ("bank-tuning@1.1.0", second)
        assert "v2" in alert["tags"]

        # An invalid change: refused, counted, and the old pack keeps producing alerts.
        (rules / "tuning.yaml").write_text(version("1.2.0", "v3").replace("tags", "tagz"))
        wait(lambda: metric(port, "riskmon_rule_reloads_total", outcome="refused") >= 1, 60, worker)
        alert = alert_for(pipe, send_cash(pipe, tmp_path, "c"), worker)
        assert (alert["pack_version"], alert["pack_hash"]) == ("bank-tuning@1.1.0", second)

        # A valid but unapproved change: refused too.
        (rules / "tuning.yaml").write_text(version("1.2.0", "v3"), encoding="utf-8")
        wait(lambda: metric(port, "riskmon_rule_reloads_total", outcome="refused") >= 2, 60, worker)
        alert = alert_for(pipe, send_cash(pipe, tmp_path, "d"), worker)
        assert (alert["pack_version"], alert["pack_hash"]) == ("bank-tuning@1.1.0", second)
        assert metric(port, "riskmon_rule_reloads_total", outcome="applied") == 1
        # The watcher may first see the file half-written (refused for that), then whole.
        refusal = "not approved by a second person"
        wait(lambda: refusal in worker.log.read_text(errors="replace"), 60, worker)
        assert "rule pack refused" in worker.log.read_text(errors="replace")

        # Its approval arrives later, with no change to the folder: the worker takes it.
        third = approve(history, people, staging, version("1.2.0", "v3"))
        wait(lambda: metric(port, "riskmon_rule_reloads_total", outcome="applied") >= 2, 60, worker)
        alert = alert_for(pipe, send_cash(pipe, tmp_path, "e"), worker)
        assert (alert["pack_version"], alert["pack_hash"]) == ("bank-tuning@1.2.0", third)
    finally:
        worker.stop()
        store.close()
