"""Replay: JSONL files or stdin through the engine, with a dead-letter file for bad lines.

Nothing is dropped silently: every line is either an event the engine saw or a dead letter with
its source, line number, raw text and reason. State can be saved and loaded as JSON so that a file
split in two and replayed with state carried over gives the same alerts as one pass.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TextIO

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.errors import EventDecodeError
from monitor.events import Event, Transaction, decode_event
from monitor.excerpt import dead_letter_excerpt
from monitor.metrics import RiskmonMetrics
from streams.exposition import EngineGauges

_PROGRESS_EVERY = 65536


class SourceLine(NamedTuple):
    """One input line: its source, line number and text (a named tuple: one is made per line)."""

    source: str
    number: int
    text: str


@dataclass(frozen=True)
class DeadLetter:
    source: str
    line: int
    reason: str
    detail: str
    raw: str

    def to_json(self) -> str:
        # The line, or an excerpt of an oversized one (bad bytes as \xNN), with the size and hash
        # of all of it: the same bytes, size and hash as the worker's dead-letter record.
        kept = dead_letter_excerpt(self.raw.encode("utf-8", errors="surrogateescape"))
        return json.dumps(
            {
                "source": self.source,
                "line": self.line,
                "reason": self.reason,
                "detail": self.detail,
                "raw": kept.text,
                "raw_bytes": kept.size,
                "raw_sha256": kept.sha256,
                "raw_truncated": kept.truncated,
            },
            ensure_ascii=False,
        )


@dataclass
class ReplayStats:
    events: int = 0
    dead_letters: int = 0
    alerts: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    dead_by_reason: Counter[str] = field(default_factory=Counter)
    redeliveries: int = 0
    """Repeated events (same id, same content) dropped by the ``admit`` screen."""
    seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


def read_lines(paths: Iterable[str], stdin: TextIO | None = None) -> Iterator[SourceLine]:
    """Lines of each file in order; ``-`` reads standard input. Blank lines are skipped."""
    for name in paths:
        if name == "-":
            handle = stdin or sys.stdin
            yield from _lines("<stdin>", handle)
        else:
            with open(name, encoding="utf-8", errors="surrogateescape", newline="") as handle:
                yield from _lines(name, handle)


def _lines(source: str, handle: TextIO) -> Iterator[SourceLine]:
    for number, text in enumerate(handle, start=1):
        stripped = text.rstrip("\r\n")
        if stripped.strip():
            yield SourceLine(source, number, stripped)


def replay(
    lines: Iterable[SourceLine],
    engine: Engine,
    on_alert: Callable[[Alert], None],
    on_dead_letter: Callable[[DeadLetter], None],
    *,
    flush: bool = True,
    progress: Callable[[int], None] | None = None,
    metrics: RiskmonMetrics | None = None,
    admit: Callable[[Event], bool] | None = None,
    source_of: Callable[[Event], str] | None = None,
) -> ReplayStats:
    """Decode each line, run it through ``engine``, hand alerts and dead letters to callbacks.

    ``source_of`` names each event's source for the engine's watermark and lateness check
    (:func:`kafka_source`: the input partition the worker would read it from); default: one
    source, the whole input.

    ``progress`` is called with the number of characters consumed since its last call (about
    every 64 KiB, and at the end), for a progress bar.
    ``metrics`` (optional) counts records, dead letters, alerts and per-event processing time.
    ``admit`` (optional) screens each decoded event: ``False`` drops a redelivery (counted), an
    :class:`EventDecodeError` dead-letters it (``duplicate_event_id``, ``unknown_currency``).
    """
    stats = ReplayStats()
    started = time.perf_counter()
    observe = _Observer(engine, metrics) if metrics is not None else None

    def emit(alerts: list[Alert]) -> None:
        for alert in alerts:
            stats.alerts += 1
            stats.by_category[alert.category] += 1
            if metrics is not None:
                metrics.alert_emitted(alert)
            on_alert(alert)

    def dead(line: SourceLine, reason: str, detail: str, kind: str | None = None) -> None:
        stats.dead_letters += 1
        stats.dead_by_reason[reason] += 1
        if metrics is not None:
            if kind is None:
                metrics.dead_letter(reason, line.source)
            else:
                metrics.time_rejected(kind, reason, line.source)
        on_dead_letter(DeadLetter(line.source, line.number, reason, detail, line.text))
        engine.dead_letter(_branch_of(line.text) or f"source:{line.source}")

    consumed = 0  # characters read since progress was last told (told about every 64 KiB)
    for line in lines:
        if progress is not None:
            consumed += len(line.text) + 1
            if consumed >= _PROGRESS_EVERY:
                progress(consumed)
                consumed = 0
        try:
            # decode_event checks the size limit (once), then the encoding and the contract.
            event = decode_event(line.text.encode("utf-8", errors="surrogateescape"))
            if admit is not None and not admit(event):
                stats.redeliveries += 1
                continue
        except EventDecodeError as exc:
            dead(line, exc.reason, exc.detail)
        else:
            source = "" if source_of is None else source_of(event)
            rejected = engine.admit(event, source)
            if rejected is not None:  # its time is out of range, or later than the lateness
                dead(line, *rejected, kind=event.kind)
            else:
                stats.events += 1
                if observe is None:
                    emit(engine.process(event, source))
                else:
                    emit(observe.process(event, source))
    if progress is not None and consumed:
        progress(consumed)
    if flush:
        emit(engine.flush())
    if observe is not None:
        observe.gauges.update()
    stats.seconds = time.perf_counter() - started
    return stats


def _branch_of(text: str) -> str | None:
    """The branch a rejected line names, if it is a JSON object with a usable ``branch_id``."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    branch = raw.get("branch_id") if isinstance(raw, dict) else None
    return branch.strip() if isinstance(branch, str) and branch.strip() else None


