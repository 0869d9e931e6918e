"""Running tail quantiles and the alert threshold calibrated from a target alert rate.

A threshold for "the top 0.05 % of scores" needs the extreme tail, which a P² sketch estimates
poorly from few samples. :class:`TailQuantile` keeps the exact largest scores of the current and
the previous *epoch* of ``epoch`` scores (a bounded, sorted reservoir): the (1 - rate) quantile of
the last one to two epochs is the k-th largest of those, k = rate x count. State is two short
sorted lists, so it is cheap to snapshot and identical after a round trip.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from monitor.models.state import check_state

__all__ = ["Calibrator", "TailQuantile"]

DAY = 86_400.0


class TailQuantile:
    """The (1 - rate) quantile of the last ``epoch`` to ``2 * epoch`` values, for small rates.

    Values may carry a ``key`` (the entity): then only the entity's largest value of the epoch is
    kept, so that one entity's burst of forty high scores counts as one, as it raises one alert.

    >>> tail = TailQuantile(keep=4, epoch=100)
    >>> for v in range(100):
    ...     tail.update(float(v))
    >>> tail.quantile(0.02)  # 2 of 100 values are at or above it
    98.0
    >>> keyed = TailQuantile(keep=4, epoch=1000)
    >>> for v in range(100):
    ...     keyed.update(float(v), key="burst" if v > 90 else None)
    >>> keyed.quantile(0.02)  # the burst 91..99 counts once, as 99
    90.0
    """

    def __init__(self, keep: int = 128, epoch: int = 50_000) -> None:
        self.keep = keep
        self.epoch = epoch
        self._current: list[tuple[float, str]] = []  # ascending; key "" when none
        self._previous: list[tuple[float, str]] = []
        self._keys: dict[str, float] = {}  # key -> its value in _current
        self._count = 0
        self._previous_count = 0
        self._merged: list[float] | None = None  # both epochs' top values, largest first

    def update(self, value: float, key: str | None = None) -> None:
        if not math.isfinite(value):
            return
        self._count += 1
        self._insert(value, key or "")
        if self._count >= self.epoch:
            self._previous, self._previous_count = self._current, self._count
            self._current, self._count, self._keys = [], 0, {}
            self._merged = None

    def _insert(self, value: float, key: str) -> None:
        top = self._current
        held = self._keys.get(key) if key else None
        if held is not None:
            if value <= held:
                return
            top.remove((held, key))
            del self._keys[key]
        entry = (value, key)
        if len(top) >= self.keep:
            if entry <= top[0]:
                return
            _, dropped = top.pop(0)
            self._keys.pop(dropped, None)
        bisect.insort(top, entry)
        if key:
            self._keys[key] = value
        self._merged = None

    @property
    def count(self) -> int:
        return self._count + self._previous_count

    def quantile(self, rate: float) -> float:
        """The value exceeded by about ``rate`` of the recent values (``inf`` when unknown)."""
        total = self.count
        if total == 0:
            return math.inf
        merged = self._merged
        if merged is None:
            values = [v for v, _ in self._previous] + [v for v, _ in self._current]
            merged = self._merged = sorted(values, reverse=True)
        k = max(1, math.ceil(rate * total))
        if k > len(merged):
            return merged[-1] if merged and k <= self.keep else -math.inf
        return merged[k - 1]

    def to_state(self) -> dict[str, Any]:
        return {
            "version": 2,
            "kind": "tail_quantile",
            "keep": self.keep,
            "epoch": self.epoch,
            "current": [[v, k] for v, k in self._current],
            "previous": [[v, k] for v, k in self._previous],
            "count": self._count,
            "previous_count": self._previous_count,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TailQuantile:
        check_state(state, "tail_quantile", 2)
        tail = cls(keep=int(state["keep"]), epoch=int(state["epoch"]))
        tail._current = [(float(v), str(k)) for v, k in state["current"]]
        tail._previous = [(float(v), str(k)) for v, k in state["previous"]]
        tail._keys = {k: v for v, k in tail._current if k}
        tail._count = int(state["count"])
        tail._previous_count = int(state["previous_count"])
        return tail


class Calibrator:
    """An alert threshold from a target alert rate, or from a fixed daily volume, in event time.

    The target rate is ``alerts_per_10k`` scored events, so the alert volume follows traffic: a
    bank twice the size, with twice the accounts and twice the incidents, gets twice the alerts.
    ``alerts_per_day`` (when set) fixes the volume instead: the rate becomes
    ``alerts_per_day / events_per_day``, with the event rate measured from the stream itself
    (events counted over the event-time span seen). Either way, :attr:`expected_per_day` is the
    daily volume to expect. Until ``warmup`` scores spanning ``warmup_days`` of event time have
    been seen the threshold is infinite: no alert during warm-up.

    >>> cal = Calibrator(alerts_per_10k=10.0, warmup=10)
    >>> for i in range(1000):
    ...     cal.update(float(i % 100), i * 86.4)  # 1000 scores a day
    >>> round(cal.rate, 4), cal.threshold(), round(cal.expected_per_day, 1)
    (0.001, 99.0, 1.0)
    >>> Calibrator(alerts_per_day=2.0).rate  # nothing seen yet: every score would alert
    1.0
    """

    def __init__(
        self,
        alerts_per_10k: float = 2.0,
        alerts_per_day: float | None = None,
        warmup: int = 5_000,
        warmup_days: float = 0.0,
        keep: int = 128,
        epoch: int = 50_000,
    ) -> None:
        self.alerts_per_10k = alerts_per_10k
        self.alerts_per_day = alerts_per_day
        self.warmup = warmup
        self.warmup_days = warmup_days
        self.tail = TailQuantile(keep=keep, epoch=epoch)
        self.seen = 0
        self.first: float | None = None
        self.last: float | None = None

    def update(self, score: float, moment: float, key: str | None = None) -> None:
        self.tail.update(score, key)
        self.seen += 1
        if self.first is None:
            self.first = moment
        self.last = moment if self.last is None else max(self.last, moment)

    @property
    def events_per_day(self) -> float:
        if self.first is None or self.last is None:
            return 0.0
        return self.seen / max((self.last - self.first) / DAY, 1.0)

    @property
    def rate(self) -> float:
        """The share of scores that should alert."""
        if self.alerts_per_day is None:
            return min(1.0, self.alerts_per_10k / 10_000)
        per_day = self.events_per_day
        return min(1.0, self.alerts_per_day / per_day) if per_day > 0 else 1.0

    @property
    def expected_per_day(self) -> float:
        """The alert volume to expect per day at the traffic seen so far."""
        if self.alerts_per_day is not None:
            return self.alerts_per_day
        return self.rate * self.events_per_day

    @property
    def warm(self) -> bool:
        """Whether enough history (events and event-time days) has been seen to alert."""
        if self.seen < self.warmup or self.first is None or self.last is None:
            return False
        return (self.last - self.first) / DAY >= self.warmup_days

    def threshold(self) -> float:
        if not self.warm:
            return math.inf
        return self.tail.quantile(self.rate)

    def to_state(self) -> dict[str, Any]:
        return {
            "version": 2,
            "kind": "calibrator",
            "alerts_per_10k": self.alerts_per_10k,
            "alerts_per_day": self.alerts_per_day,
            "warmup": self.warmup,
            "warmup_days": self.warmup_days,
            "tail": self.tail.to_state(),
            "seen": self.seen,
            "first": self.first,
            "last": self.last,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Calibrator:
        check_state(state, "calibrator", 2)
        per_day = state["alerts_per_day"]
        cal = cls(
            alerts_per_10k=float(state["alerts_per_10k"]),
            alerts_per_day=None if per_day is None else float(per_day),
            warmup=int(state["warmup"]),
            warmup_days=float(state["warmup_days"]),
        )
        cal.tail = TailQuantile.from_state(state["tail"])
        cal.seen = int(state["seen"])
        cal.first = state["first"]
        cal.last = state["last"]
        return cal
