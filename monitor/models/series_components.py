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

__all__ = [
    "Calendar",
    "FlatLineDetector",
    "SeasonalProfile",
    "SeriesStateError",
    "TailCalibrator",
    "as_float",
    "as_float_list",
    "as_int",
    "as_list",
    "as_optional_float",
    "huber_surprise",
    "variance_surprise",
]

LN10 = math.log(10.0)
HUBER_CORNER = 3.0
SECONDS_PER_DAY = 86_400.0


class SeriesStateError(ValueError):
    """A snapshot given to ``from_state`` is not one this version wrote."""


def as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SeriesStateError(f"expected a number in the snapshot, got {value!r}")
    return float(value)


def as_optional_float(value: object) -> float | None:
    return None if value is None else as_float(value)


def as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeriesStateError(f"expected an integer in the snapshot, got {value!r}")
    return value


def as_float_list(value: object) -> list[float]:
    if not isinstance(value, list):
        raise SeriesStateError(f"expected a list in the snapshot, got {type(value).__name__}")
    return [as_float(v) for v in value]


def as_list(value: object, length: int) -> list[object]:
    if not isinstance(value, list) or len(value) != length:
        raise SeriesStateError(f"expected a list of {length} items in the snapshot")
    return value


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

    def __init__(self, q90: float = LN10, q99: float = 2.0 * LN10) -> None:
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
        if raw > self.q90:
            self.q90 *= 1.0 + 0.9 * rate
        else:
            self.q90 = max(LN10, self.q90 * (1.0 - 0.1 * rate))
        if raw > self.q99:
            self.q99 *= 1.0 + 0.99 * rate
        else:
            self.q99 = max(2.0 * LN10, self.q99 * (1.0 - 0.01 * rate))

    def to_list(self) -> list[float]:
        return [self.q90, self.q99]

    @classmethod
    def from_list(cls, values: object) -> TailCalibrator:
        q90, q99 = as_list(values, 2)
        return cls(as_float(q90), as_float(q99))


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

    def key(self, ts: datetime | None) -> tuple[int, int] | None:
        """``(day_of_week, bucket)`` for ``ts``, or ``None`` when seasonality does not apply."""
        if ts is None or self.buckets == 0:
            return None
        seconds = ts.hour * 3600 + ts.minute * 60 + ts.second
        return ts.weekday(), int(seconds * self.buckets // SECONDS_PER_DAY)

    def learn(self, ts: datetime | None) -> bool:
        """Record ``ts``; returns True on the row where the bucket layout gets decided."""
        if ts is None or self.decided:
            return False
        epoch = ts.timestamp()
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
    """Additive time-of-day offsets, pooled over all days and per day of week, shrunk together.

    Each bucket's offset is a running mean whose count is capped, so old days fade. A day-of-week
    offset is trusted in proportion to how often that weekday's bucket has been seen, so weekends
    fall back to the pooled profile until they have a history of their own.
    """

    __slots__ = ("buckets", "dow_mean", "dow_n", "pooled_mean", "pooled_n")

    POOLED_CAP = 10.0
    DOW_CAP = 4.0
    SHRINK = 2.0

    def __init__(self, buckets: int) -> None:
        self.buckets = buckets
        self.pooled_mean = [0.0] * buckets
        self.pooled_n = [0.0] * buckets
        self.dow_mean = [0.0] * (7 * buckets)
        self.dow_n = [0.0] * (7 * buckets)

    def offset(self, key: tuple[int, int]) -> float | None:
        dow, b = key
        n = self.pooled_n[b]
        if n <= 0.0:
            return None
        k = dow * self.buckets + b
        nd = self.dow_n[k]
        if nd <= 0.0:
            return self.pooled_mean[b]
        return (nd * self.dow_mean[k] + self.SHRINK * self.pooled_mean[b]) / (nd + self.SHRINK)

    def learn(self, key: tuple[int, int], residual: float, weight: float) -> None:
        dow, b = key
        n = min(self.pooled_n[b] + weight, self.POOLED_CAP)
        self.pooled_n[b] = n
        self.pooled_mean[b] += weight / n * (residual - self.pooled_mean[b])
        k = dow * self.buckets + b
        nd = min(self.dow_n[k] + weight, self.DOW_CAP)
        self.dow_n[k] = nd
        self.dow_mean[k] += weight / nd * (residual - self.dow_mean[k])

    def shift(self, delta: float) -> None:
        """Move every offset by ``delta`` (used when the level absorbs a seasonal mean)."""
        self.pooled_mean = [m + delta for m in self.pooled_mean]
        self.dow_mean = [m + delta for m in self.dow_mean]

    def to_list(self) -> list[object]:
        return [self.buckets, self.pooled_mean, self.pooled_n, self.dow_mean, self.dow_n]

    @classmethod
    def from_list(cls, values: object) -> SeasonalProfile:
        buckets, pooled_mean, pooled_n, dow_mean, dow_n = as_list(values, 5)
        prof = cls(as_int(buckets))
        prof.pooled_mean = as_float_list(pooled_mean)
        prof.pooled_n = as_float_list(pooled_n)
        prof.dow_mean = as_float_list(dow_mean)
        prof.dow_n = as_float_list(dow_n)
        if len(prof.pooled_mean) != prof.buckets or len(prof.dow_mean) != 7 * prof.buckets:
            raise SeriesStateError("seasonal profile has the wrong number of buckets")
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
