"""A fingerprint of `riskmon replay`'s alerts and dead letters: speed changes must not move it.

    .venv/bin/python -m bench.fingerprint out/bench/events.jsonl [--models]

Runs ``riskmon replay`` on the file (default settings and rule packs, optionally ``--models``)
and prints the number of alerts and dead letters and a SHA-256 over their sorted JSON lines
(``detected_at`` left out: it is the only wall-clock field).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def fingerprint(path: Path, models: bool) -> tuple[int, int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        alerts_path, dead_path = Path(tmp) / "alerts.jsonl", Path(tmp) / "dead.jsonl"
        command = [sys.executable, "-m", "riskmon.cli", "replay", str(path),
                   "--alerts-out", str(alerts_path), "--dead-letter", str(dead_path)]  # fmt: skip
        if models:
            command.append("--models")
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        alerts = []
        for line in alerts_path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            data.pop("detected_at", None)
            alerts.append(json.dumps(data, sort_keys=True))
        dead = dead_path.read_text(encoding="utf-8").splitlines()
    digest = hashlib.sha256()
    for line in sorted(alerts) + sorted(dead):
        digest.update(line.encode() + b"\n")
    return len(alerts), len(dead), digest.hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("events", type=Path)
    parser.add_argument("--models", action="store_true")
    args = parser.parse_args()
    count, dead, digest = fingerprint(args.events, args.models)
    print(f"{args.events.name} models={args.models} alerts={count} dead={dead} sha256={digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
