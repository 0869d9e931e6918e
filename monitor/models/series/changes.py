"""Change detectors for :class:`monitor.models.series.SeriesDetector`.

They look at the stream through the reference expert's eyes and accumulate evidence over time:

``LevelShiftDetector``  two-sided CUSUM on standardised residuals (shifts of about two scales or
                        more, within a handful of rows).
``DriftDetector``       the gap between the recent level (30-row average) and the long-run normal
                        (a protected long average, or the seasonal profile), in units of the
                        current noise scale and measured against that gap's own history.
                        Catches slow drifts and small persistent shifts.
``VarianceDetector``    the recent mean square of standardised residuals (20 rows) against 1.

Each restarts once it has raised an alarm (the detector then adopts the change), so a
persistent change alarms at its onset instead of for as long as it lasts.
"""

from __future__ import annotations

import math

from monitor.models.series.components import huber_surprise, variance_surprise
from monitor.models.series.state import as_bool, as_float, as_float_list, as_list

__all__ = ["DriftDetector", "LevelShiftDetector", "VarianceDetector"]

CLIP = 4.0
CUSUM_K = 1.0  # tuned to shifts of two scales; smaller ones are the drift detector's job
RECENT_ALPHA = 0.3
NOW_ALPHA = 0.3
DRIFT_FAST = 1.0 / 30.0
SWITCH_RATIO = 0.64  # a channel takes over when its gap's mean square is this much smaller
SETTLE = 100  # rows before a drift baseline's scale is trusted enough to protect it
VAR_ALPHA = 0.05
VAR_N_EFF = 2.0 / VAR_ALPHA - 1.0


class LevelShiftDetector:
    __slots__ = ("neg", "pos", "recent")

    def __init__(self) -> None:
        self.pos = 0.0
        self.neg = 0.0
        self.recent = 0.0  # recent mean residual: the size of the shift, once confirmed

    def peek(self, z: float) -> tuple[float, float]:
        u = max(-CLIP, min(CLIP, z))
        return max(0.0, self.pos + u - CUSUM_K), max(0.0, self.neg - u - CUSUM_K)

    @staticmethod
    def surprise(pos: float, neg: float) -> float:
        # For unit Gaussian steps the CUSUM's tail is exp(-2 k c).
        return 2.0 * CUSUM_K * max(pos, neg)

    def learn(self, pos: float, neg: float, residual: float) -> None:
        self.pos, self.neg = pos, neg
        self.recent += RECENT_ALPHA * (residual - self.recent)

    def reset(self) -> None:
        self.pos = self.neg = self.recent = 0.0

    def to_list(self) -> list[float]:
        return [self.pos, self.neg, self.recent]

    def load(self, values: object) -> None:
        self.pos, self.neg, self.recent = as_float_list(values, 3)


def _protect(gap: float, mean_square: float) -> float:
    """Learning weight for a baseline given how unusual its current gap is (Huber weights)."""
    g2 = gap * gap
    return 1.0 if g2 <= 4.0 * mean_square else 4.0 * mean_square / g2


class _Channel:
    """A recent-level gap and its long-run mean square."""

    __slots__ = ("count", "gap", "sq")

    def __init__(self) -> None:
        self.gap = 0.0
        self.sq = 0.0
        self.count = 0

    def z(self, gap: float, armed: int) -> float:
        if self.count < armed or self.sq <= 0.0:
            return 0.0
        return gap / math.sqrt(self.sq)

    def protect(self, gap: float) -> float:
        return _protect(gap, self.sq) if self.count > SETTLE else 1.0

    def rate(self, horizon: int, weight: float) -> float:
        """Learning rate for this row: a running mean at first, then 1/horizon."""
        return max(1.0 / horizon, 1.0 / (self.count + 1)) * weight

    def learn(self, gap: float, rate: float) -> None:
        self.gap = gap
        self.count += 1
        g2 = gap * gap
        if self.count > SETTLE:
            # Winsorised, so a drift inflates its own yardstick only slowly (at most 0.3% a row
            # at the default horizon); not frozen, so a yardstick that started too small grows.
            g2 = min(g2, 4.0 * self.sq)
        self.sq += rate * (g2 - self.sq)


