"""Worker throughput and latency on the real broker, beside a bare faust agent.

    .venv/bin/python bench/worker_bench.py --events 100000 --rate 400

1. Throughput: N simulated events are loaded into fresh input topics first. Then a bare faust
   agent that only counts messages (same settings, same broker) and the riskmon worker each
   consume them; a run ends when the consumer group has committed every input offset (and, for
   the worker, every stage-topic offset). Reports events/s and the ratio.
2. Latency: events are produced at a fixed rate into a running worker; for each alert fired
   directly by an event (single large transfers), latency is the alert record's timestamp minus
   the input record's timestamp (both Kafka CreateTime). Reports p50/p99.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import kafka_broker  # noqa: E402

from monitor.events import encode_event  # noqa: E402
from monitor.simulator import SimConfig, simulate  # noqa: E402
from streams.produce import route  # noqa: E402

BARE_AGENT = """
import sys, faust
bootstrap, group, tx, op = sys.argv[1:5]
app = faust.App(group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False,
                consumer_auto_offset_reset="earliest", broker_session_timeout=6.0,
                broker_heartbeat_interval=1.5, broker_commit_interval=1.0, autodiscover=False,
                topic_replication_factor=1)
topic = app.topic(tx, op, key_serializer="raw", value_serializer="raw")
count = 0
@app.agent(topic)
async def counter(stream):
    global count
    async for batch in stream.take_events(500, within=0.05):
        count += len(batch)
faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
"""


def simulated_lines(events: int, seed: int) -> list[str]:
    days, lines = 1, []
    while len(lines) < events:
        sim = simulate(SimConfig(seed=seed, days=days, branches=20))
        lines = [encode_event(e) for e in sim.events]
        days += 1
    return lines[:events]


def produce(bootstrap: str, topics: dict[str, str], lines: list[str], rate: float | None) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    started = time.monotonic()
    for n, line in enumerate(lines, start=1):
        topic, key = route(line, topics["tx"], topics["op"])
        producer.send(topic, key=key, value=line.encode())
        if rate:
            ahead = started + n / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    producer.flush()
    producer.close()


def group_offsets(admin: KafkaAdminClient, group: str) -> dict[TopicPartition, Any]:
    # kafka-python 3: {group: {TopicPartition: OffsetAndMetadata}}
    return dict(admin.list_group_offsets({group: None}).get(group, {}))


def committed_all(admin: KafkaAdminClient, group: str, ends: dict[TopicPartition, int]) -> bool:
    offsets = group_offsets(admin, group)
    return all(
        (offsets.get(tp).offset if offsets.get(tp) else 0) >= end for tp, end in ends.items()
    )


def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [
            TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())
        ]
        return dict(consumer.end_offsets(parts))
    finally:
        consumer.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far, every thread (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_to_drain(
    command: list[str],
    env: dict[str, str],
    bootstrap: str,
    group: str,
    topics: list[str],
    log: Path,
) -> tuple[float, float]:
    """Start a consumer process; seconds from its first commit to a full drain, wall and CPU.

    The CPU seconds are the process's own (all its threads) over the same span: on a machine
    shared with other jobs they are the steadier figure.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    with log.open("wb") as handle:
        process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        first = None
        cpu_first = 0.0
        while True:
            if process.poll() is not None:
                raise SystemExit(f"consumer exited: {log.read_text()[-2000:]}")
            offsets = group_offsets(admin, group)
            if first is None and any(o.offset > 0 for o in offsets.values()):
                first = time.monotonic()
                cpu_first = cpu_seconds(process.pid)
            ends = end_offsets(bootstrap, topics)
            if first is not None and committed_all(admin, group, ends):
                cpu = max(cpu_seconds(process.pid) - cpu_first, 0.01)  # one clock tick at least
                return time.monotonic() - first, cpu
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        admin.close()


def worker_env(bootstrap: str, prefix: str, topics: dict[str, str], data: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        RISKMON_KAFKA_BOOTSTRAP=bootstrap,
        RISKMON_TOPIC_TRANSACTIONS=topics["tx"],
        RISKMON_TOPIC_OPERATOR_ACTIONS=topics["op"],
        RISKMON_TOPIC_ALERTS=topics["alerts"],
        RISKMON_TOPIC_DEADLETTER=topics["dl"],
        RISKMON_TOPIC_PARTITIONS="4",
        RISKMON_WORKER_APP_ID=prefix,
        RISKMON_WORKER_DATA_DIR=str(data),
        RISKMON_WORKER_TICK_INTERVAL="1",
        RISKMON_WORKER_IDLE_AFTER="3",
    )
    return env


def fresh_topics(bootstrap: str) -> tuple[str, dict[str, str]]:
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    topics = {k: f"{prefix}.{k}" for k in ("tx", "op", "alerts", "dl")}
    kafka_broker.create_topics(
        bootstrap, {topics["tx"]: 4, topics["op"]: 4, topics["alerts"]: 1, topics["dl"]: 1}
    )
    return prefix, topics


def with_probes(lines: list[str], every: int) -> list[str]:
    """Insert a large ATM withdrawal (an immediate single-event alert) after every N-th line."""
    out = []
    for n, line in enumerate(lines):
        out.append(line)
        data = json.loads(line)
        if n % every == 0 and data["kind"] == "transaction":
            probe = data | {
                "event_id": f"probe-{n}",
                "txn_id": f"PROBE-{n}",
                "txn_type": "withdrawal",
                "channel": "atm",
                "amount": "60000",
                "currency": "CNY",
                "status": "posted",
            }
            out.append(json.dumps(probe))
    return out