class _Observer:
    """Times each event through the engine and refreshes its state gauges about once a second."""

    def __init__(self, engine: Engine, metrics: RiskmonMetrics) -> None:
        self.engine = engine
        self.metrics = metrics
        self.timer = metrics.event_processing.labels("engine")
        self.gauges = EngineGauges(engine, metrics)

    def process(self, event: Event, source: str) -> list[Alert]:
        begin = time.perf_counter()
        alerts = self.engine.process(event, source)
        self.timer.observe(time.perf_counter() - begin)
        self.metrics.processed(event.kind)
        self.metrics.branch_kpis(event)
        self.gauges.maybe_update()
        return alerts


def kafka_sources(partitions: int) -> list[str]:
    """Every source :func:`kafka_source` names, for :class:`~monitor.engine.Engine`."""
    return [f"{kind}:{p}" for kind in ("transaction", "operator_action") for p in range(partitions)]


def kafka_source(event: Event, partitions: int) -> str:
    """The input partition the worker reads ``event`` from, as ``riskmon produce`` keys it
    (transactions by account, operator actions by operator; Kafka's default partitioner).

    Replay judges lateness and moves its watermark per such source, exactly as the worker does
    per input partition, so that both give the same alerts and dead letters for one file.
    """
    if isinstance(event, Transaction):
        return _transaction_source(event.account_id, partitions)
    return _operator_source(event.operator_id, partitions)


@lru_cache(maxsize=1 << 17)
def _transaction_source(account_id: str, partitions: int) -> str:
    return f"transaction:{_partition(account_id, partitions)}"


@lru_cache(maxsize=1 << 14)
def _operator_source(operator_id: str, partitions: int) -> str:
    return f"operator_action:{_partition(operator_id, partitions)}"


def _partition(key: str, partitions: int) -> int:
    from streams.worker.runner import partition_for  # Kafka's partitioner, without faust

    return partition_for(key, partitions)


def load_state(path: Path) -> dict[str, MutableMapping[str, Any]]:
    """Load engine state saved by :func:`save_state` (``{}`` if the file does not exist)."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("version") != 1:
        raise ValueError(f"{path}: unknown state version {data.get('version')!r}")
    state: dict[str, MutableMapping[str, Any]] = data["stages"]
    return state


def save_state(path: Path, state: MutableMapping[str, MutableMapping[str, Any]]) -> None:
    """Write engine state atomically as JSON with a version header."""
    payload = {"version": 1, "stages": {k: dict(v) for k, v in state.items()}}
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