class DriftDetector:
    """Two channels: raw (recent average against a long average) and seasonal (recent average
    of the gap to the seasonal profile). The reference expert decides which one speaks."""

    __slots__ = ("baseline", "horizon", "now", "raw", "recent", "season", "seasonal")

    def __init__(self, horizon: int) -> None:
        self.horizon = horizon
        self.recent = 0.0  # 30-row average of the value
        self.baseline = 0.0  # protected long-run average of the value
        self.now = 0.0  # last few rows' average gap to the profile, in value units
        self.raw = _Channel()
        self.season = _Channel()
        self.seasonal = False  # which channel speaks: the one with the sharper yardstick

    def choose(self) -> bool:
        """Switch channel when the other one's gap has become clearly steadier; True if so."""
        armed = self.horizon // 3
        if self.season.count < armed or self.raw.count < armed:
            return False
        mine, other = (self.season, self.raw) if self.seasonal else (self.raw, self.season)
        if other.sq < SWITCH_RATIO * mine.sq:
            self.seasonal = not self.seasonal
            return True
        return False

    def peek(
        self, x: float, scale: float, expected: float | None, season_scale: float
    ) -> tuple[float, float, float]:
        """(new recent average, raw gap, seasonal gap); the seasonal gap is 0 without a profile.

        Gaps are in units of the current noise scale, so that a busy hour's larger swings and a
        quiet night's smaller ones are measured with the same yardstick.
        """
        recent = self.recent + DRIFT_FAST * (x - self.recent)
        season_gap = 0.0
        if expected is not None:
            z = (x - expected) / season_scale
            season_gap = self.season.gap + DRIFT_FAST * (z - self.season.gap)
        return recent, (recent - self.baseline) / scale, season_gap

    def surprise(self, gap: float, season_gap: float) -> float:
        if self.seasonal:
            return huber_surprise(self.season.z(season_gap, self.horizon // 3))
        return huber_surprise(self.raw.z(gap, self.horizon // 3))

    def season_z(self, season_gap: float) -> float:
        return self.season.z(season_gap, self.horizon // 3)

    def learn_raw(self, x: float, recent: float, gap: float, weight: float) -> None:
        if self.raw.count == 0:
            self.recent = self.baseline = x
            recent, gap = x, 0.0
        raw = self.raw
        rate = raw.rate(self.horizon, weight)
        self.baseline += rate * raw.protect(gap) * (x - self.baseline)
        self.recent = recent
        raw.learn(gap, rate)

    def learn_season(self, gap: float, deviation: float, weight: float) -> None:
        self.now += NOW_ALPHA * (deviation - self.now)
        season = self.season
        season.learn(gap, season.rate(self.horizon, weight))

    def adopt_raw(self) -> None:
        self.baseline = self.recent
        self.raw.gap = 0.0

    def reset_season(self) -> None:
        self.season.gap = 0.0
        self.now = 0.0

    def to_list(self) -> list[object]:
        r, s = self.raw, self.season
        return [
            self.recent,
            self.baseline,
            r.gap,
            r.sq,
            r.count,
            s.gap,
            s.sq,
            s.count,
            self.seasonal,
        ]

    def load(self, values: object) -> None:
        v = as_list(values, 9)
        self.recent, self.baseline = as_float(v[0]), as_float(v[1])
        self.seasonal = as_bool(v[8])
        for channel, (gap, sq, count) in ((self.raw, v[2:5]), (self.season, v[5:8])):
            channel.gap, channel.sq = as_float(gap), as_float(sq)
            channel.count = int(as_float(count))


class VarianceDetector:
    __slots__ = ("ms",)

    def __init__(self) -> None:
        self.ms = 1.0  # recent mean square of standardised residuals

    def peek(self, z: float, floored: bool) -> tuple[float, float]:
        """(new mean square, surprise); a scale sitting on its floor cannot show a decrease."""
        ms = self.ms + VAR_ALPHA * (min(z * z, CLIP * CLIP) - self.ms)
        if floored and ms < 1.0:
            return ms, 0.0
        return ms, variance_surprise(ms, VAR_N_EFF)

    def to_list(self) -> list[float]:
        return [self.ms]

    def load(self, values: object) -> None:
        (self.ms,) = as_float_list(values, 1)
