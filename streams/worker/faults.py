"""The worker's failure handling: records that cannot be sent, agents that raise, noisy outages.

Three rules, each for a fault seen on the real broker:

- **A dead letter always fits.** The dead letter of a record carries the record's bytes plus
  headers, so a record near the producer's limit made a dead letter over it, and the send raised.
  :func:`dead_letter_record` keeps the whole value when it fits and is not larger than
  ``keep_bytes``; otherwise it keeps a bounded excerpt and says so in headers (``truncated``,
  ``original_size``, ``original_sha256``). Every dead letter carries the size and hash. The kept
  bytes, size and hash come from :func:`monitor.excerpt.dead_letter_excerpt`, as in replay.
- **A failing agent stops the worker.** faust's default supervisor restarted a failed agent inside
  the process, and the new actor went on past the failed batch, whose offsets were then committed:
  events lost while the worker looked healthy. :class:`AgentGuard` makes every agent's failure
  fatal: it logs one clear line, counts it, and stops the worker, which exits non-zero. The failed
  batch was never acknowledged, so the next start processes it again.
- **An absent broker is reported, not spammed.** :class:`RepeatFilter` lets a repeated log
  message through once per interval and counts what it held back.

Bundles of events sent to the stage topics are split by :func:`split_bundle` so each stays under
the producer's limit.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder
from mode import OneForOneSupervisor

from monitor.excerpt import KEEP_WHOLE_BYTES, MAX_EXCERPT_BYTES, dead_letter_excerpt, excerpt
from streams.worker.faust_private import refuse_commits

log = logging.getLogger(__name__)

PRODUCER_MAX_REQUEST_SIZE = 1_000_000
"""faust's default ``producer_max_request_size``: the largest record the worker may send."""
DEAD_LETTER_KEEP_BYTES = KEEP_WHOLE_BYTES
"""A dead-lettered value up to this size is kept whole (the event size limit)."""
DEAD_LETTER_EXCERPT_BYTES = MAX_EXCERPT_BYTES
"""What is kept of a larger value: its first bytes."""
MAX_KEY_BYTES = 1024
"""A longer record key is replaced by its hash in the dead letter."""
_HEADROOM = 512
"""Bytes left free under the producer's limit for the batch framing of one record."""

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class DeadLetterRecord:
    """What to send to the dead-letter topic for one input record."""

    key: bytes | None
    value: bytes
    headers: Headers
    truncated: bool


def record_size(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> int:
    """The size the producer computes for one record (and compares with its limit)."""
    return int(DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, list(headers)))


def dead_letter_record(
    raw: bytes,
    key: bytes | None,
    headers: Sequence[tuple[str, bytes]],
    *,
    limit: int = PRODUCER_MAX_REQUEST_SIZE,
    keep_bytes: int = DEAD_LETTER_KEEP_BYTES,
    excerpt_bytes: int = DEAD_LETTER_EXCERPT_BYTES,
) -> DeadLetterRecord:
    """The dead letter of ``raw``: whole if small, else an excerpt; always under ``limit``.

    >>> letter = dead_letter_record(b"x" * 2_000_000, b"k", [("reason", b"too_large")])
    >>> len(letter.value), letter.truncated, dict(letter.headers)["original_size"]
    (4096, True, b'2000000')
    >>> record_size(letter.key, letter.value, letter.headers) < 1_000_000
    True
    """
    # The same kept bytes, size and hash as replay's dead-letter file (monitor.excerpt).
    kept = dead_letter_excerpt(raw, keep_whole=keep_bytes, limit=excerpt_bytes)
    base: Headers = [(name, value[:2000]) for name, value in headers]
    base += [("original_size", str(kept.size).encode()), ("original_sha256", kept.sha256.encode())]
    if key is not None and len(key) > MAX_KEY_BYTES:
        base.append(("original_key_sha256", hashlib.sha256(key).hexdigest().encode()))
        key = key[:MAX_KEY_BYTES]
    budget = limit - _HEADROOM
    if not kept.truncated and record_size(key, kept.data, base) <= budget:
        return DeadLetterRecord(key, kept.data, base, truncated=False)
    marked = [*base, ("truncated", b"1")]
    room = budget - record_size(key, b"", marked)
    data = kept.data
    if not kept.truncated or len(data) > room:  # only a small producer limit gets here
        data = excerpt(raw, max(0, min(excerpt_bytes, room))).data
    return DeadLetterRecord(key, data, marked, truncated=True)


def split_bundle(
    items: Sequence[Sequence[str]], limit: int = PRODUCER_MAX_REQUEST_SIZE
) -> Iterator[bytes]:
    """Encode ``[[key, event JSON], ...]`` as JSON lists, each under ``limit`` bytes, in order.

    Events are at most 64 KiB (the decoder refuses larger ones), so any single item fits.

    >>> parts = list(split_bundle([["k", "x" * 600]] * 5, limit=2000))
    >>> [len(json.loads(p)) for p in parts]
    [2, 2, 1]
    """
    budget = limit - _HEADROOM
    chunk: list[bytes] = []
    size = 2  # the brackets
    for item in items:
        encoded = json.dumps(item).encode()  # each item is encoded once
        if chunk and size + len(encoded) + 2 > budget:
            yield b"[" + b", ".join(chunk) + b"]"
            chunk, size = [], 2
        chunk.append(encoded)
        size += len(encoded) + 2  # the item and its ", " separator
    if chunk:
        yield b"[" + b", ".join(chunk) + b"]"


