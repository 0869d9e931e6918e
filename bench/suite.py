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
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
README = REPO / "bench" / "README.md"
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


def events_file(count: int, data: Path) -> Path:
    """A file of the first ``count`` events of a simulated 20-branch bank (seed 7), cached."""
    path = data / f"events-{count}.jsonl"
    if path.exists():
        return path
    days = max(1, -(-count // EVENTS_PER_DAY) + 1)
    out_dir = data / f"sim-{days}d"
    source = out_dir / "events.jsonl"
    if not source.exists():
        subprocess.run(
            [sys.executable, "-m", "riskmon.cli", "simulate", "--days", str(days),
             "--branches", "20", "--seed", "7", "--out-dir", str(out_dir)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    with source.open(encoding="utf-8") as src, path.open("w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            if n >= count:
                break
            dst.write(line)
    return path


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
        print(f"  replay run {n + 1}/{repeat}: " + ", ".join(
            f"{k} {v[-1]['events'] / v[-1]['wall']:,.0f}/s" for k, v in runs.items()
        ), file=sys.stderr)  # fmt: skip
    out: dict[str, Any] = {"events": runs["floor"][0]["events"], "repeat": repeat}
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
if kind in ("memory", "objects"):
    from streams.worker.store import PackedValues  # imported (faust with it) before measuring
import gc; gc.collect()
before = rss()
if kind in ("memory", "objects"):
    # One mapping per stage table, as the worker holds them. memory: the packed store
    # (RISKMON_WORKER_STORE=packed, streams/worker/store.py); objects: faust's memory://.
    tables = {}
    for n in range(count):
        for name, value in json.loads(samples[n % len(samples)]).items():
            table = tables.get(name)
            if table is None:
                table = tables[name] = PackedValues() if kind == "memory" else {}
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
            for kind in ("memory", "objects", "rocksdb"):
                rocks = workdir / f"rocks-{kind}"
                done = subprocess.run(
                    [sys.executable, "-c", STATE_PROBE, kind, str(entities), str(sample),
                     str(rocks)],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                result = json.loads(done.stdout)
                figures[f"{kind}_bytes_per_entity"] = result["bytes"] / entities
                figures[f"{kind}_process_rss_mib"] = result["rss"] / 2**20
                shutil.rmtree(rocks, ignore_errors=True)
            out["kinds"][label] = figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


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
) -> float:
    """Start consumer processes; seconds from the group's first commit to a full drain."""
    from kafka import KafkaAdminClient

    from bench import worker_bench as wb

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    processes = []
    for command, env, log in zip(commands, envs, logs, strict=True):
        with log.open("wb") as handle:
            processes.append(
                subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
            )
    try:
        first = None
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    raise RuntimeError(f"consumer exited: {log.read_text()[-2000:]}")
            offsets = wb.group_offsets(admin, group)
            if first is None and any(o.offset > 0 for o in offsets.values()):
                first = time.monotonic()
            if first is not None and wb.committed_all(
                admin, group, wb.end_offsets(bootstrap, topics)
            ):
                return time.monotonic() - first
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
    input record's (both CreateTime). The clock starts once the worker's group is stable."""
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
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = admin.describe_groups([prefix]).get(prefix) or {}
            state = info.get("group_state", info.get("state"))
            if state == "Stable" and info.get("members"):
                break
            time.sleep(0.5)
        time.sleep(3)  # the stage agents' assignment settles
        began = time.monotonic()
        wb.produce(bootstrap, topics, lines, rate)
        achieved = len(lines) / (time.monotonic() - began)
        time.sleep(5)
        sent: dict[str, int] = {}
        for message in wb._read_all(bootstrap, [topics["tx"], topics["op"]]):
            try:
                sent[json.loads(message.value)["event_id"]] = message.timestamp
            except (ValueError, KeyError):
                continue
        for message in wb._read_all(bootstrap, [topics["alerts"]]):
            alert = json.loads(message.value)
            first = alert["event_ids"][0]
            if alert["rule_id"] == "large_cash_single" and first.startswith("probe-"):
                samples.append((message.timestamp - sent[first]) / 1000)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        log.close()
        admin.close()
    row: dict[str, Any] = {"rate": rate, "events": len(lines), "alerts": len(samples),
                           "achieved_input_rate": achieved}  # fmt: skip
    if len(samples) >= 2:
        q = statistics.quantiles(samples, n=100)
        row.update(p50_ms=q[49] * 1000, p95_ms=q[94] * 1000, p99_ms=q[98] * 1000)
    return row


def bench_worker(events: int, repeat: int, rates: list[int], seconds: float) -> dict[str, Any]:
    from bench import worker_bench as wb

    broker = wb.kafka_broker.ensure_started(wb.kafka_broker.BrokerConfig.from_env())
    bootstrap = broker.bootstrap
    workdir = Path(tempfile.mkdtemp(prefix="riskmon-bench-"))
    longest = max([events, *(int(r * seconds) for r in rates)])
    lines = wb.simulated_lines(longest, seed=7)
    try:
        import quixstreams  # noqa: F401

        has_quix = True
    except ImportError:
        has_quix = False
    runs: dict[str, list[float]] = {"bare": [], "quix": [], "worker": [], "workers_2": []}
    for n in range(repeat):
        prefix, topics = wb.fresh_topics(bootstrap)
        wb.produce(bootstrap, topics, lines[:events], None)
        inputs = [topics["tx"], topics["op"]]
        group = f"{prefix}-bare"
        seconds_taken = drain(
            [[sys.executable, "-c", wb.BARE_AGENT, bootstrap, group, *inputs]],
            [dict(os.environ)], bootstrap, group, inputs, [workdir / "bare.log"],
        )  # fmt: skip
        runs["bare"].append(events / seconds_taken)
        if has_quix:
            group = f"{prefix}-quix"
            seconds_taken = drain(
                [[sys.executable, "-c", QUIX_COUNTER, bootstrap, group, *inputs,
                  str(workdir / f"quix-{n}")]],
                [dict(os.environ)], bootstrap, group, inputs, [workdir / "quix.log"],
            )  # fmt: skip
            runs["quix"].append(events / seconds_taken)
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
            )  # fmt: skip
            runs[label].append(events / seconds_taken)
        print(f"  worker run {n + 1}/{repeat}: " + ", ".join(
            f"{k} {v[-1]:,.0f}/s" for k, v in runs.items() if v
        ), file=sys.stderr)  # fmt: skip
    out: dict[str, Any] = {"events": events, "repeat": repeat, "partitions": 4}
    for label, figures in runs.items():
        if figures:
            out[label] = {"events_per_s": statistics.median(figures), "runs": figures}
    out["worker_vs_bare"] = statistics.median(
        w / b for w, b in zip(runs["worker"], runs["bare"], strict=True)
    )
    if runs["quix"]:
        out["worker_vs_quix"] = statistics.median(
            w / q for w, q in zip(runs["worker"], runs["quix"], strict=True)
        )
    out["workers_2_vs_1"] = statistics.median(
        two / one for two, one in zip(runs["workers_2"], runs["worker"], strict=True)
    )
    out["latency"] = []
    sustained = int(out["worker"]["events_per_s"] * 0.8) // 100 * 100
    for rate in sorted({*rates, max(sustained, 100)}):
        row = latency(bootstrap, lines[: int(rate * seconds)], rate, workdir)
        row["sustained_rate_row"] = rate == sustained
        out["latency"].append(row)
        print(f"  latency @{rate}/s: {row}", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)
    return out


# -- memory over a long stream -------------------------------------------------------------------


def endless_events(total: int, seed: int = 7) -> Iterator[tuple[Any, str]]:
    """``total`` simulated events of one 20-branch bank, generated a day at a time (never held
    whole, never written to a file), with their replay sources. Each day is simulated from the
    same bank (``seed``) and the next start date; its event and transaction ids get the day's
    prefix so that ids stay unique over the stream."""
    from datetime import date

    from monitor.events import Transaction
    from monitor.simulator import SimConfig, simulate
    from streams.replay import kafka_source

    start, made, day = date(2026, 3, 2), 0, 0
    while made < total:
        sim = simulate(SimConfig(seed=seed, start=start + timedelta(days=day), days=1))
        prefix = f"d{day}-"
        for event in sim.events:
            update = {"event_id": prefix + event.event_id}
            if isinstance(event, Transaction):
                update["txn_id"] = prefix + event.txn_id
            elif event.target_txn_id is not None:
                update["target_txn_id"] = prefix + event.target_txn_id
            moved = event.model_copy(update=update)
            yield moved, kafka_source(moved, 4)
            made += 1
            if made >= total:
                return
        del sim
        day += 1


def process_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_stream(total: int, every: int, plot: Path | None) -> dict[str, Any]:
    """``total`` simulated events through the engine with models (as ``riskmon replay
    --models``); every ``every`` events: process RSS, state keys and JSON bytes per stage,
    and deadline-queue entries. The second half's peak against the first half's says whether
    memory levels off."""
    import gc

    engine = new_engine(models=True)
    samples: list[dict[str, Any]] = []
    began = time.process_time()
    stopped = None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for n, (event, source) in enumerate(endless_events(total), start=1):
            engine.process(event, source)
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
                print(
                    f"  stream {n:,}: RSS {last['rss_mib']:,.0f} MiB, {last['state_keys']:,} keys,"
                    f" {last['state_mib']:,.1f} MiB JSON, {last['heap_entries']:,} deadlines"
                    f" ({last['event_time'][:10]})",
                    file=sys.stderr,
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
    worker's table writes them (faust's JSON key and value, the key's stage partition)."""
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


def time_to_first_alert(bootstrap: str, probe: str, keys: int, values: list[str],
                        workdir: Path) -> dict[str, Any]:  # fmt: skip
    """Start a worker whose account table has ``keys`` keys in its changelog and one probe event
    (an immediate single-event alert) in its input. Measured: the restore (faust's log, from
    "Restoring state from changelog topics" to "Recovery complete"), the seconds from start to
    "Worker ready", and to the probe's alert (waited for at most 120 s after ready)."""
    from kafka import KafkaConsumer, KafkaProducer

    from bench import worker_bench as wb

    prefix, topics = wb.fresh_topics(bootstrap)
    changelog = f"{prefix}-state-account-changelog"
    wb.kafka_broker.create_topics(bootstrap, {changelog: 4})
    began = time.monotonic()
    size = fill_changelog(bootstrap, changelog, keys, values) if keys else 0
    filled = time.monotonic() - began
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    producer.send(topics["tx"], key=json.loads(probe)["account_id"].encode(), value=probe.encode())
    producer.flush()
    producer.close()
    env = wb.worker_env(bootstrap, prefix, topics, workdir / f"recovery-{prefix}")
    log_path = workdir / f"recovery-{keys}.log"
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
    row: dict[str, Any] = {"keys": keys, "changelog_bytes": size, "fill_seconds": filled}
    try:
        deadline = time.time() + 1800
        while time.time() < deadline:
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited: {log_path.read_text()[-2000:]}")
            if "ready_seconds" not in row and "Worker ready" in log_path.read_text():
                row["ready_seconds"] = time.time() - started
                deadline = time.time() + 120
            for message in consumer:
                row["first_alert_seconds"] = message.timestamp / 1000 - started
                break
            if "first_alert_seconds" in row:
                break
        if "ready_seconds" not in row:
            raise RuntimeError("the worker was not ready within 30 minutes")
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


def bench_recovery(path: Path, sizes: list[int], repeat: int) -> dict[str, Any]:
    """Restart time against state size: a worker (memory store, the default) starts with an
    account-table changelog of N keys (N = 0: the baseline); each figure the median of
    ``repeat`` runs."""
    from bench import worker_bench as wb

    broker = wb.kafka_broker.ensure_started(wb.kafka_broker.BrokerConfig.from_env())
    values, probe = account_state_sample(path)
    workdir = Path(tempfile.mkdtemp(prefix="riskmon-recovery-"))
    rows: list[dict[str, Any]] = []
    try:
        for keys in [0, *sizes]:
            runs = [
                time_to_first_alert(broker.bootstrap, probe, keys, values, workdir)
                for _ in range(repeat)
            ]
            row = dict(runs[0])
            for name in ("restore_seconds", "ready_seconds", "first_alert_seconds"):
                figures = [r[name] for r in runs if name in r]
                row[name] = statistics.median(figures) if len(figures) == len(runs) else None
            if keys and row.get("restore_seconds"):
                row["keys_per_s"] = keys / row["restore_seconds"]
            row["runs"] = runs
            rows.append(row)
            print(f"  recovery {keys:,} keys: {row}", file=sys.stderr)
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
    m = results["machine"]
    lines = [
        f"Last run: `{results['command']}` at {results['finished']} (UTC).",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']},"
        f" {m['platform']}; load average at start {m['load_average_at_start']} (a shared machine:"
        " other jobs were running; CPU-second figures are the steadier ones).",
        "",
    ]
    replay = results.get("replay")
    if replay:
        lines += [
            f"### Replay, {replay['events']:,} simulated events (median of {replay['repeat']})",
            "",
            f"From {replay.get('run', 'this run')}.",
            "",
            "| configuration | events/s (wall) | events per CPU second | time vs floor |",
            "|---|---:|---:|---:|",
        ]
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
        lines += [
            f"### Per-stage cost, {stages['events']:,} events (median of {stages['repeat']})",
            "",
            f"From {stages.get('run', 'this run')}.",
            "",
            "| what | CPU µs per event |",
            "|---|---:|",
            *[f"| {k} | {v:,.2f} |" for k, v in stages["per_event_us"].items()],
            "",
        ]
    state = results.get("state")
    if state:
        lines += [
            f"### State at {state['entities']:,} entities of each kind",
            "",
            f"From {state.get('run', 'this run')}.",
            "",
            "| kind | live after replay | memory B/entity | memory RSS | RocksDB B/entity (SST) |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, row in state["kinds"].items():
            lines.append(
                f"| {label} | {row['live_keys_after_replay']:,} | "
                f"{row['memory_bytes_per_entity']:,.0f} | {row['memory_process_rss_mib']:,.0f} MiB"
                f" | {row['rocksdb_bytes_per_entity']:,.0f} |"
            )
        lines.append("")
    worker = results.get("worker")
    if worker:
        lines += [
            f"### Kafka worker, {worker['events']:,} events, {worker['partitions']} partitions"
            f" (median of {worker['repeat']})",
            "",
            f"From {worker.get('run', 'this run')}.",
            "",
            "| consumer | events/s | riskmon worker (1 process) / this |",
            "|---|---:|---:|",
            f"| bare counting faust agent | {worker['bare']['events_per_s']:,.0f} | "
            f"{worker['worker_vs_bare']:.2f} |",
        ]
        if "quix" in worker:
            lines.append(
                f"| quix-streams stateful per-key counter | {worker['quix']['events_per_s']:,.0f}"
                f" | {worker['worker_vs_quix']:.2f} |"
            )
        lines += [
            f"| riskmon worker, 1 process | {worker['worker']['events_per_s']:,.0f} | 1.00 |",
            f"| riskmon worker, 2 processes | {worker['workers_2']['events_per_s']:,.0f} | "
            f"{1 / worker['workers_2_vs_1']:.2f} |",
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
                f"| {rate} | {row['achieved_input_rate']:,.0f}/s | {row['alerts']:,} | "
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
            " --models`) on simulated days of one 20-branch bank, generated a day at a time"
            f" (to {stream['days']}); sampled every {stream['every']:,} events,"
            f" {stream['events_per_cpu_s']:,.0f} events per CPU second including the simulator."
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
        lines += [
            f"### Recovery from the changelog, {recovery['store']} store"
            f" (median of {recovery['repeat']})",
            "",
            f"From {recovery.get('run', 'this run')}. A worker starts with N account-state keys"
            " in its changelog (values: real account-stage states,"
            f" {recovery['value_bytes_mean']:,.0f} B of JSON on average) and one probe event in"
            " its input. Restore: faust's own log, from `Restoring state from changelog topics`"
            " to `Recovery complete`; ready: process start to `Worker ready`; alert: process"
            ' start to the probe\'s alert ("none": none within 120 s of ready).',
            "",
            "| keys in the changelog | changelog MB | restore | keys/s | start to ready |"
            " start to first alert |",
            "|---:|---:|---:|---:|---:|---:|",
        ]

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


def write_readme(results: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{tables(results)}\n{END}"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n## All benchmarks (`make bench`)\n\n" + block + "\n"
    README.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--only", default="replay,stages,state,worker,recovery,stream")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--stream-events", type=int, default=None, help="events of the stream section"
    )
    parser.add_argument(
        "--recovery-keys", default=None, help="changelog sizes of the recovery section (1000,...)"
    )
    parser.add_argument("--data", type=Path, default=REPO / "out" / "bench")
    parser.add_argument("--render", action="store_true", help="only rewrite the README tables")
    args = parser.parse_args()
    if args.render:
        write_readme(json.loads(RESULTS.read_text(encoding="utf-8")))
        return 0
    sections = set(args.only.split(","))
    quick = args.quick
    sizes = {
        "replay": 100_000 if quick else 1_000_000,
        "stages": 50_000 if quick else 200_000,
        "state": 100_000 if quick else 1_000_000,
        "worker": 20_000 if quick else 100_000,
    }
    args.data.mkdir(parents=True, exist_ok=True)
    command = "make bench-quick" if quick else "make bench"
    if args.only != parser.get_default("only"):
        command += f" (only {args.only})"
    if args.stream_events:
        command += f" (stream of {args.stream_events:,} events)"
    if args.recovery_keys:
        command += f" (recovery keys {args.recovery_keys})"
    if args.repeat != parser.get_default("repeat"):
        command += f" (--repeat {args.repeat})"
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    # Sections this run does not measure are kept from the previous run; each says its run.
    results: dict[str, Any] = previous | {"command": command, "machine": machine()}
    if "replay" in sections:
        print("replay ...", file=sys.stderr)
        results["replay"] = bench_replay(events_file(sizes["replay"], args.data), args.repeat)
    if "stages" in sections:
        print("per-stage cost ...", file=sys.stderr)
        results["stages"] = bench_stages(events_file(sizes["stages"], args.data), args.repeat)
    if "state" in sections:
        print("state ...", file=sys.stderr)
        results["state"] = bench_state(events_file(210_000, args.data), sizes["state"])
    if "worker" in sections:
        print("Kafka worker ...", file=sys.stderr)
        rates = [1000, 2000, 5000]
        results["worker"] = bench_worker(
            sizes["worker"], 1 if quick else args.repeat, rates, 4.0 if quick else 20.0
        )
    if "stream" in sections:
        print("memory over a long stream ...", file=sys.stderr)
        total = args.stream_events or (1_000_000 if quick else 10_000_000)
        results["stream"] = bench_stream(
            total,
            total // 50,
            REPO / "bench" / ("stream-memory-quick.png" if quick else "stream-memory.png"),
        )
    if "recovery" in sections:
        print("recovery ...", file=sys.stderr)
        results["recovery"] = bench_recovery(
            events_file(210_000, args.data),
            [int(n) for n in args.recovery_keys.split(",")]
            if args.recovery_keys
            else [10_000, 50_000]
            if quick
            else [10_000, 100_000, 1_000_000],
            1 if quick else args.repeat,
        )
    results["finished"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    for section in sections & set(results):
        results[section]["run"] = f"`{command}`, finished {results['finished']} UTC"
    # Another run may have written other sections meanwhile: keep them as the file has them now.
    latest = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = latest | {k: v for k, v in results.items() if k not in latest or k in sections}
    results |= {"command": command, "machine": results["machine"], "finished": results["finished"]}
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_readme(results)
    print(tables(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
