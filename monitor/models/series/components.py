"""Building blocks of :class:`monitor.models.series.SeriesDetector`.

Conventions: every statistic is a *surprise* in nats, roughly minus the log of a tail probability,
so 0 is unremarkable and 10 is about a one-in-22 000 event. Components are small mutable objects
with ``to_list``/``from_list`` so that the detector's state stays plain JSON. Each has a pure
``surprise``-style read and a separate ``learn`` write, because the detector scores before it
learns.
"""

from __future__ import annotations

import math
from datetime import datetime

from monitor.models.series.state import (
    as_float,
    as_float_list,
    as_int,
    as_list,
    as_optional_float,
)

__all__ = [
    "Calendar",
    "FlatLineDetector",
    "RarityTail",
    "SeasonalProfile",
    "TailCalibrator",
    "huber_surprise",
    "variance_surprise",
]

LN10 = math.log(10.0)
LN100 = math.log(100.0)
HUBER_CORNER = 3.0
SECONDS_PER_DAY = 86_400.0
EPOCH = datetime(1970, 1, 1)


def huber_surprise(z: float) -> float:
    """Surprise of a standard score: Gaussian in the core, exponential in the tails.

    Real operational series have heavier tails than a Gaussian; the linear tail keeps a 12-sigma
    value remarkable without letting it dwarf every other piece of evidence.
    """
    a = abs(z)
    if a <= HUBER_CORNER:
        return 0.5 * a * a
    return HUBER_CORNER * a - 0.5 * HUBER_CORNER * HUBER_CORNER


def variance_surprise(ratio: float, n_eff: float) -> float:
    """Gaussian log-likelihood ratio for a variance ``ratio`` seen over ``n_eff`` samples."""
    r = max(ratio, 1e-6)
    return 0.5 * n_eff * (r - 1.0 - math.log(r))


class TailCalibrator:
    """Turns a raw surprise into a calibrated one, from the detector's own history.

    Two stochastic-approximation quantile trackers follow the 90% and 99% quantiles of the raw
    surprise; above the 90% quantile the tail is taken as exponential through both. This is the
    analogue of Numenta's anomaly likelihood: a detector that is noisy on this series (heavy tails,
    autocorrelation) is scaled down. It is one-sided: the quantiles never drop below their nominal
    values, so a detector that is silent on this series does not become trigger-happy.
    """

    __slots__ = ("q90", "q99")

    def __init__(self, q90: float = LN10, q99: float = LN100) -> None:
        self.q90 = q90
        self.q99 = q99

    def calibrate(self, raw: float) -> float:
        q90 = self.q90
        if raw <= q90:
            return raw * LN10 / q90
        beta = max((self.q99 - q90) / LN10, 1.0)
        return LN10 + (raw - q90) / beta

    def learn(self, raw: float, rate: float) -> None:
        # Multiplicative Robbins-Monro steps: the equilibrium exceedance rate is 1 - p.
        q = self.q90
        if raw > q:
            self.q90 = q * (1.0 + 0.9 * rate)
        elif q > LN10:
            q *= 1.0 - 0.1 * rate
            self.q90 = q if q > LN10 else LN10
        q = self.q99
        if raw > q:
            self.q99 = q * (1.0 + 0.99 * rate)
        elif q > LN100:
            q *= 1.0 - 0.01 * rate
            self.q99 = q if q > LN100 else LN100

    def to_list(self) -> list[float]:
        return [self.q90, self.q99]

    @classmethod
    def from_list(cls, values: object) -> TailCalibrator:
        q90, q99 = as_list(values, 2)
        return cls(as_float(q90), as_float(q99))


