"""What every chaos scenario shares: a small simulated day, the alerts replay expects, and figures.

A scenario feeds the same events to real `riskmon worker` processes on a real broker while it
injects a fault, collects what reached the alerts topic, and reports one line of figures:

    events_in  alerts_expected  alerts_delivered  redelivered  duplicates  lost  recovery_s

``alerts_expected`` comes from replay of the same events. ``redelivered`` counts copies of one
``alert_id`` (at-least-once delivery; deduplication by ``alert_id`` removes them). ``duplicates``
counts alerts that survive that deduplication without being expected (a second id for one
case), ``lost`` expected alerts that never came. Every scenario asserts both are zero.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.events import encode_event
from monitor.rules.loader import load_rules
from monitor.simulator import SimConfig, simulate
from streams.replay import SourceLine, read_lines, replay
from tests.integration.stream_harness import Pipeline, WorkerProcess, alert_ids, until

__all__ = [
    "FIGURES",
    "Figures",
    "Pipeline",
    "WorkerProcess",
    "alert_ids",
    "expected_alerts",
    "simulated_day",
    "until",
    "wait_for",
]

FIGURES: list[str] = []
"""Lines printed at the end of the session by ``tests/chaos/conftest.py``."""


def simulated_day(tmp_path: Path, seed: int, branches: int = 2) -> Path:
    """One simulated day (the size ``riskmon simulate --days 1 --branches 2`` makes)."""
    sim = simulate(SimConfig(seed=seed, days=1, branches=branches, inject_rate=1.0))
    path = tmp_path / "events.jsonl"
    path.write_text("".join(encode_event(e) + "\n" for e in sim.events), encoding="utf-8")
    return path


def expected_alerts(lines: Iterable[SourceLine]) -> tuple[set[str], int]:
    """Alert ids replay gives for ``lines``, and how many lines it dead-lettered."""
    alerts: list[Alert] = []
    dead: list[Any] = []
    replay(list(lines), Engine(load_rules()), alerts.append, dead.append)
    return {a.alert_id for a in alerts}, len(dead)


def file_lines(path: Path) -> list[SourceLine]:
    return list(read_lines([str(path)]))


@dataclass
class Figures:
    scenario: str
    events_in: int
    expected: set[str]
    delivered: list[str]
    recovery_s: float
    note: str = ""

    @property
    def lost(self) -> int:
        return len(self.expected - set(self.delivered))

    @property
    def duplicates(self) -> int:
        return len(set(self.delivered) - self.expected)

    @property
    def redelivered(self) -> int:
        return len(self.delivered) - len(set(self.delivered))

    def line(self) -> str:
        return (
            f"{self.scenario:<22} events_in={self.events_in:<5} "
            f"alerts_expected={len(self.expected):<4} "
            f"alerts_delivered={len(set(self.delivered)):<4} redelivered={self.redelivered:<4} "
            f"duplicates={self.duplicates} lost={self.lost} "
            f"recovery_s={self.recovery_s:.1f}" + (f"  {self.note}" if self.note else "")
        )

    def report(self) -> None:
        """Record and print the figures, then assert nothing was lost or duplicated."""
        FIGURES.append(self.line())
        print(self.line())
        assert (self.lost, self.duplicates) == (0, 0), self.line()


def wait_for(
    pipe: Pipeline,
    expected: set[str],
    timeout: float,
    workers: Iterable[WorkerProcess] = (),
    settle: float = 3.0,
) -> list[str]:
    """Alert ids on the alerts topic once ``expected`` are all there (or at ``timeout``).

    Reads on for ``settle`` seconds after that, so a wrong extra alert would be seen.
    """
    group = list(workers)

    def alive() -> None:
        if group and not any(w.process and w.process.poll() is None for w in group):
            raise AssertionError("no worker alive:\n" + "\n".join(w.tail() for w in group))

    done_at: list[float] = []

    def done(messages: list[Any]) -> bool:
        if not done_at and expected <= set(alert_ids(messages)):
            done_at.append(time.monotonic())
        return bool(done_at) and time.monotonic() - done_at[0] >= settle

    return alert_ids(pipe.collect(pipe.topics["alerts"], done, timeout, alive))


def dead_letters(pipe: Pipeline, count: int, timeout: float) -> list[Any]:
    """Records on the dead-letter topic, once ``count`` are there (or at ``timeout``)."""
    return pipe.collect(pipe.topics["deadletter"], lambda m: len(m) >= count, timeout)


def headers_of(record: Any) -> dict[str, bytes]:
    return {name: value for name, value in record.headers or ()}


def reason_counts(records: Iterable[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        reason = headers_of(record).get("reason", b"?").decode()
        counts[reason] = counts.get(reason, 0) + 1
    return counts


def json_line(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))
