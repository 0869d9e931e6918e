"""Replay throughput of the embedded engine with the default rule packs.

    .venv/bin/python bench/replay_bench.py --days 18 --branches 20

Simulates a bank (seeded, with `riskmon simulate` in a subprocess), then replays the file as
`riskmon replay` does (read, decode, engine, write alerts) and reports events per second of wall
clock and of CPU time (the steadier figure on a shared machine), peak memory and state bytes
per entity (as JSON, and as the Python objects ``json.loads`` makes of it). ``--models`` adds the
default anomaly models. Prints a markdown table row for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from monitor.engine import Engine
from monitor.rules.loader import load_rules
from streams.replay import read_lines, replay
from streams.runs import model_stages_for


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=18)
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=Path("out/bench"))
    parser.add_argument("--models", action="store_true", help="with the default models")
    args = parser.parse_args()

    args.data.mkdir(parents=True, exist_ok=True)
    events_path = args.data / f"events-{args.days}d-{args.branches}b-s{args.seed}.jsonl"
    if not events_path.exists():
        # Simulate in a separate process, so that the memory figures below are replay's alone.
        started = time.perf_counter()
        out_dir = args.data / events_path.stem
        subprocess.run(
            [sys.executable, "-m", "riskmon.cli", "simulate", "--days", str(args.days),
             "--branches", str(args.branches), "--seed", str(args.seed), "--out-dir", str(out_dir)],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        (out_dir / "events.jsonl").rename(events_path)
        print(f"simulated in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    ruleset = load_rules()
    engine = Engine(ruleset, extra_stages=model_stages_for(args.models, ruleset))
    alerts_path = args.data / "alerts.jsonl"
    cpu = time.process_time()
    with alerts_path.open("w", encoding="utf-8") as out:
        stats = replay(
            read_lines([str(events_path)]),
            engine,
            lambda alert: out.write(alert.to_json() + "\n"),
            lambda letter: None,
        )
    cpu = time.process_time() - cpu
    for stage in engine.stages:
        stage.snapshot(engine.state[stage.name])
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    entities = {
        name: sum(1 for key in mapping if not key.startswith("#"))
        for name, mapping in engine.state.items()
        if name != "__meta__"
    }
    values = [
        json.dumps(value)
        for n, m in engine.state.items()
        if n != "__meta__"
        for key, value in m.items()
        if not key.startswith("#")  # per-partition models are not per-entity state
    ]
    state_bytes = sum(len(v) for v in values)
    object_bytes = sum(_object_size(json.loads(v)) for v in values)
    total_entities = sum(entities.values()) or 1
    print(f"events            {stats.events:,}")
    print(f"alerts            {stats.alerts:,} {dict(stats.by_category)}")
    print(f"seconds           {stats.seconds:.1f}")
    print(f"events/s          {stats.events_per_second:,.0f}")
    print(f"events per CPU s  {stats.events / cpu:,.0f}")
    print(f"peak RSS          {peak_mib:,.0f} MiB")
    print(
        f"state at end      {entities} entities, {state_bytes / total_entities:.0f} B/entity"
        f" (JSON), {object_bytes / total_entities:.0f} B/entity (Python objects)"
    )
    print(
        f"| {stats.events:,} | {args.days} d x {args.branches} branches | "
        f"{stats.events_per_second:,.0f} | {stats.events / cpu:,.0f} | {stats.alerts:,} | "
        f"{peak_mib:,.0f} MiB | {state_bytes / total_entities:.0f} B |"
    )
    return 0


def _object_size(value: object) -> int:
    """Bytes of a JSON-shaped value's Python objects (``sys.getsizeof`` summed; small integers
    and the empty containers that CPython shares are counted, so this is an upper bound)."""
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(_object_size(k) + _object_size(v) for k, v in value.items())
    elif isinstance(value, list):
        size += sum(_object_size(v) for v in value)
    return size


if __name__ == "__main__":
    raise SystemExit(main())