class RarityTail:
    """How often a detector's raw surprise has reached a level lately: habituation to the routine.

    A decayed histogram of the raw surprise (two bins per doubling, about ``HORIZON`` rows of
    memory) gives the empirical chance that a value at least this large turns up. It counts
    events, not rows: a row is counted only when its surprise climbs into a higher bin than the
    row before, so one long anomaly (a stuck feed whose surprise grows row after row) is one
    event per magnitude, not dozens that would mute the next one. A series whose normal
    includes spikes (a load balancer's bursts, a batch job every few hours) then stops alarming
    on them once a magnitude has turned up more than ``REPEAT`` times within the memory, however
    large its raw surprise, while a magnitude not seen that often keeps its full surprise. It
    only ever lowers a surprise, so a quiet detector is never made more sensitive.

    Counts are kept on a growing scale (``gain``) so that a row costs O(1); the histogram is
    rescaled before the scale overflows. ``surprise`` is a pure read.
    """

    __slots__ = ("counts", "gain", "last", "total")

    BINS = 80
    HORIZON = 2000.0
    REPEAT = 3.0  # magnitudes seen this many times (decayed) or fewer are still news
    PRIOR = 20.0  # rows of nominal tail (exp(-surprise)) mixed into the empirical one

    def __init__(self) -> None:
        self.counts = [0.0] * self.BINS
        self.total = 0.0
        self.gain = 1.0
        self.last = 0  # the previous row's bin

    @classmethod
    def _bin(cls, raw: float) -> int:
        if raw < 1.0:
            return 0
        return min(cls.BINS - 1, 1 + int(2.0 * math.log2(raw)))

    def surprise(self, raw: float) -> float:
        """``-log`` of the decayed empirical chance of a raw surprise this large; inf if new."""
        k = self._bin(raw)
        if k == 0:
            return math.inf
        seen = sum(self.counts[k:]) / self.gain - self.REPEAT
        if seen <= 0.0:
            return math.inf
        tail = seen + self.PRIOR * math.exp(-min(raw, 700.0))
        return -math.log(tail / (self.total / self.gain + self.PRIOR))

    def learn(self, raw: float) -> None:
        self.gain /= 1.0 - 1.0 / self.HORIZON
        k = self._bin(raw)
        if k > self.last:
            self.counts[k] += self.gain
        self.last = k
        self.total += self.gain
        if self.gain > 1e12:
            g = self.gain
            self.counts = [c / g for c in self.counts]
            self.total /= g
            self.gain = 1.0

    def to_list(self) -> list[object]:
        return [self.counts, self.total, self.gain, self.last]

    @classmethod
    def from_list(cls, values: object) -> RarityTail:
        counts, total, gain, last = as_list(values, 4)
        tail = cls()
        tail.counts = as_float_list(counts, cls.BINS)
        tail.total, tail.gain, tail.last = as_float(total), as_float(gain), as_int(last)
        return tail


class Calendar:
    """Maps timestamps to seasonal buckets once the sampling interval is known.

    The interval is the median of the first ``probe`` positive gaps. Buckets are about three
    sampling intervals wide (24 to 288 per day) so each gets a few points a day; daily data keeps
    only the day-of-week effect and data sparser than every three days has no seasonality.
    """

    __slots__ = ("buckets", "gaps", "last_epoch", "probe", "rows_per_day")

    def __init__(self, probe: int = 32) -> None:
        self.probe = probe
        self.gaps: list[float] = []
        self.last_epoch: float | None = None
        self.buckets = 0  # 0 while undecided or when there is no seasonality
        self.rows_per_day = 0.0

    @property
    def decided(self) -> bool:
        return len(self.gaps) >= self.probe

    def key(self, ts: datetime | None) -> tuple[int, int, int] | None:
        """``(day of week, bucket, ordinal date)`` for ``ts``, or None without seasonality."""
        if ts is None or self.buckets == 0:
            return None
        seconds = ts.hour * 3600 + ts.minute * 60 + ts.second
        return ts.weekday(), int(seconds * self.buckets // SECONDS_PER_DAY), ts.toordinal()

    def learn(self, ts: datetime | None) -> bool:
        """Record ``ts``; returns True on the row where the bucket layout gets decided."""
        if ts is None or self.decided:
            return False
        # Naive times are read as UTC: the machine's own time zone must not change the result.
        epoch = (ts - EPOCH).total_seconds() if ts.tzinfo is None else ts.timestamp()
        last, self.last_epoch = self.last_epoch, epoch
        if last is None or epoch <= last:
            return False
        self.gaps.append(epoch - last)
        if not self.decided:
            return False
        gap = sorted(self.gaps)[len(self.gaps) // 2]
        self.rows_per_day = SECONDS_PER_DAY / gap
        if gap >= 3 * SECONDS_PER_DAY:
            self.buckets = 0
        elif gap >= SECONDS_PER_DAY / 4:
            self.buckets = 1
        else:
            self.buckets = min(288, max(24, round(self.rows_per_day / 3.0)))
        return True

    def to_list(self) -> list[object]:
        return [self.probe, self.gaps, self.last_epoch, self.buckets, self.rows_per_day]

    @classmethod
    def from_list(cls, values: object) -> Calendar:
        probe, gaps, last_epoch, buckets, rows_per_day = as_list(values, 5)
        cal = cls(as_int(probe))
        cal.gaps = as_float_list(gaps)
        cal.last_epoch = as_optional_float(last_epoch)
        cal.buckets = as_int(buckets)
        cal.rows_per_day = as_float(rows_per_day)
        return cal


class SeasonalProfile:
    """Typical value per time-of-day bucket: the median of its last few daily means.

    Weekdays and weekends are kept apart, because that is where operational volumes differ most;
    until one kind of day has a history in a bucket, the other kind stands in for it. A median
    over days needs no protection: one bad day (an outage, a stuck feed) never becomes the
    normal, while a change that persists is the normal after about half the remembered days.
    """

    __slots__ = ("acc", "buckets", "days", "history")

    def __init__(self, buckets: int, days: int = 5) -> None:
        self.buckets = buckets
        self.days = days
        self.history: list[list[float]] = [[] for _ in range(2 * buckets)]
        # Per slot, today's running sum, count and day number (its ordinal date).
        self.acc = [[0.0, 0.0, 0.0] for _ in range(2 * buckets)]

    def _slot(self, key: tuple[int, int, int]) -> int:
        return key[1] + self.buckets if key[0] >= 5 else key[1]

    def _typical(self, k: int, day: int) -> float | None:
        days = self.history[k]
        total, count, acc_day = self.acc[k]
        if count > 0.0 and acc_day != day:  # that day is over: it counts
            days = [*days[1 - self.days :], total / count]
        if not days:
            return None
        ordered = sorted(days)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])

    def lookup(self, key: tuple[int, int, int]) -> tuple[float, bool] | None:
        """``(typical value, whether it is this kind of day's own)``, or None before any."""
        k = self._slot(key)
        own = self._typical(k, key[2])
        if own is not None:
            return own, True
        other = self._typical(k - self.buckets if k >= self.buckets else k + self.buckets, -1)
        return None if other is None else (other, False)

    def learn(self, key: tuple[int, int, int], value: float) -> None:
        k = self._slot(key)
        acc = self.acc[k]
        if acc[2] != key[2]:
            if acc[1] > 0.0:
                self.history[k] = [*self.history[k][1 - self.days :], acc[0] / acc[1]]
            acc[0], acc[1], acc[2] = 0.0, 0.0, float(key[2])
        acc[0] += value
        acc[1] += 1.0

    def shift(self, delta: float) -> None:
        """Move the whole profile by ``delta``: a level change adopted as the new normal."""
        self.history = [[v + delta for v in days] for days in self.history]
        for acc in self.acc:
            acc[0] += delta * acc[1]

    def to_list(self) -> list[object]:
        return [self.buckets, self.days, self.history, self.acc]

    @classmethod
    def from_list(cls, values: object) -> SeasonalProfile:
        buckets, days, history, acc = as_list(values, 4)
        prof = cls(as_int(buckets), as_int(days))
        prof.history = [as_float_list(h) for h in as_list(history, 2 * prof.buckets)]
        prof.acc = [as_float_list(a, 3) for a in as_list(acc, 2 * prof.buckets)]
        return prof


