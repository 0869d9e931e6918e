"""`riskmon replay` of one file, this tree against another git ref, side by side in CPU time.

    .venv/bin/python bench/replay_ab.py out/week/events.jsonl --ref main --rounds 3 [--models]

Exports ``--ref`` with ``git archive`` into a temporary directory, then runs ``riskmon replay``
(default settings, alerts to a temporary file) alternately from that copy and from this tree,
``--rounds`` times each, with this tree's interpreter. Each run's CPU time (user + system of the
child process, start-up included) gives its events per CPU second, the steadier figure on a
shared machine; the medians and their ratio are printed, and whether both gave the same alerts
(``bench/fingerprint.py``'s hash, without the wall-clock ``detected_at``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(tree: Path, events: Path, out: Path, models: bool) -> tuple[float, str]:
    """CPU seconds of one ``riskmon replay`` run from ``tree``, and its alerts' hash."""
    command = [sys.executable, "-m", "riskmon.cli", "replay", str(events), "--alerts-out", str(out)]
    if models:
        command.append("--models")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        command,
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = []
    for line in out.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        data.pop("detected_at", None)
        lines.append(json.dumps(data, sort_keys=True))
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:16]
    return cpu, digest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=Path)
    parser.add_argument("--ref", default="main")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--models", action="store_true")
    args = parser.parse_args()
    events = args.events.resolve()
    with events.open("rb") as handle:
        count = sum(1 for line in handle if line.strip())
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "ref"
        base.mkdir()
        archive = Path(tmp) / "ref.tar"
        subprocess.run(
            ["git", "archive", "--format=tar", "-o", str(archive), args.ref], check=True, cwd=ROOT
        )
        with tarfile.open(archive) as tar:
            tar.extractall(base, filter="data")
        cpu: dict[str, list[float]] = {args.ref: [], "this tree": []}
        hashes: dict[str, set[str]] = {args.ref: set(), "this tree": set()}
        for round_ in range(args.rounds):
            for label, tree in ((args.ref, base), ("this tree", ROOT)):
                seconds, digest = run(tree, events, Path(tmp) / "alerts.jsonl", args.models)
                cpu[label].append(seconds)
                hashes[label].add(digest)
                print(
                    f"round {round_ + 1} {label:>10}: {seconds:6.1f} CPU s, "
                    f"{count / seconds:8,.0f} events per CPU second, alerts {digest}",
                    flush=True,
                )
    medians = {label: statistics.median(values) for label, values in cpu.items()}
    for label, seconds in medians.items():
        print(f"median {label:>10}: {count / seconds:8,.0f} events per CPU second")
    print(f"this tree / {args.ref}: {medians[args.ref] / medians['this tree']:.2f}x")
    same = len(hashes[args.ref] | hashes["this tree"]) == 1
    print("alerts: the same" if same else f"alerts DIFFER: {hashes}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