def warm_up(bootstrap: str, topics: dict[str, str], line: str, worker: Any) -> None:
    """Send one probe and wait for its alert: the worker has joined, recovered and runs.

    A fixed sleep was not enough on a loaded machine: the first seconds of the timed stream
    then queued behind the worker's start and dominated the percentiles.
    """
    probe = json.loads(with_probes([line], every=1)[-1]) | {"event_id": "warmup-0"}
    probe["txn_id"] = "WARMUP-0"
    produce(bootstrap, topics, [json.dumps(probe)], None)
    deadline = time.monotonic() + 180
    consumer = KafkaConsumer(
        topics["alerts"], bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    try:
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                raise SystemExit("the worker exited during the warm-up")
            if any(consumer.poll(timeout_ms=500).values()):
                return
        raise SystemExit("no alert for the warm-up probe within 180 s")
    finally:
        consumer.close()


def latency(bootstrap: str, lines: list[str], rate: float, workdir: Path) -> list[float]:
    lines = with_probes(lines, every=40)
    prefix, topics = fresh_topics(bootstrap)
    env = worker_env(bootstrap, prefix, topics, workdir / "lat-data")
    log = (workdir / "latency-worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "riskmon.cli", "worker"], env=env, stdout=log, stderr=log
    )
    try:
        first = next(line for line in lines if json.loads(line)["kind"] == "transaction")
        warm_up(bootstrap, topics, first, worker)  # the clock starts once the worker alerts
        produce(bootstrap, topics, lines, rate)
        time.sleep(5)
        sent: dict[str, int] = {}
        for message in _read_all(bootstrap, [topics["tx"], topics["op"]]):
            try:
                sent[json.loads(message.value)["event_id"]] = message.timestamp
            except (ValueError, KeyError):
                continue
        out = []
        for message in _read_all(bootstrap, [topics["alerts"]]):
            alert = json.loads(message.value)
            (first, *_) = alert["event_ids"]
            if alert["rule_id"] == "large_cash_single" and first.startswith("probe-"):
                out.append((message.timestamp - sent[first]) / 1000)
        return out
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()


def _read_all(bootstrap: str, topics: list[str]) -> list[Any]:
    consumer = KafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        group_id=None,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--rate", type=float, action="append", help="input rate for latency (repeatable)"
    )
    parser.add_argument("--latency-events", type=int, default=20_000, help="0: no latency run")
    parser.add_argument("--repeat", type=int, default=1, help="throughput runs (median)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rates = args.rate or [400.0]

    broker = kafka_broker.ensure_started(kafka_broker.BrokerConfig.from_env())
    bootstrap = broker.bootstrap
    workdir = Path(tempfile.mkdtemp(prefix="riskmon-bench-"))
    lines = simulated_lines(max(args.events, args.latency_events), args.seed)
    n = args.events

    runs: list[tuple[float, float, float, float]] = []
    for run in range(args.repeat):
        prefix, topics = fresh_topics(bootstrap)
        produce(bootstrap, topics, lines[:n], None)
        bare_group = f"{prefix}-bare"
        bare, bare_cpu = time_to_drain(
            [sys.executable, "-c", BARE_AGENT, bootstrap, bare_group, topics["tx"], topics["op"]],
            dict(os.environ),
            bootstrap,
            bare_group,
            [topics["tx"], topics["op"]],
            workdir / f"bare-{run}.log",
        )
        env = worker_env(bootstrap, prefix, topics, workdir / f"data-{run}")
        stage_topics = [f"{prefix}-stage-{s}" for s in ("transaction", "account", "operator")]
        riskmon, riskmon_cpu = time_to_drain(
            [sys.executable, "-m", "riskmon.cli", "worker"],
            env,
            bootstrap,
            prefix,
            [topics["tx"], topics["op"], *stage_topics],
            workdir / f"worker-{run}.log",
        )
        runs.append((bare, bare_cpu, riskmon, riskmon_cpu))
        print(
            f"run {run + 1}: bare {n / bare:,.0f}/s ({n / bare_cpu:,.0f} per CPU s), "
            f"worker {n / riskmon:,.0f}/s ({n / riskmon_cpu:,.0f} per CPU s), "
            f"worker/bare {bare / riskmon:.2f} (CPU {bare_cpu / riskmon_cpu:.2f}), "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    bare, bare_cpu, riskmon, riskmon_cpu = (statistics.median(r[i] for r in runs) for i in range(4))
    ratio = statistics.median(r[0] / r[2] for r in runs)
    cpu_ratio = statistics.median(r[1] / r[3] for r in runs)
    print(f"bare faust agent   {n / bare:10,.0f} events/s  ({n / bare_cpu:,.0f} per CPU second)")
    cpu = n / riskmon_cpu
    print(f"riskmon worker     {n / riskmon:10,.0f} events/s  ({cpu:,.0f} per CPU second)")
    print(f"worker / bare      {ratio:10.2f} (wall), {cpu_ratio:.2f} (CPU), same runs")
    for rate in rates if args.latency_events else []:
        lat = latency(bootstrap, lines[: args.latency_events], rate, workdir)
        quantiles = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
        p50, p95, p99 = (quantiles[i] * 1000 for i in (49, 94, 98))
        print(
            f"latency @{rate:g}/s  p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms "
            f"({len(lat)} alerts)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