class FlatLineDetector:
    """Stuck-feed detector: a run of exactly repeated values, against how often values repeat.

    Repeat frequencies are learned separately for the series' floor (its smallest value so far,
    e.g. zero transactions at night, where long runs are normal) and for everything else. A run of
    ``n`` repeats has surprise ``n * -log(p_repeat)``.
    """

    __slots__ = ("floor", "last", "run", "stats")

    DECAY = 0.998

    def __init__(self) -> None:
        self.last: float | None = None
        self.floor: float | None = None
        self.run = 0
        # [repeats at floor, rows at floor, repeats elsewhere, rows elsewhere]
        self.stats = [0.0, 0.0, 0.0, 0.0]

    def _at_floor(self, value: float) -> bool:
        return self.floor is not None and value <= self.floor

    def surprise(self, value: float) -> float:
        if value != self.last:
            return 0.0
        i = 0 if self._at_floor(value) else 2
        p = (self.stats[i] + 0.5) / (self.stats[i + 1] + 1.0)
        return (self.run + 1) * -math.log(p)

    def learn(self, value: float) -> None:
        repeat = value == self.last
        i = 0 if self._at_floor(value) else 2
        stats = self.stats
        stats[i] = stats[i] * self.DECAY + (1.0 if repeat else 0.0)
        stats[i + 1] = stats[i + 1] * self.DECAY + 1.0
        self.run = self.run + 1 if repeat else 0
        self.last = value
        if self.floor is None or value < self.floor:
            self.floor = value

    def to_list(self) -> list[object]:
        return [self.last, self.floor, self.run, self.stats]

    @classmethod
    def from_list(cls, values: object) -> FlatLineDetector:
        last, floor, run, stats = as_list(values, 4)
        det = cls()
        det.last = as_optional_float(last)
        det.floor = as_optional_float(floor)
        det.run = as_int(run)
        det.stats = as_float_list(stats)
        return det
