"""Every benchmark from one command: ``make bench`` (full) or ``make bench-quick`` (small sizes).

    .venv/bin/python -m bench.suite [--quick] [--only replay,stages,state,worker,recovery,stream]

Writes ``bench/results.json`` and the tables between the ``bench:begin``/``bench:end`` markers of
``bench/README.md``. Every figure is the median of ``--repeat`` runs (at least 3 in a full run),
and every ratio compares two figures measured in the same run, interleaved run by run:

- replay: ``riskmon replay``'s path (read, decode, engine, alerts written) on N simulated events,
  rules only and with the default models, beside the floor (read the file, ``json.loads`` each
  line); wall-clock and CPU events/s (the machine is shared: CPU seconds are the steadier figure);
- stages: CPU µs per event of decode and validate, the stage hop's compact form, state read and
  write, each rule kind and each model stage, and each scorer's ``score_one`` + ``learn_one``;
- state: bytes per active account, per operator and per pending review at N entities, in memory
  (Python objects, as replay keeps them) and in RocksDB (rocksdict, as the worker's RocksDB store
  writes JSON values), and the process RSS;
- worker: Kafka throughput from input topic to committed offsets of the riskmon worker beside a
  bare counting faust agent and a stateful quix-streams counter (bench extra) on the same broker;
  latency from produce to alert at fixed rates; throughput with 1 and 2 workers;
- recovery: how long a restarted worker (memory store) takes to restore N account keys from its
  changelog (N = 10k, 100k, 1M; quick: 10k, 50k), from faust's log, and to its first alert;
- stream: memory over a long simulated stream (10 million events; quick: 1 million) through the
  engine with models, generated a day at a time: RSS, state keys and bytes, deadline-queue
  entries, sampled and plotted (``bench/stream-memory.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
README = REPO / "bench" / "README.md"
CAPACITY = REPO / "docs" / "capacity.md"
LOGS = REPO / "out" / "bench" / "logs"  # the workers' logs and failures' tracebacks
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
EVENTS_PER_DAY = 29_900  # a 20-branch simulated bank, about (209,106 events a week)


# -- the machine ---------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo.read_text())
        cpu = found.group(1).strip() if found else cpu
    ram = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        found = re.search(r"MemTotal:\s*(\d+) kB", meminfo.read_text())
        ram = int(found.group(1)) * 1024 if found else 0
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cores": os.cpu_count(),
        "ram_gib": round(ram / 2**30, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


# -- data ----------------------------------------------------------------------------------------


def sim_days(count: int) -> int:
    """Days of the simulated 20-branch bank that hold at least ``count`` events."""
    return max(1, -(-count // EVENTS_PER_DAY) + 1)


def events_file(count: int, data: Path, source_events: int | None = None) -> Path:
    """A file of the first ``count`` events of a simulated 20-branch bank (seed 7), cached.

    Every file of a run is a prefix of ONE simulation, the one for ``source_events`` (the
    run's largest need; default ``count``), so a run simulates once and a rerun not at all.
    """
    path = data / f"events-{count}.jsonl"
    days = sim_days(max(count, source_events or count))
    out_dir = data / f"sim-{days}d"
    source = out_dir / "events.jsonl"
    stamp = data / f"events-{count}.from"
    if path.exists() and stamp.exists() and stamp.read_text() == out_dir.name:
        return path
    if not source.exists():
        progress(f"simulating {days} days of a 20-branch bank (seed 7), once for every section")
        making = out_dir.with_name(out_dir.name + ".part")  # a killed run leaves no half file
        shutil.rmtree(making, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "riskmon.cli", "simulate", "--days", str(days),
             "--branches", "20", "--seed", "7", "--out-dir", str(making)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.rmtree(out_dir, ignore_errors=True)
        making.rename(out_dir)
    partial = path.with_suffix(".part")
    with source.open(encoding="utf-8") as src, partial.open("w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            if n >= count:
                break
            dst.write(line)
    partial.replace(path)
    stamp.write_text(out_dir.name)
    return path


def read_events(path: Path, count: int) -> list[str]:
    """The first ``count`` lines of ``path``."""
    with path.open(encoding="utf-8") as handle:
        return [line.rstrip("\n") for _, line in zip(range(count), handle, strict=False)]


def progress(message: str) -> None:
    """One progress line on stderr, with the UTC time."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# -- replay --------------------------------------------------------------------------------------


def new_engine(models: bool) -> Any:
    from monitor.engine import Engine
    from monitor.rules.loader import load_rules
    from riskmon.settings import Settings
    from streams.replay import kafka_sources
    from streams.runs import model_stages_for

    settings = Settings()
    ruleset = load_rules()
    return Engine(
        ruleset,
        lateness=timedelta(seconds=settings.lateness_seconds),
        bounds=settings.time_bounds(),
        sources=kafka_sources(settings.topic_partitions),
        language=settings.language,
        mask=settings.mask_accounts,
        extra_stages=model_stages_for(models, ruleset),
    )


def run_replay(path: Path, models: bool) -> dict[str, float]:
    """``riskmon replay``'s work on ``path``: read, decode, engine, alerts written as JSONL."""
    from streams.replay import kafka_source, read_lines, replay

    engine = new_engine(models)
    with tempfile.TemporaryFile("w", encoding="utf-8") as out:
        wall, cpu = time.perf_counter(), time.process_time()
        stats = replay(
            read_lines([str(path)]),
            engine,
            lambda alert: out.write(alert.to_json() + "\n"),
            lambda letter: None,
            source_of=lambda event: kafka_source(event, 4),
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"events": stats.events, "alerts": stats.alerts, "wall": wall, "cpu": cpu}


def run_floor(path: Path) -> dict[str, float]:
    """The floor: read the same file and decode each line with ``json.loads``."""
    wall, cpu = time.perf_counter(), time.process_time()
    count = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            json.loads(line)
            count += 1
    return {"events": count, "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def bench_replay(path: Path, repeat: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {"floor": [], "rules": [], "models": []}
    for n in range(repeat):
        runs["floor"].append(run_floor(path))
        runs["rules"].append(run_replay(path, models=False))
        runs["models"].append(run_replay(path, models=True))
        progress(f"  replay run {n + 1}/{repeat}: " + ", ".join(
            f"{k} {v[-1]['events'] / v[-1]['wall']:,.0f}/s" for k, v in runs.items()
        ))  # fmt: skip
    out: dict[str, Any] = {"events": runs["floor"][0]["events"], "repeat": repeat}
    out["bytes_per_event"] = path.stat().st_size / max(out["events"], 1)
    for name, items in runs.items():
        out[name] = {
            "events_per_s": statistics.median(r["events"] / r["wall"] for r in items),
            "events_per_cpu_s": statistics.median(r["events"] / r["cpu"] for r in items),
            "alerts": items[0].get("alerts"),
        }
    for name in ("rules", "models"):
        out[name]["floor_ratio"] = statistics.median(
            r["wall"] / f["wall"] for r, f in zip(runs[name], runs["floor"], strict=True)
        )
    return out


# -- per-stage cost -------------------------------------------------------------------------------


@contextmanager
def timed_calls(
    owner: Any, attr: str, totals: dict[str, list[float]], label: str
) -> Iterator[None]:
    """Time every call of ``owner.attr`` into ``totals[label]`` = [seconds, calls]."""
    original = getattr(owner, attr)
    cell = totals.setdefault(label, [0.0, 0])

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            cell[0] += time.process_time() - began
            cell[1] += 1

    setattr(owner, attr, wrapper)
    try:
        yield
    finally:
        if original is getattr(type(owner), attr, None):
            delattr(owner, attr)
        else:
            setattr(owner, attr, original)


def median_us(function: Callable[[], int], repeat: int) -> float:
    """Median over ``repeat`` runs of µs per item (``function`` returns the item count)."""
    figures = []
    for _ in range(repeat):
        began = time.process_time()
        count = function()
        figures.append((time.process_time() - began) / max(count, 1) * 1e6)
    return statistics.median(figures)


def bench_stages(path: Path, repeat: int) -> dict[str, Any]:
    from contextlib import ExitStack

    from monitor.codec import from_compact, to_compact
    from monitor.events import decode_event

    lines = path.read_text(encoding="utf-8").splitlines()
    events = [decode_event(line) for line in lines]
    compact = [json.dumps(to_compact(e)) for e in events]
    out: dict[str, Any] = {"events": len(lines), "repeat": repeat, "per_event_us": {}}
    cost = out["per_event_us"]
    cost["json.loads (the floor)"] = median_us(
        lambda: sum(1 for x in lines if json.loads(x)), repeat
    )
    cost["decode and validate (decode_event)"] = median_us(
        lambda: sum(1 for x in lines if decode_event(x)), repeat
    )
    cost["stage hop: to_compact + json.dumps"] = median_us(
        lambda: sum(1 for e in events if json.dumps(to_compact(e))), repeat
    )
    cost["stage hop: json.loads + from_compact"] = median_us(
        lambda: sum(1 for c in compact if from_compact(json.loads(c))), repeat
    )

    # Rules and model stages, timed inside the engine on the validated events.
    kinds: dict[str, Any] = {}
    stage_totals: dict[str, list[float]] = {}
    for _ in range(repeat):
        engine = new_engine(models=True)
        totals: dict[str, list[float]] = {}
        with ExitStack() as stack:
            for stage in engine.stages:
                stack.enter_context(timed_calls(stage, "process", totals, f"stage {stage.name}"))
                for rule in getattr(stage, "rules", ()):
                    kind = type(rule).__name__.removesuffix("RuleRuntime").lower()
                    stack.enter_context(timed_calls(rule, "on_event", totals, f"rule {kind}"))
            began = time.process_time()
            for event in events:
                engine.process(event)
            engine.flush()
            totals["engine"] = [time.process_time() - began, len(events)]
        for label, (seconds, calls) in totals.items():
            stage_totals.setdefault(label, []).append(seconds)
            kinds[label] = calls
    for label, seconds in sorted(stage_totals.items()):
        per = statistics.median(seconds) / len(events) * 1e6
        cost[f"{label} (µs per stream event; {kinds[label]:,} calls)"] = per
    # State read and write: what a stage does around its rules (get, copy on change, put).
    rule_time = sum(statistics.median(v) for k, v in stage_totals.items() if k.startswith("rule "))
    rule_stages = sum(
        statistics.median(v)
        for k, v in stage_totals.items()
        if k.startswith("stage ") and not k.startswith("stage model_")
    )
    cost["rule stages' state read/write and dispatch (stage time minus rule time)"] = (
        (rule_stages - rule_time) / len(events) * 1e6
    )
    state = engine.state["account"]
    values = [json.dumps(v) for v in state.values()][:20_000]
    cost["changelog value encode + decode (json, per changed key)"] = median_us(
        lambda: sum(1 for v in values if json.loads(json.dumps(json.loads(v)))), repeat
    )

    # Scorers: score_one + learn_one per scored event (bench.models_bench's method).
    from bench.models_bench import collect, time_scorer

    sample = events[: min(len(events), 60_000)]
    for entity in ("account", "operator"):
        rows, _ids, features = collect(sample, entity)
        for name in ("tails (default)", "hst (numpy)", "iforest (vectorised)"):
            figures = [time_scorer(name, features, rows)[0] for _ in range(repeat)]
            cost[f"scorer {entity} {name} (µs per scored event)"] = statistics.median(figures)
    return out


# -- state size ----------------------------------------------------------------------------------

STATE_PROBE = r"""
import json, os, resource, sys, shutil
kind, count, sample_path, rocks_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
samples = [line for line in open(sample_path, encoding="utf-8").read().splitlines() if line]
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
if kind in ("memory", "packed"):
    from streams.worker.store import PackedValues  # imported (faust with it) before measuring
import gc; gc.collect()
before = rss()
if kind in ("memory", "packed"):
    # One mapping per stage table, as the worker holds them. memory: faust's memory:// store
    # (Python objects, the default); packed: RISKMON_WORKER_STORE=packed (streams/worker/store.py).
    tables = {}
    for n in range(count):
        for name, value in json.loads(samples[n % len(samples)]).items():
            table = tables.get(name)
            if table is None:
                table = tables[name] = PackedValues() if kind == "packed" else {}
            table[f"{n:012d}"] = value
    gc.collect()
    print(json.dumps({"bytes": rss() - before, "rss": rss()}))
else:
    from rocksdict import Rdict
    db = Rdict(rocks_dir)
    for n in range(count):
        db[f"{n:012d}".encode()] = samples[n % len(samples)].encode()
    db.flush(); db.compact_range(None, None); db.close()
    size = sum(f.stat().st_size for f in __import__("pathlib").Path(rocks_dir).rglob("*.sst"))
    print(json.dumps({"bytes": size, "rss": rss()}))
"""


def _packed(row: dict[str, Any]) -> str:
    """The packed store's cell of a state row (older results did not measure it)."""
    if "packed_bytes_per_entity" not in row:
        return "not measured"
    return f"{row['packed_bytes_per_entity']:,.0f} ({row['packed_process_rss_mib']:,.0f} MiB)"


def bench_state(path: Path, entities: int) -> dict[str, Any]:
    """Replay ``path`` with models, take the live state values per kind, and measure what
    ``entities`` such values cost (values cycled over the real ones under distinct keys)."""
    from streams.replay import kafka_source, read_lines, replay

    engine = new_engine(models=True)
    replay(
        read_lines([str(path)]),
        engine,
        lambda a: None,
        lambda d: None,
        flush=False,
        source_of=lambda event: kafka_source(event, 4),
    )
    for stage in engine.stages:
        stage.snapshot(engine.state[stage.name])
    groups = {
        "account (rules + model profile)": ("account", "model_account"),
        "operator (rules + model profile)": ("operator", "model_operator"),
        "pending review (transaction stage)": ("transaction",),
    }
    out: dict[str, Any] = {"entities": entities, "kinds": {}}
    workdir = Path(tempfile.mkdtemp(prefix="riskmon-state-"))
    try:
        for label, names in groups.items():
            merged: dict[str, dict[str, Any]] = {}
            for name in names:
                for key, value in engine.state.get(name, {}).items():
                    if not key.startswith("#"):
                        merged.setdefault(key, {})[name] = value
            if not merged:
                continue
            sample = workdir / "sample.jsonl"
            sample.write_text("\n".join(json.dumps(v) for v in merged.values()), encoding="utf-8")
            figures: dict[str, Any] = {"live_keys_after_replay": len(merged)}
            for kind in ("memory", "packed", "rocksdb"):
                rocks = workdir / f"rocks-{kind}"
                done = subprocess.run(
                    [sys.executable, "-c", STATE_PROBE, kind, str(entities), str(sample),
                     str(rocks)],
                    capture_output=True, text=True,
                )  # fmt: skip
                if done.returncode != 0:  # the probe's own error, in the section's failure log
                    raise RuntimeError(f"{kind} state probe failed:\n{done.stderr[-3000:]}")
                result = json.loads(done.stdout)
                figures[f"{kind}_bytes_per_entity"] = result["bytes"] / entities
                figures[f"{kind}_process_rss_mib"] = result["rss"] / 2**20
                shutil.rmtree(rocks, ignore_errors=True)
            out["kinds"][label] = figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


# -- the broker ----------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


BROKER_ERROR: list[str] = []  # why the run's broker did not start, if it did not


@contextmanager
def bench_broker(bootstrap: str | None) -> Iterator[str | None]:
    """The broker of the Kafka sections: ``bootstrap`` as given, or a broker of this run's own
    (``tools/kafka_broker.py``, free ports, the data dir ``$RISKMON_CACHE/kafka/bench`` emptied
    at start, so nothing depends on leftovers and no run's topics pile up), stopped at the end.
    The run holds a lease on it, so the tool's reaper stops it even if the run is killed."""
    if bootstrap:
        yield bootstrap
        return
    from bench import worker_bench as wb

    tool = wb.kafka_broker
    cache = tool.BrokerConfig.from_env().cache_dir
    port = free_port()
    config = tool.BrokerConfig.from_env(
        port=port, controller_port=free_port(), run_dir=cache / "kafka" / "bench"
    )
    if tool.status(config).running:  # an earlier run's broker (killed before it stopped it)
        tool.stop(config)
    progress(f"starting a broker of this run's own on 127.0.0.1:{port} ({config.run_dir})")
    try:
        info = tool.ensure_started(config, fresh=True, lease_pid=os.getpid(), timeout=180)
    except Exception as exc:  # the Kafka sections fail with this; the others run
        BROKER_ERROR[:] = [f"{type(exc).__name__}: {exc}"]
        progress(f"  the broker did not start: {BROKER_ERROR[0]}")
        tool.release(config, os.getpid())
        yield None
        return
    try:
        group_coordinator_ready(info.bootstrap)
        yield info.bootstrap
    finally:
        progress("stopping the benchmark broker")
        tool.release(config, os.getpid())


def group_coordinator_ready(bootstrap: str, timeout: float = 120.0) -> None:
    """Wait until the broker answers group requests: a fresh broker creates its offsets topic on
    the first one and answers COORDINATOR_NOT_AVAILABLE meanwhile."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        while True:
            try:
                admin.list_group_offsets({"bench-warm-up": None})
                return
            except KafkaError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        admin.close()


def drop_topics(bootstrap: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix`` (a run's inputs, stage topics and
    changelogs): the broker stays small over a long run. Best effort."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            names = [t for t in admin.list_topics() if t.startswith(prefix)]
            if names:
                admin.delete_topics(names)
        finally:
            admin.close()
    except Exception as exc:  # a topic left behind is no reason to fail a run
        progress(f"  (could not delete the topics {prefix}*: {exc})")


# -- the Kafka worker ----------------------------------------------------------------------------

QUIX_COUNTER = """
import sys
from quixstreams import Application
bootstrap, group, tx, op, state_dir = sys.argv[1:6]
app = Application(broker_address=bootstrap, consumer_group=group, auto_offset_reset="earliest",
                  state_dir=state_dir, commit_interval=1.0, loglevel="WARNING")
def count(value, state):
    n = state.get("n", 0) + 1
    state.set("n", n)
    return n
for name in (tx, op):
    app.dataframe(app.topic(name, value_deserializer="json")).apply(count, stateful=True)
app.run()
"""


def drain(
    commands: list[list[str]],
    envs: list[dict[str, str]],
    bootstrap: str,
    group: str,
    topics: list[str],
    logs: list[Path],
    cpu: list[float] | None = None,
) -> float:
    """Start consumer processes; seconds from the group's first commit to a full drain. With
    ``cpu``, the processes' CPU seconds over the same span (all of them, every thread) are
    appended to it: on a shared machine the steadier figure."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    from bench import worker_bench as wb

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    processes = []
    for command, env, log in zip(commands, envs, logs, strict=True):
        with log.open("wb") as handle:
            processes.append(
                subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
            )
    try:
        first, cpu_first = None, 0.0
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    raise RuntimeError(f"consumer exited: {log.read_text()[-2000:]}")
            try:
                offsets = wb.group_offsets(admin, group)
                if first is None and any(o.offset > 0 for o in offsets.values()):
                    first = time.monotonic()
                    cpu_first = sum(wb.cpu_seconds(x.pid) for x in processes)
                if first is not None and wb.committed_all(
                    admin, group, wb.end_offsets(bootstrap, topics)
                ):
                    took = time.monotonic() - first
                    if cpu is not None:
                        used = sum(wb.cpu_seconds(x.pid) for x in processes) - cpu_first
                        cpu.append(max(used, 0.01))  # one clock tick at least
                    return took
            except KafkaError as exc:  # a coordinator moving or loading: ask again
                if not getattr(exc, "retriable", False):
                    raise
            time.sleep(0.2)
        raise RuntimeError("no full drain within 15 minutes")
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        admin.close()


def latency(bootstrap: str, lines: list[str], rate: int, workdir: Path) -> dict[str, Any]:
    """Produce ``lines`` at ``rate`` into a running worker (a large ATM withdrawal, an immediate
    alert, every 40 events) and time each such alert: its record's broker timestamp minus the
    input record's (both CreateTime). The clock starts once the worker's group is stable and it
    has alerted on a warm-up probe; every probe's alert is waited for."""
    from kafka import KafkaAdminClient

    from bench import worker_bench as wb

    lines = wb.with_probes(lines, every=40)
    prefix, topics = wb.fresh_topics(bootstrap)
    env = wb.worker_env(bootstrap, prefix, topics, workdir / f"lat-{prefix}")
    log = (workdir / f"latency-{rate}.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "riskmon.cli", "worker"], env=env, stdout=log, stderr=log
    )
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    samples: list[float] = []
    probes = 0
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = admin.describe_groups([prefix]).get(prefix) or {}
            state = info.get("group_state", info.get("state"))
            if state == "Stable" and info.get("members"):
                break
            time.sleep(0.5)
        # The clock starts once the worker has alerted on a warm-up probe (joined, recovered).
        first_tx = next(x for x in lines if json.loads(x)["kind"] == "transaction")
        wb.warm_up(bootstrap, topics, first_tx, worker)
        began = time.monotonic()
        wb.produce(bootstrap, topics, lines, rate)
        achieved = len(lines) / (time.monotonic() - began)
        probes = sum(1 for x in lines if '"probe-' in x)
        sent: dict[str, int] = {}
        for message in wb._read_all(bootstrap, [topics["tx"], topics["op"]]):
            try:
                sent[json.loads(message.value)["event_id"]] = message.timestamp
            except (ValueError, KeyError):
                continue
        # Every probe's alert is waited for (a worker behind its input alerts late, and leaving
        # those out would flatter the percentiles), up to 120 s after the last one came.
        timed: dict[str, float] = {}
        quiet_until = time.monotonic() + 120
        while len(timed) < probes and time.monotonic() < quiet_until:
            before = len(timed)
            for message in wb._read_all(bootstrap, [topics["alerts"]]):
                alert = json.loads(message.value)
                first = alert["event_ids"][0]
                if alert["rule_id"] == "large_cash_single" and first.startswith("probe-"):
                    timed[first] = (message.timestamp - sent[first]) / 1000
            if len(timed) > before:
                quiet_until = time.monotonic() + 120
        samples = list(timed.values())
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        admin.close()
        drop_topics(bootstrap, prefix)
    row: dict[str, Any] = {"rate": rate, "events": len(lines), "alerts": len(samples),
                           "probes": probes, "achieved_input_rate": achieved}  # fmt: skip
    if len(samples) >= 2:
        q = statistics.quantiles(samples, n=100)
        row.update(p50_ms=q[49] * 1000, p95_ms=q[94] * 1000, p99_ms=q[98] * 1000)
    return row


def bench_worker(
    bootstrap: str, path: Path, events: int, repeat: int, rates: list[int], seconds: float
) -> dict[str, Any]:
    """Throughput (bare agent, quix-streams, 1 and 2 workers; interleaved run by run) and
    latency at ``rates`` (``seconds`` of input each), on the first events of ``path``."""
    from bench import worker_bench as wb

    workdir = Path(tempfile.mkdtemp(prefix="riskmon-bench-"))
    longest = max([events, *(int(r * seconds) for r in rates)])
    lines = read_events(path, longest)
    if len(lines) < longest:
        raise RuntimeError(f"{path} holds {len(lines):,} events, {longest:,} needed")
    try:
        import quixstreams  # noqa: F401

        has_quix = True
    except ImportError:
        has_quix = False
    runs: dict[str, list[float]] = {"bare": [], "quix": [], "worker": [], "workers_2": []}
    cpu_runs: dict[str, list[float]] = {name: [] for name in runs}
    for n in range(repeat):
        prefix, topics = wb.fresh_topics(bootstrap)
        progress(f"  worker run {n + 1}/{repeat}: loading {events:,} events")
        wb.produce(bootstrap, topics, lines[:events], None)
        inputs = [topics["tx"], topics["op"]]
        group = f"{prefix}-bare"
        seconds_taken = drain(
            [[sys.executable, "-c", wb.BARE_AGENT, bootstrap, group, *inputs]],
            [dict(os.environ)], bootstrap, group, inputs, [workdir / "bare.log"],
            cpu_runs["bare"],
        )  # fmt: skip
        runs["bare"].append(events / seconds_taken)
        progress(f"    bare faust agent: {events / seconds_taken:,.0f}/s")
        if has_quix:
            group = f"{prefix}-quix"
            seconds_taken = drain(
                [[sys.executable, "-c", QUIX_COUNTER, bootstrap, group, *inputs,
                  str(workdir / f"quix-{n}")]],
                [dict(os.environ)], bootstrap, group, inputs, [workdir / "quix.log"],
                cpu_runs["quix"],
            )  # fmt: skip
            runs["quix"].append(events / seconds_taken)
            progress(f"    quix-streams counter: {events / seconds_taken:,.0f}/s")
        for count, label in ((1, "worker"), (2, "workers_2")):
            app_id = f"{prefix}-w{count}"
            stage_topics = [f"{app_id}-stage-{s}" for s in ("transaction", "account", "operator")]
            envs = []
            for index in range(count):
                env = wb.worker_env(
                    bootstrap, app_id, topics, workdir / f"data-{n}-{count}-{index}"
                )
                envs.append(env)
            seconds_taken = drain(
                [[sys.executable, "-m", "riskmon.cli", "worker"]] * count,
                envs, bootstrap, app_id, inputs + stage_topics,
                [workdir / f"worker-{count}-{i}.log" for i in range(count)],
                cpu_runs[label],
            )  # fmt: skip
            runs[label].append(events / seconds_taken)
            progress(f"    {label}: {events / seconds_taken:,.0f}/s")
        drop_topics(bootstrap, prefix)
        progress(f"  worker run {n + 1}/{repeat}: " + ", ".join(
            f"{k} {v[-1]:,.0f}/s" for k, v in runs.items() if v
        ))  # fmt: skip
    out: dict[str, Any] = {"events": events, "repeat": repeat, "partitions": 4}
    for label, figures in runs.items():
        if figures:
            out[label] = {"events_per_s": statistics.median(figures), "runs": figures}
            if len(cpu_runs[label]) == len(figures):
                out[label]["events_per_cpu_s"] = statistics.median(
                    events / c for c in cpu_runs[label]
                )
    out["worker_vs_bare"] = statistics.median(
        w / b for w, b in zip(runs["worker"], runs["bare"], strict=True)
    )
    if len(cpu_runs["worker"]) == len(cpu_runs["bare"]) == len(runs["worker"]):
        out["worker_vs_bare_cpu"] = statistics.median(
            b / w for w, b in zip(cpu_runs["worker"], cpu_runs["bare"], strict=True)
        )  # CPU seconds per event, bare over worker: the same direction as the wall ratio
    if runs["quix"]:
        out["worker_vs_quix"] = statistics.median(
            w / q for w, q in zip(runs["worker"], runs["quix"], strict=True)
        )
    out["workers_2_vs_1"] = statistics.median(
        two / one for two, one in zip(runs["workers_2"], runs["worker"], strict=True)
    )
    out["latency"] = []
    sustained = int(out["worker"]["events_per_s"] * 0.8) // 100 * 100
    out["latency_repeat"] = repeat
    for rate in sorted({*rates, max(sustained, 100)}):
        runs_at = [latency(bootstrap, lines[: int(rate * seconds)], rate, workdir)
                   for _ in range(repeat)]  # fmt: skip
        row = dict(runs_at[0])
        for name in ("achieved_input_rate", "alerts", "p50_ms", "p95_ms", "p99_ms"):
            figures = [r[name] for r in runs_at if name in r]
            if len(figures) == len(runs_at):
                row[name] = statistics.median(figures)
            else:
                row.pop(name, None)  # a run without enough alerts: no median of it
        row["runs"] = runs_at
        row["sustained_rate_row"] = rate == sustained
        out["latency"].append(row)
        progress(
            f"  latency @{rate:,}/s: achieved {row['achieved_input_rate']:,.0f}/s, p50/p95/p99 "
            + "/".join(f"{row.get(k, float('nan')):,.0f}" for k in ("p50_ms", "p95_ms", "p99_ms"))
            + " ms"
        )
    shutil.rmtree(workdir, ignore_errors=True)
    return out


# -- memory over a long stream -------------------------------------------------------------------


def cycled_events(path: Path, total: int) -> Iterator[tuple[Any, str]]:
    """``total`` events: the simulated events of ``path`` (a 20-branch bank), read and decoded
    one line at a time, over and over. Each pass is moved on by the file's span rounded up to
    whole weeks (weekdays stay weekdays), and its event and transaction ids get the pass's
    prefix, so time runs on and ids stay unique. Nothing is simulated again and nothing is held
    whole: the process's memory is the engine's."""
    from monitor.events import Transaction, decode_event
    from streams.replay import kafka_source

    first = last = None
    with path.open(encoding="utf-8") as handle:  # the span, without holding the file
        for line in handle:
            if line.strip():
                moment = datetime.fromisoformat(json.loads(line)["occurred_at"])
                first = moment if first is None or moment < first else first
                last = moment if last is None or moment > last else last
    if first is None or last is None:
        raise RuntimeError(f"{path} holds no events")
    weeks = (last - first).days // 7 + 1
    made, rounds = 0, 0
    while True:
        shift = timedelta(weeks=weeks * rounds)
        prefix = f"r{rounds}-"
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                event = decode_event(line)
                if rounds:
                    update: dict[str, Any] = {
                        "event_id": prefix + event.event_id,
                        "occurred_at": event.occurred_at + shift,
                    }
                    if isinstance(event, Transaction):
                        update["txn_id"] = prefix + event.txn_id
                    elif event.target_txn_id is not None:
                        update["target_txn_id"] = prefix + event.target_txn_id
                    event = event.model_copy(update=update)
                yield event, kafka_source(event, 4)
                made += 1
                if made >= total:
                    return
        rounds += 1


def process_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_stream(source: Path, total: int, every: int, plot: Path | None) -> dict[str, Any]:
    """``total`` simulated events (``source`` cycled, see :func:`cycled_events`) through the
    engine with models (as ``riskmon replay --models``); every ``every`` events: process RSS,
    state keys and JSON bytes per stage, and deadline-queue entries. The second half's peak
    against the first half's says whether memory levels off."""
    import gc

    engine = new_engine(models=True)
    samples: list[dict[str, Any]] = []
    began, wall_began = time.process_time(), time.monotonic()
    stopped = None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for n, (event, origin) in enumerate(cycled_events(source, total), start=1):
            engine.process(event, origin)
            if n % every == 0 or n == total:
                gc.collect()
                keys = {name: len(m) for name, m in engine.state.items() if name != "__meta__"}
                state_bytes = {
                    name: sum(len(json.dumps(v)) for v in m.values())
                    for name, m in engine.state.items()
                    if name != "__meta__"
                }
                samples.append({
                    "events": n,
                    "event_time": event.occurred_at.isoformat(),
                    "rss_mib": process_rss() / 2**20,
                    "state_keys": sum(keys.values()),
                    "state_mib": sum(state_bytes.values()) / 2**20,
                    "keys": keys,
                    "heap_entries": sum(
                        len(q._heap) for t in engine._timers for q in t.queues.values()
                    ),
                    "cpu_seconds": time.process_time() - began,
                })  # fmt: skip
                if plot is not None:  # redrawn at every sample: a stopped run has its plot
                    plot_stream(samples, plot)
                last = samples[-1]
                rate = n / max(last["cpu_seconds"], 1e-9)
                wall_rate = n / max(time.monotonic() - wall_began, 1e-9)
                progress(
                    f"  stream {n:,}/{total:,}: RSS {last['rss_mib']:,.0f} MiB,"
                    f" {last['state_keys']:,} keys, {last['state_mib']:,.1f} MiB JSON,"
                    f" {last['heap_entries']:,} deadlines ({last['event_time'][:10]});"
                    f" {rate:,.0f} events per CPU s, ~{(total - n) / wall_rate / 60:,.0f} min left"
                )
    except KeyboardInterrupt:  # SIGINT or SIGTERM: keep what was sampled so far
        stopped = samples[-1]["events"] if samples else 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    half = len(samples) // 2
    first, second = samples[1:half] or samples[:1], samples[half:]
    out: dict[str, Any] = {
        "events": total if stopped is None else stopped,
        "stopped_early": stopped is not None,
        "every": every,
        "source": f"{source.name}, cycled",
        "days": samples[-1]["event_time"][:10] if samples else None,
        "events_per_cpu_s": total / max(samples[-1]["cpu_seconds"], 1e-9) if samples else 0,
        "samples": samples,
    }
    for column in ("rss_mib", "state_keys", "state_mib", "heap_entries"):
        out[f"{column}_first_half_max"] = max(s[column] for s in first)
        out[f"{column}_second_half_max"] = max(s[column] for s in second)
    if plot is not None:
        out["plot"] = plot_stream(samples, plot)
    return out


def plot_stream(samples: list[dict[str, Any]], path: Path) -> str | None:
    """RSS and state size against events streamed, as a PNG (``None`` without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    x = [s["events"] / 1e6 for s in samples]
    fig, left = plt.subplots(figsize=(8, 4.2), dpi=110)
    left.plot(x, [s["rss_mib"] for s in samples], color="tab:blue", label="process RSS (MiB)")
    left.plot(x, [s["state_mib"] for s in samples], color="tab:green",
              label="state, JSON (MiB)")  # fmt: skip
    left.set_xlabel("events streamed (millions)")
    left.set_ylabel("MiB")
    left.set_ylim(bottom=0)
    right = left.twinx()
    right.plot(x, [s["state_keys"] / 1000 for s in samples], color="tab:orange",
               linestyle="--", label="state keys (thousands)")  # fmt: skip
    right.set_ylabel("state keys (thousands)")
    right.set_ylim(bottom=0)
    lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    left.legend(lines, labels, loc="lower right", fontsize=8)
    left.set_title("riskmon engine with models over a simulated stream (20 branches)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path.name


# -- recovery ------------------------------------------------------------------------------------


def account_state_sample(path: Path) -> tuple[list[str], str]:
    """Live account-stage values (JSON) after a rules-only replay of ``path``, and a probe: a
    large ATM withdrawal (an immediate alert) dated at the end of the replayed stream."""
    from streams.replay import kafka_source, read_lines, replay

    engine = new_engine(models=False)
    replay(
        read_lines([str(path)]),
        engine,
        lambda a: None,
        lambda d: None,
        flush=False,
        source_of=lambda event: kafka_source(event, 4),
    )
    values = [json.dumps(v) for k, v in engine.state["account"].items() if not k.startswith("#")]
    last = None
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if '"transaction"' in line:
                last = line
    probe = json.loads(last or "{}") | {
        "event_id": "probe-recovery",
        "txn_id": "PROBE-RECOVERY",
        "txn_type": "withdrawal",
        "channel": "atm",
        "amount": "60000",
        "currency": "CNY",
        "status": "posted",
    }
    return values, json.dumps(probe)


def fill_changelog(bootstrap: str, topic: str, keys: int, values: list[str]) -> float:
    """Write ``keys`` account-state records (values cycled over ``values``) to ``topic`` as the
    worker's table writes them (JSON key and value, as its ``riskmon-json`` codec does; the key's
    stage partition)."""
    from kafka import KafkaProducer

    from streams.worker.runner import partition_for

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, batch_size=512 * 1024,
        compression_type=None, max_request_size=8 * 2**20,
    )  # fmt: skip
    encoded = [json.dumps(json.loads(v), separators=(",", ":")).encode() for v in values]
    size = 0
    for n in range(keys):
        key = f"ACCT-R{n:09d}"
        value = encoded[n % len(encoded)]
        size += len(key) + 2 + len(value)
        producer.send(
            topic, key=json.dumps(key).encode(), value=value, partition=partition_for(key, 4)
        )
    producer.flush()
    producer.close()
    return size


LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def log_moment(log: str, marker: str) -> float | None:
    """The time (seconds, the log's clock) of the first faust log line holding ``marker``."""
    for line in log.splitlines():
        found = LOG_TIME.match(line)
        if found and marker in line:
            return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return None


def recovery_topics(bootstrap: str, keys: int, values: list[str]) -> dict[str, Any]:
    """Fresh topics for one changelog size, and the account-table changelog filled with ``keys``
    keys: written once, then read by every restart of that size."""
    from bench import worker_bench as wb

    prefix, topics = wb.fresh_topics(bootstrap)
    changelog = f"{prefix}-state-account-changelog"
    wb.kafka_broker.create_topics(bootstrap, {changelog: 4})
    began = time.monotonic()
    size = fill_changelog(bootstrap, changelog, keys, values) if keys else 0
    return {"prefix": prefix, "topics": topics, "keys": keys, "changelog_bytes": size,
            "fill_seconds": time.monotonic() - began}  # fmt: skip


def time_to_first_alert(bootstrap: str, probe: str, setup: dict[str, Any], run: int,
                        workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Start a worker whose account table has ``setup["keys"]`` keys in its changelog, with one
    new probe event (an immediate single-event alert) in its input. The worker of an earlier run
    of the same setup has stopped, so this is a restart: with the memory store it reads the whole
    changelog again. Measured: the restore (faust's log, from "Restoring state from changelog
    topics" to "Recovery complete"), the seconds from start to "Worker ready", and to this
    probe's alert (waited for at most 120 s after ready; ready within 60 minutes)."""
    from kafka import KafkaConsumer, KafkaProducer

    from bench import worker_bench as wb

    prefix, topics, keys = setup["prefix"], setup["topics"], setup["keys"]
    probe_id = f"probe-recovery-{run}"
    event = json.loads(probe) | {"event_id": probe_id, "txn_id": f"PROBE-RECOVERY-{run}"}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topics["tx"], key=event["account_id"].encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()
    env = wb.worker_env(bootstrap, prefix, topics, workdir / f"recovery-{prefix}")
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"recovery-{keys}-{run}.log"  # kept: the run's failures point here
    consumer = KafkaConsumer(
        topics["alerts"], bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        group_id=None, consumer_timeout_ms=200,
    )  # fmt: skip
    with log_path.open("wb") as log:
        started = time.time()
        worker = subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "worker", "--loglevel", "info"],
            env=env, stdout=log, stderr=log,
        )  # fmt: skip
    row: dict[str, Any] = {k: setup[k] for k in ("keys", "changelog_bytes", "fill_seconds")} | {
        "run": run
    }
    try:
        deadline = time.time() + 3600
        while time.time() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
            if "ready_seconds" not in row and "Worker ready" in log_path.read_text():
                ready = log_moment(log_path.read_text(errors="replace"), "Worker ready")
                row["ready_seconds"] = (ready or time.time()) - started
                deadline = time.time() + 120
            for message in consumer:
                if probe_id in json.loads(message.value).get("event_ids", ()):
                    row["first_alert_seconds"] = message.timestamp / 1000 - started
                    break
            if "first_alert_seconds" in row and "ready_seconds" in row:
                break  # (the alert may come a moment before the log line: both are waited for)
        if "ready_seconds" not in row:
            raise RuntimeError("the worker was not ready within 60 minutes")
    finally:
        consumer.close()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
    text = log_path.read_text(errors="replace")
    restoring = log_moment(text, "Restoring state from changelog topics")
    complete = log_moment(text, "Recovery complete")
    if restoring is not None and complete is not None:
        row["restore_seconds"] = complete - restoring
    elif keys == 0:
        row["restore_seconds"] = 0.0  # an empty changelog: faust has nothing to restore
    return row


def bench_recovery(bootstrap: str, path: Path, sizes: list[int], repeat: int) -> dict[str, Any]:
    """Restart time against state size: a worker (memory store, the default) starts with an
    account-table changelog of N keys (N = 0: the baseline); each figure the median of
    ``repeat`` restarts on the same changelog."""
    cache = path.with_name(path.stem + ".account-states.json")  # beside its events file
    if cache.exists() and cache.stat().st_mtime >= path.stat().st_mtime:
        values, probe = json.loads(cache.read_text(encoding="utf-8"))
    else:
        values, probe = account_state_sample(path)
        cache.write_text(json.dumps([values, probe]), encoding="utf-8")
    workdir = Path(tempfile.mkdtemp(prefix="riskmon-recovery-"))
    rows: list[dict[str, Any]] = []
    try:
        for keys in [0, *sizes]:
            setup = recovery_topics(bootstrap, keys, values)
            runs = [
                time_to_first_alert(bootstrap, probe, setup, run, workdir) for run in range(repeat)
            ]
            drop_topics(bootstrap, setup["prefix"])
            row = dict(runs[0])
            for name in ("restore_seconds", "ready_seconds", "first_alert_seconds"):
                figures = [r[name] for r in runs if name in r]
                row[name] = statistics.median(figures) if len(figures) == len(runs) else None
            if keys and row.get("restore_seconds"):
                row["keys_per_s"] = keys / row["restore_seconds"]
            row["runs"] = runs
            rows.append(row)
            shown = {
                k: "none" if row.get(k) is None else f"{row[k]:,.1f} s"
                for k in ("restore_seconds", "ready_seconds", "first_alert_seconds")
            }
            progress(
                f"  recovery {keys:,} keys: restore {shown['restore_seconds']}, ready"
                f" {shown['ready_seconds']}, first alert {shown['first_alert_seconds']}"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "repeat": repeat,
        "store": "memory",
        "value_bytes_mean": statistics.mean(len(v) for v in values),
        "sample_values": len(values),
        "rows": rows,
    }


# -- report --------------------------------------------------------------------------------------


def tables(results: dict[str, Any]) -> str:
    """The README's tables: the run and machine, then one block per measured section (a section
    whose figures cannot be rendered says so instead of failing the run)."""
    m = results["machine"]
    lines = [
        f"Last run: `{results['command']}` at {results['finished']} (UTC).",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']},"
        f" {m['platform']}; load average at start {m['load_average_at_start']} (a shared machine:"
        " other jobs were running; CPU-second figures are the steadier ones).",
        "",
    ]
    for failed, failure in results.get("failures", {}).items():
        lines += [f"**{failed} failed** in `{failure.get('run')}` at {failure.get('at')} UTC:"
                  f" {failure.get('error')}", ""]  # fmt: skip
    for name in ("replay", "stages", "state", "worker", "stream", "recovery"):
        if not results.get(name):
            continue
        try:
            lines.append(section_tables({name: results[name]}))
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError) as exc:
            lines += [f"### {name}: not rendered ({type(exc).__name__}: {exc})", ""]
    return "\n".join(lines)


def per_cpu(row: dict[str, Any]) -> str:
    value = row.get("events_per_cpu_s")
    return "-" if value is None else f"{value:,.0f}"


def _heading(title: str, section: dict[str, Any], *columns: str, note: str = "") -> list[str]:
    """A section's title, the run it comes from (with ``note``), and its table's header rows."""
    return [f"### {title}", "", f"From {section.get('run', 'this run')}.{note}", "", *columns]


def section_tables(results: dict[str, Any]) -> str:
    lines: list[str] = []
    replay = results.get("replay")
    if replay:
        lines += _heading(
            f"Replay, {replay['events']:,} simulated events (median of {replay['repeat']})",
            replay,
            "| configuration | events/s (wall) | events per CPU second | time vs floor |",
            "|---|---:|---:|---:|",
        )
        for key, label in (
            ("floor", "floor: read + `json.loads` per line"),
            ("rules", "`riskmon replay`, rules only"),
            ("models", "`riskmon replay --models`"),
        ):
            row = replay[key]
            ratio = f"{row['floor_ratio']:.1f}x" if "floor_ratio" in row else "1.0x"
            lines.append(
                f"| {label} | {row['events_per_s']:,.0f} | {row['events_per_cpu_s']:,.0f} "
                f"| {ratio} |"
            )
        lines.append("")
    stages = results.get("stages")
    if stages:
        lines += _heading(
            f"Per-stage cost, {stages['events']:,} events (median of {stages['repeat']})",
            stages,
            "| what | CPU µs per event |",
            "|---|---:|",
            *[f"| {k} | {v:,.2f} |" for k, v in stages["per_event_us"].items()],
            "",
        )
    state = results.get("state")
    if state:
        lines += _heading(
            f"State at {state['entities']:,} entities of each kind",
            state,
            "| kind | live after replay | memory store B/entity (RSS) | packed store B/entity"
            " (RSS) | RocksDB B/entity (SST) |",
            "|---|---:|---:|---:|---:|",
        )
        for label, row in state["kinds"].items():
            lines.append(
                f"| {label} | {row['live_keys_after_replay']:,} | "
                f"{row['memory_bytes_per_entity']:,.0f} ({row['memory_process_rss_mib']:,.0f} MiB)"
                f" | {_packed(row)} | {row['rocksdb_bytes_per_entity']:,.0f} |"
            )
        lines.append("")
    worker = results.get("worker")
    if worker:
        lines += _heading(
            f"Kafka worker, {worker['events']:,} events, {worker['partitions']} partitions"
            f" (median of {worker['repeat']})",
            worker,
            "| consumer | events/s | events per CPU second | riskmon worker (1 process) / this |",
            "|---|---:|---:|---:|",
            f"| bare counting faust agent | {worker['bare']['events_per_s']:,.0f} |"
            f" {per_cpu(worker['bare'])} | {worker['worker_vs_bare']:.2f}"
            + (
                f" (CPU: {worker['worker_vs_bare_cpu']:.2f})"
                if "worker_vs_bare_cpu" in worker
                else ""
            )
            + " |",
        )
        if "quix" in worker:
            lines.append(
                f"| quix-streams stateful per-key counter | {worker['quix']['events_per_s']:,.0f}"
                f" | {per_cpu(worker['quix'])} | {worker['worker_vs_quix']:.2f} |"
            )
        lines += [
            f"| riskmon worker, 1 process | {worker['worker']['events_per_s']:,.0f} |"
            f" {per_cpu(worker['worker'])} | 1.00 |",
            f"| riskmon worker, 2 processes | {worker['workers_2']['events_per_s']:,.0f} |"
            f" {per_cpu(worker['workers_2'])} | {1 / worker['workers_2_vs_1']:.2f} |",
            "",
            (
                f"Latency: median of {worker['latency_repeat']} runs at each rate."
                if worker.get("latency_repeat", 1) > 1
                else "Latency: one run at each rate."
            ),
            "",
            "| input rate (target) | achieved | alerts timed | p50 | p95 | p99 |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for row in worker["latency"]:
            rate = f"{row['rate']:,}/s"
            if row.get("sustained_rate_row"):
                rate += " (80% of the worker's throughput)"
            cells = [f"{row.get(k, float('nan')):,.0f} ms" for k in ("p50_ms", "p95_ms", "p99_ms")]
            lines.append(
                f"| {rate} | {row['achieved_input_rate']:,.0f}/s | {row['alerts']:,.0f}"
                + (f" of {row['probes']:,}" if "probes" in row else "")
                + " | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    stream = results.get("stream")
    if stream:
        lines += [
            f"### Memory over a stream of {stream['events']:,} events",
            "",
            f"From {stream.get('run', 'this run')}. The engine with models (as `riskmon replay"
            " --models`) on "
            + (
                f"the simulated events of one 20-branch bank (`{stream['source']}`, each pass"
                " moved on by whole weeks)"
                if stream.get("source")
                else "simulated days of one 20-branch bank, generated a day at a time"
            )
            + f" (to {stream['days']}); sampled every {stream['every']:,} events,"
            f" {stream['events_per_cpu_s']:,.0f} events per CPU second"
            + ("" if stream.get("source") else " including the simulator")
            + "."
            + (
                " Stopped early (time); the figures cover the events above."
                if stream.get("stopped_early")
                else ""
            )
            + (f" Plot: `bench/{stream['plot']}`." if stream.get("plot") else ""),
            "",
            "| measure | first half: peak | second half: peak | first half: median |"
            " second half: median |",
            "|---|---:|---:|---:|---:|",
        ]
        samples = stream["samples"]
        half = len(samples) // 2
        for column, label, unit in (
            ("rss_mib", "process RSS", " MiB"),
            ("state_keys", "state keys (every stage)", ""),
            ("state_mib", "state as JSON", " MiB"),
            ("heap_entries", "deadline-queue entries", ""),
        ):
            early = statistics.median(x[column] for x in samples[1:half] or samples[:1])
            late = statistics.median(x[column] for x in samples[half:])
            lines.append(
                f"| {label} | {stream[column + '_first_half_max']:,.0f}{unit} | "
                f"{stream[column + '_second_half_max']:,.0f}{unit} | {early:,.0f}{unit} | "
                f"{late:,.0f}{unit} |"
            )
        lines.append("")
    recovery = results.get("recovery")
    if recovery:
        lines += _heading(
            f"Recovery from the changelog, {recovery['store']} store"
            f" (median of {recovery['repeat']})",
            recovery,
            "| keys in the changelog | changelog MB | restore | keys/s | start to ready |"
            " start to first alert |",
            "|---:|---:|---:|---:|---:|---:|",
            note=" A worker starts with N account-state keys in its changelog (values: real"
            f" account-stage states, {recovery['value_bytes_mean']:,.0f} B of JSON on average)"
            " and one probe event in its input. Restore: faust's own log, from `Restoring state"
            " from changelog topics` to `Recovery complete`; ready: process start to `Worker"
            ' ready`; alert: process start to the probe\'s alert ("none": none within 120 s of'
            " ready).",
        )

        def seconds(value: float | None) -> str:
            return "none" if value is None else f"{value:,.1f} s"

        for row in recovery["rows"]:
            rate = f"{row['keys_per_s']:,.0f}" if row.get("keys_per_s") else "-"
            lines.append(
                f"| {row['keys']:,} | {row['changelog_bytes'] / 1e6:,.1f} | "
                f"{seconds(row.get('restore_seconds'))} | {rate} | "
                f"{seconds(row.get('ready_seconds'))} | "
                f"{seconds(row.get('first_alert_seconds'))} |"
            )
        lines.append("")
    return "\n".join(lines)


def write_readme(results: dict[str, Any], readme: Path = README) -> None:
    from bench.capacity import replace_marked

    text = readme.read_text(encoding="utf-8")
    heading = "## All benchmarks (`make bench`)\n\n"
    readme.write_text(replace_marked(text, BEGIN, END, tables(results), heading), encoding="utf-8")


def write_capacity(results: dict[str, Any], page: Path = CAPACITY) -> None:
    """The capacity model's tables in ``page``, derived from ``results`` (:mod:`bench.capacity`)."""
    from bench.capacity import write_page

    write_page(results, page)


# -- the run -------------------------------------------------------------------------------------

SECTIONS = ("replay", "stages", "state", "worker", "recovery", "stream")
# Estimated minutes per section on 2 idle cores (full, quick): for --plan and the ETA, which
# rescales them by how long the finished sections took against their estimates.
ESTIMATE_MINUTES = {
    "data": (4.0, 1.0),
    "replay": (9.0, 1.5),
    "stages": (7.0, 2.0),
    "state": (5.0, 2.0),
    "worker": (20.0, 5.0),
    "recovery": (25.0, 3.0),
    "stream": (25.0, 3.0),
}


def plan(args: argparse.Namespace, sections: list[str]) -> list[tuple[str, str, float]]:
    """(section, what it runs, estimated minutes) in the order the run takes them."""
    quick = args.quick
    size = sizes_for(quick)
    repeat = args.repeat
    recovery = recovery_sizes(args)
    stream_events = args.stream_events or (1_000_000 if quick else 10_000_000)
    what = {
        "data": f"simulate {sim_days(size['source'])} days of a 20-branch bank once (cached in"
        f" {args.data}); every section reads prefixes of that one file",
        "replay": f"{size['replay']:,} events: floor, rules only, with models; interleaved,"
        f" {repeat} runs each",
        "stages": f"{size['stages']:,} events: decode, stage hop, engine with every stage and"
        f" rule kind timed, changelog values, 6 scorers; {repeat} runs each",
        "state": f"live state after {size['state_source']:,} events, then {size['state']:,}"
        " entities per kind in memory and in RocksDB (sizes, not times)",
        "worker": f"{size['worker']:,} events, 4 partitions: bare faust, quix-streams, 1 and 2"
        f" workers, interleaved, {1 if quick else repeat} runs; latency at 1,000/2,000/5,000/s"
        " and 80% of one worker's throughput",
        "recovery": f"changelogs of {', '.join(f'{k:,}' for k in [0, *recovery])} account keys,"
        f" each filled once and restarted {1 if quick else repeat} times",
        "stream": f"{stream_events:,} events through the engine with models (the replay file"
        " cycled, shifted by whole weeks), RSS and state sampled 50 times",
    }
    column = 1 if quick else 0
    cached = (args.data / f"sim-{sim_days(size['source'])}d" / "events.jsonl").exists()
    if cached:
        what["data"] = f"cached in {args.data}: nothing to simulate"
    rows = [("data", what["data"], 0.0 if cached else ESTIMATE_MINUTES["data"][column])]
    for name in sections:
        minutes = ESTIMATE_MINUTES[name][column]
        if name == "stream":
            minutes *= stream_events / (1_000_000 if quick else 10_000_000)
        rows.append((name, what[name], minutes))
    return rows


def sizes_for(quick: bool) -> dict[str, int]:
    sizes = {
        "replay": 100_000 if quick else 1_000_000,
        "stages": 50_000 if quick else 200_000,
        "state_source": 210_000,
        "state": 100_000 if quick else 1_000_000,
        "worker": 20_000 if quick else 100_000,
    }
    # Every events file is a prefix of one simulation, long enough for the largest need (the
    # latency runs take up to 5,000/s x 20 s, quick 4 s).
    sizes["source"] = max(*sizes.values(), 5_000 * (4 if quick else 20))
    return sizes


def recovery_sizes(args: argparse.Namespace) -> list[int]:
    if args.recovery_keys:
        return [int(n) for n in args.recovery_keys.split(",")]
    return [10_000, 50_000] if args.quick else [10_000, 100_000, 1_000_000]


def run_section(name: str, args: argparse.Namespace, bootstrap: str | None) -> dict[str, Any]:
    quick, repeat = args.quick, args.repeat
    size = sizes_for(quick)

    def data(count: int) -> Path:
        return events_file(count, args.data, size["source"])

    if name == "replay":
        return bench_replay(data(size["replay"]), repeat)
    if name == "stages":
        return bench_stages(data(size["stages"]), repeat)
    if name == "state":
        return bench_state(data(size["state_source"]), size["state"])
    if name in ("worker", "recovery") and bootstrap is None:
        raise RuntimeError(f"no broker: {BROKER_ERROR[0] if BROKER_ERROR else 'not started'}")
    if name == "worker":
        return bench_worker(
            bootstrap, data(size["source"]), size["worker"], 1 if quick else repeat,
            [1000, 2000, 5000], 4.0 if quick else 20.0,
        )  # fmt: skip
    if name == "recovery":
        return bench_recovery(
            bootstrap, data(size["state_source"]), recovery_sizes(args), 1 if quick else repeat
        )
    if name == "stream":
        total = args.stream_events or (1_000_000 if quick else 10_000_000)
        plot = args.readme.parent / ("stream-memory-quick.png" if quick else "stream-memory.png")
        return bench_stream(data(size["source"]), total, max(total // 50, 1), plot)
    raise ValueError(f"unknown section {name!r}")


def save(results_path: Path, run: dict[str, Any], measured: dict[str, Any],
         failed: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """Merge this run's sections into the results file as it is now (another run may have
    written other sections meanwhile): measured sections replace theirs, the others are kept,
    each naming its run; failures are recorded under ``failures``."""
    latest = json.loads(results_path.read_text(encoding="utf-8")) if results_path.exists() else {}
    results = latest | measured | run
    failures = {k: v for k, v in latest.get("failures", {}).items() if k not in measured}
    failures |= {k: {"error": v, "run": run["command"], "at": run["finished"]}
                 for k, v in failed.items()}  # fmt: skip
    if failures:
        results["failures"] = failures
    else:
        results.pop("failures", None)
    results_path.write_text(
        json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, ~20 minutes")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--stream-events", type=int, default=None, help="events of the stream section"
    )
    parser.add_argument(
        "--recovery-keys", default=None, help="changelog sizes of the recovery section (1000,...)"
    )
    parser.add_argument("--data", type=Path, default=REPO / "out" / "bench")
    parser.add_argument(
        "--bootstrap", default=None, help="use this Kafka (default: a broker of the run's own)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="results file (merged)")
    parser.add_argument("--readme", type=Path, default=README, help="file whose tables to write")
    parser.add_argument("--capacity", type=Path, default=CAPACITY, help="capacity model page")
    parser.add_argument("--render", action="store_true", help="only rewrite the tables")
    parser.add_argument("--plan", action="store_true", help="print the sections and estimates")
    args = parser.parse_args(argv)
    if args.render:
        results = json.loads(args.results.read_text(encoding="utf-8"))
        write_readme(results, args.readme)
        write_capacity(results, args.capacity)
        return 0
    sections = [s for s in SECTIONS if s in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown or not sections:
        print(f"bench: unknown section(s) {', '.join(sorted(unknown)) or '(none given)'};"
              f" choose from {', '.join(SECTIONS)}", file=sys.stderr)  # fmt: skip
        return 2
    rows = plan(args, sections)
    if args.plan:
        for name, what, minutes in rows:
            print(f"{name:9} ~{minutes:5.1f} min  {what}")
        print(f"{'total':9} ~{sum(r[2] for r in rows):5.1f} min on 2 idle cores")
        return 0
    args.data.mkdir(parents=True, exist_ok=True)
    command = "make bench-quick" if args.quick else "make bench"
    if args.only != parser.get_default("only"):
        command += f" (only {args.only})"
    if args.stream_events:
        command += f" (stream of {args.stream_events:,} events)"
    if args.recovery_keys:
        command += f" (recovery keys {args.recovery_keys})"
    if args.repeat != parser.get_default("repeat"):
        command += f" (--repeat {args.repeat})"
    run: dict[str, Any] = {"command": command, "machine": machine()}
    estimates = {name: minutes for name, _, minutes in rows}
    estimates[sections[0]] += estimates.pop("data")  # the first section makes the data
    progress(f"{command}: {', '.join(sections)}; estimated {sum(estimates.values()):.0f} min")
    began = time.monotonic()
    spent_estimate = spent_actual = 0.0  # of the sections that finished: the pace of the ETA
    measured: dict[str, Any] = {}
    failed: dict[str, str] = {}
    kafka = any(s in ("worker", "recovery") for s in sections)
    global LOGS
    LOGS = log_dir = args.data / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with bench_broker(args.bootstrap) if kafka else nullcontext(None) as boot:
        for index, name in enumerate(sections, start=1):
            pace = spent_actual / spent_estimate if spent_estimate > 1 else 1.0
            left = sum(estimates[s] for s in sections[index - 1 :]) * pace
            progress(f"[{index}/{len(sections)}] {name} (~{estimates[name] * pace:.0f} min;"
                     f" run ~{left:.0f} min left)")  # fmt: skip
            started = time.monotonic()
            try:
                measured[name] = run_section(name, args, boot)
            except (Exception, KeyboardInterrupt, SystemExit) as exc:  # recorded; goes on
                import traceback

                log = log_dir / f"{name}-failure.log"
                log.write_text(traceback.format_exc(), encoding="utf-8")
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                shown = log.relative_to(REPO) if log.is_relative_to(REPO) else log
                failed[name] = f"{type(exc).__name__}: {first} (traceback: {shown})"
                progress(f"  {name} FAILED: {failed[name]}")
                if isinstance(exc, KeyboardInterrupt):
                    break
            else:
                took = (time.monotonic() - started) / 60
                progress(f"  {name} done in {took:.1f} min")
                spent_estimate += estimates[name]
                spent_actual += took
            run["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
            if name in measured:
                measured[name]["run"] = f"`{command}`, finished {run['finished']} UTC"
            results = save(args.results, run, measured, failed)  # after each section: resumable
            write_readme(results, args.readme)
            try:
                write_capacity(results, args.capacity)
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
                failed.setdefault("capacity", f"{type(exc).__name__}: {exc}")
                progress(f"  the capacity tables were not written: {failed['capacity']}")
    print(tables(results))
    if failed:
        print(f"bench: {len(failed)} of {len(sections)} sections failed:"
              f" {'; '.join(f'{k}: {v}' for k, v in failed.items())}", file=sys.stderr)  # fmt: skip
        return 1
    progress(f"all {len(sections)} sections done in {(time.monotonic() - began) / 60:.0f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