@dataclass
class AgentGuard:
    """Makes any agent's failure stop the worker with one clear error, instead of a restart.

    Give each agent :meth:`options`, then :meth:`watch` the app. After the worker has stopped,
    :attr:`failure` says which agent failed and why (``None``: none did).
    """

    stop: Callable[[], None] = field(default=lambda: os.kill(os.getpid(), signal.SIGTERM))
    on_failure: Callable[[str, BaseException], None] | None = None
    failure: str | None = None
    app: Any = None
    """The app :meth:`watch` has seen: its consumer commits nothing after a failure
    (:func:`streams.worker.faust_private.refuse_commits`)."""

    def options(self) -> dict[str, Any]:
        """Keyword arguments for ``app.agent``: no restart inside the process after a failure.

        faust also cancels agents on a rebalance and relies on the supervisor to start them
        again; that restart is kept, until an agent has failed.
        """
        guard = self

        class GuardedSupervisor(OneForOneSupervisor):
            async def restart_services(self, services: list[Any]) -> None:
                if guard.failure is None:
                    await super().restart_services(services)

        return {"supervisor_strategy": GuardedSupervisor}

    def watch(self, app: Any) -> None:
        """Make :meth:`on_error` every agent's error handler.

        ``app.agent`` always installs faust's own handler, which commits the acknowledged
        offsets; this one stops the worker instead, and commits nothing more: after a failure,
        faust may acknowledge events no agent processed (see
        :func:`~streams.worker.faust_private.refuse_commits`), so the next start resumes from
        the last commit made before it.
        """
        self.app = app
        for agent in app.agents.values():
            agent._on_error = self.on_error  # faust offers no public way to set it

    async def on_error(self, agent: Any, exc: BaseException) -> None:
        name = str(getattr(agent, "name", agent)).rsplit(".", 1)[-1]
        first = self.failure is None
        if first:
            if self.app is not None:
                refuse_commits(self.app.consumer)
            self.failure = f"agent {name} failed: {type(exc).__name__}: {exc}"
            log.error(
                "%s; stopping the worker (the failed batch is not committed and is processed "
                "again on the next start)",
                self.failure,
            )
            if self.on_failure is not None:
                self.on_failure(name, exc)
            self.stop()


OWN_LOGGERS = frozenset({"riskmon", "streams", "monitor", "alerts"})
"""riskmon's own loggers: every line of theirs counts (a second pack refusal is news)."""


class RepeatFilter(logging.Filter):
    """Let one message of the clients (by logger and format) through per ``interval`` seconds.

    While the broker is away, the clients log the same connection error many times a second; one
    line per interval says the same, with a count of the lines held back since the last one.
    riskmon's own lines are never held back.
    """

    def __init__(self, interval: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.last: dict[tuple[str, object], float] = {}
        self.held: dict[tuple[str, object], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.name.split(".")[0] in OWN_LOGGERS:
            return True
        key = (record.name, record.msg)
        now = self.clock()
        if now - self.last.get(key, float("-inf")) < self.interval:
            self.held[key] = self.held.get(key, 0) + 1
            return False
        self.last[key] = now
        held = self.held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} [{held} like it in the last {self.interval:.0f} s]"
        return True

    def install(self) -> None:
        """Attach to every handler of the root logger (faust and aiokafka log through it)."""
        for handler in logging.getLogger().handlers:
            if self not in handler.filters:
                handler.addFilter(self)


class FailureTracebackFilter(logging.Filter):
    """Once the guard has stopped the worker, log shutdown errors as one line, without traceback.

    faust and asyncio log the same exception again while the worker stops (``Crashed reason``,
    ``exception was never retrieved``); the guard's own line already says what failed.
    """

    def __init__(self, guard: AgentGuard) -> None:
        super().__init__()
        self.guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        if self.guard.failure is not None and record.exc_info:
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(error).__name__})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True


def count_failures(registry: Any) -> Callable[[str, BaseException], None]:
    """An ``on_failure`` for :class:`AgentGuard` that counts failures on ``registry``.

    ``riskmon_worker_agent_failures_total{agent}`` stays readable while the worker shuts down.
    """
    from prometheus_client import Counter

    failures = Counter(
        "riskmon_worker_agent_failures",
        "Agent failures that stopped the worker, by agent.",
        ["agent"],
        registry=registry,
    )

    def count(agent: str, _exc: BaseException) -> None:
        failures.labels(agent).inc()

    return count


def run_worker(app: Any, guard: AgentGuard, *, loglevel: str) -> int:
    """Run the faust worker until it stops; returns its exit status (non-zero after a failure).

    While the broker is away, aiokafka's metadata retries are paced by its backoff
    (:func:`~streams.worker.aiokafka_private.throttle_failed_metadata_updates`) and the connection
    errors they log are rate-limited by :class:`RepeatFilter`.
    """
    import faust

    from streams.worker.aiokafka_private import throttle_failed_metadata_updates
    from streams.worker.logsafe import RecordContentFilter

    throttle_failed_metadata_updates()

    class Worker(faust.Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            # faust's progress spinner sets the root logger to DEBUG (it spins on every record),
            # so every debug call of faust and aiokafka built and filtered a record: two per
            # record sent, ~5% of the worker's CPU in a py-spy profile. No spinner, no DEBUG.
            self.spinner = None
            super().on_setup_root_logger(logger, level)
            RepeatFilter().install()
            RecordContentFilter().install()  # no event contents in DEBUG logs
            quiet = FailureTracebackFilter(guard)
            for handler in logging.getLogger().handlers:
                handler.addFilter(quiet)
            logging.getLogger("asyncio").addFilter(quiet)

    worker = Worker(app, loglevel=loglevel, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover  # execute_from_commandline always exits
        status = 0
    gc.collect()  # unretrieved send futures log now, before the caller's final line
    return 3 if guard.failure is not None else status
