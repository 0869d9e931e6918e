"""Replay throughput of the embedded engine with the default rule packs.

    .venv/bin/python bench/replay_bench.py --days 18 --branches 20

Simulates a bank (seeded, with `riskmon simulate` in a subprocess), then replays the file as
`riskmon replay` does (read, decode, engine, write alerts) and reports events/s, peak memory and
state bytes per entity. Prints a markdown table row for bench/README.md.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=18)
    parser.add_argument("--branches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=Path("out/bench"))
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
    engine = Engine(ruleset)
    alerts_path = args.data / "alerts.jsonl"
    with alerts_path.open("w", encoding="utf-8") as out:
        stats = replay(
            read_lines([str(events_path)]),
            engine,
            lambda alert: out.write(alert.to_json() + "\n"),
            lambda letter: None,
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    entities = {name: len(mapping) for name, mapping in engine.state.items() if name != "__meta__"}
    state_bytes = sum(
        len(json.dumps(value))
        for n, m in engine.state.items()
        if n != "__meta__"
        for value in m.values()
    )
    total_entities = sum(entities.values()) or 1
    print(f"events            {stats.events:,}")
    print(f"alerts            {stats.alerts:,} {dict(stats.by_category)}")
    print(f"seconds           {stats.seconds:.1f}")
    print(f"events/s          {stats.events_per_second:,.0f}")
    print(f"peak RSS          {peak_mib:,.0f} MiB")
    print(
        f"state at end      {entities} entities, {state_bytes / total_entities:.0f} B/entity (JSON)"
    )
    print(
        f"| {stats.events:,} | {args.days} d x {args.branches} branches | "
        f"{stats.events_per_second:,.0f} | {stats.alerts:,} | {peak_mib:,.0f} MiB | "
        f"{state_bytes / total_entities:.0f} B |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
