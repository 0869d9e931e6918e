"""Watermark generators and event-time bounds.

As in Flink, the watermark is produced by a small pluggable object: it sees each event's time
(``on_event``) and says what the watermark is now (``current``). Replay and the worker run the
same stages and timers (:mod:`monitor.stage`) and differ only in the generator they plug in:

- replay: :class:`BoundedLateness`, the largest event time seen per source minus the allowed
  lateness (one source: the input file);
- the worker: ``streams.worker.runner.SourceClock``, the slowest input partition's progress
  (reported in ticks) minus the allowed lateness.

No single event may drag the watermark forward or be judged against one that did:
:class:`TimeBounds` refuses events outside fixed bounds (``time_out_of_range``) and events later
than the allowed lateness behind their source's progress (``late_event``). The adapters check it
before an event reaches the stages and dead-letter what it refuses.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

__all__ = [
    "EARLIEST_EVENT_TIME",
    "BoundedLateness",
    "TimeBounds",
    "TimeRejection",
    "WatermarkGenerator",
]

EARLIEST_EVENT_TIME = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
"""The default floor of event time: nothing a bank sends today is older."""

TimeRejection = tuple[Literal["late_event", "time_out_of_range"], str]
"""A dead-letter reason and its detail."""


class WatermarkGenerator(Protocol):
    """Where a watermark comes from (Flink's ``WatermarkGenerator``)."""

    def on_event(self, moment: float, source: str) -> None:
        """An admitted event of ``source`` at event time ``moment`` (epoch seconds)."""
        ...

    def current(self, now: float | None = None) -> float | None:
        """The watermark now (``None``: not known yet). ``now`` is wall time, for generators
        that judge how fresh their inputs are; replay's ignores it."""
        ...


class BoundedLateness:
    """The largest event time seen per source minus ``lateness``; the slowest source rules.

    ``progress`` may be a mapping the caller keeps (the engine keeps it in its state, so that a
    run resumed from saved state continues exactly where it stopped). With ``expected``
    sources, the watermark is ``None`` until each of them has been seen (as in the worker, where
    every input partition must report before any deadline fires).

    >>> gen = BoundedLateness(300.0)
    >>> gen.current() is None
    True
    >>> gen.on_event(1000.0, ""); gen.on_event(900.0, "")
    >>> gen.current()
    700.0
    >>> gen.end_of_input()
    1000.0
    """

    def __init__(
        self,
        lateness: float,
        progress: MutableMapping[str, float] | None = None,
        expected: Collection[str] | None = None,
    ) -> None:
        self.lateness = lateness
        self.progress: MutableMapping[str, float] = progress if progress is not None else {}
        self.expected = tuple(expected) if expected is not None else None
        self._ready = False

    def on_event(self, moment: float, source: str) -> None:
        if moment > self.progress.get(source, float("-inf")):
            self.progress[source] = moment

    def current(self, now: float | None = None) -> float | None:
        if self.expected is None:
            return min(self.progress.values()) - self.lateness if self.progress else None
        if not self._ready:  # once every source has been seen, it stays so
            if not self.expected or any(s not in self.progress for s in self.expected):
                return None
            self._ready = True
        return min(map(self.progress.__getitem__, self.expected)) - self.lateness

    def end_of_input(self) -> float | None:
        """Where the watermark goes when the input ends: the largest event time seen."""
        return max(self.progress.values()) if self.progress else None

    def source_progress(self, source: str) -> float | None:
        return self.progress.get(source)

    def stream_progress(self) -> float | None:
        return max(self.progress.values()) if self.progress else None


@dataclass(frozen=True)
class TimeBounds:
    """Which event times are admitted (settings; see the README's "Event time").

    ``earliest``
        Event times before it are ``time_out_of_range`` (year 1970 or 0001 is a broken clock).
    ``max_ahead``
        Seconds an event may be ahead of the *reference*: the stream's own progress in replay,
        the wall clock in the worker. Further ahead is ``time_out_of_range``: one event dated
        2099 must not fire every pending deadline.
    ``lateness``
        Seconds an event may be behind its source's progress; further behind is ``late_event``
        (the deadlines it could change may already have fired). ``None`` admits late events.

    >>> bounds = TimeBounds(lateness=300.0, max_ahead=86400.0)
    >>> bounds.check(1_800_000_000.0, progress=None, reference=None) is None
    True
    >>> bounds.check(4_000_000_000.0, progress=None, reference=1_800_000_000.0)[0]
    'time_out_of_range'
    >>> bounds.check(1_799_999_000.0, progress=1_800_000_000.0, reference=None)[0]
    'late_event'
    >>> bounds.check(0.0, progress=None, reference=None)[0]
    'time_out_of_range'
    """

    lateness: float | None = 300.0
    max_ahead: float | None = 86400.0
    earliest: float | None = EARLIEST_EVENT_TIME

    def check(
        self, moment: float, progress: float | None, reference: float | None
    ) -> TimeRejection | None:
        """Why an event at ``moment`` is refused, or ``None`` if it is admitted.

        ``progress``: the largest event time already seen from the event's source;
        ``reference``: what ``max_ahead`` is measured from (stream progress or wall clock).
        """
        if self.earliest is not None and moment < self.earliest:
            return "time_out_of_range", (
                f"event time {_iso(moment)} is before the earliest accepted {_iso(self.earliest)}"
            )
        ahead = self.max_ahead
        if ahead is not None and reference is not None and moment > reference + ahead:
            return "time_out_of_range", (
                f"event time {_iso(moment)} is more than {self.max_ahead:g}s ahead of "
                f"{_iso(reference)}"
            )
        late = self.lateness
        if late is not None and progress is not None and moment < progress - late:
            return "late_event", (
                f"event time {_iso(moment)} is {progress - moment:g}s behind its source's "
                f"progress {_iso(progress)}; the allowed lateness is {self.lateness:g}s"
            )
        return None


def _iso(moment: float) -> str:
    try:
        return datetime.fromtimestamp(moment, UTC).isoformat()
    except (OverflowError, OSError, ValueError):
        return f"{moment:g}"
