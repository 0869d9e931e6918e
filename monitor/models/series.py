"""Online anomaly detector for one operational time series (DRAFT docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from monitor.models.series_components import (
    Calendar,
    FlatLineDetector,
    SeasonalProfile,
    SeriesStateError,
    TailCalibrator,
    as_float,
    as_float_list,
    as_int,
    as_list,
    as_optional_float,
    huber_surprise,
    variance_surprise,
)

__all__ = ["DETECTORS", "STATE_VERSION", "SeriesDetector", "SeriesStateError"]

STATE_VERSION = 1

NAIVE, FAST, SLOW, SEASONAL = 0, 1, 2, 3
DETECTORS = ("point", "level", "variance", "drift", "flat")
POINT, LEVEL, VARIANCE, DRIFT, FLAT = range(5)
LN_DETECTORS = math.log(len(DETECTORS))

CLIP = 4.0  # a residual is learned as at most CLIP scales: a spike cannot drag the baseline
MAD_TO_SD = 1.2533  # mean absolute deviation to standard deviation, for a Gaussian
COMPETENT = 2.0  # experts this much vaguer than the best one are left out of the mixture
LW_DECAY = 0.9  # expert weights remember about ten rows: regime switches are followed fast
LW_FLOOR = math.log(0.01)
LOSS_CAP = 20.0
CUSUM_K = 0.5
VAR_ALPHA = 0.05
VAR_N_EFF = 2.0 / VAR_ALPHA - 1.0
SHIFT_ALPHA = 0.3
DRIFT_FAST = 1.0 / 30.0
CAL_RATE = 0.05


@dataclass(slots=True)
class _Evaluation:
    """Everything ``score_one`` works out, so ``learn_one`` on the same row need not redo it."""

    value: float
    timestamp: datetime | None
    key: tuple[int, int] | None = None
    offset: float | None = None
    preds: tuple[float | None, ...] = ()
    sds: tuple[float, ...] = ()
    z: tuple[float, ...] = ()
    ref: int = SLOW
    raw: tuple[float, ...] = (0.0,) * len(DETECTORS)
    calibrated: tuple[float, ...] = (0.0,) * len(DETECTORS)
    surprise: float = 0.0
    score: float = 0.0
    cusum: tuple[float, float] = (0.0, 0.0)
    var: float = 1.0
    drift_fast: float = 0.0
    drift_gap: float = 0.0


class SeriesDetector:
    """Scores each row of a univariate series in [0, 1]; higher is more anomalous."""

    def __init__(
        self,
        *,
        warmup: int = 100,
        alarm_surprise: float = 10.0,
        seasonality: bool = True,
        fast_alpha: float = 0.25,
        slow_alpha: float = 0.05,
        scale_alpha: float = 0.02,
        drift_horizon: int = 1000,
    ) -> None:
        if warmup < 0:
            raise ValueError("warmup must be >= 0")
        if alarm_surprise <= 0.0:
            raise ValueError("alarm_surprise must be > 0")
        for name, alpha in (
            ("fast_alpha", fast_alpha),
            ("slow_alpha", slow_alpha),
            ("scale_alpha", scale_alpha),
        ):
            if not 0.0 < alpha <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if drift_horizon < 2:
            raise ValueError("drift_horizon must be >= 2")
        self.warmup = warmup
        self.alarm_surprise = alarm_surprise
        self.seasonality = seasonality
        self.fast_alpha = fast_alpha
        self.slow_alpha = slow_alpha
        self.scale_alpha = scale_alpha
        self.drift_horizon = drift_horizon

        self._n = 0
        self._last: float | None = None
        self._fast = 0.0
        self._slow = 0.0
        self._season_level = 0.0
        self._season_alpha = 0.0
        self._sigma = [0.0, 0.0, 0.0, 0.0]
        self._lw = [0.0, 0.0, 0.0, LW_FLOOR]
        self._count_like = True
        self._quantum = 0.0
        self._cusum = [0.0, 0.0, 0.0]  # positive sum, negative sum, recent reference residual
        self._var = 1.0
        self._drift = [0.0, 0.0, 0.0]  # fast mean, slow mean, mean squared gap
        self._flat = FlatLineDetector()
        self._calibrators = [TailCalibrator() for _ in DETECTORS]
        self._calendar = Calendar()
        self._profile: SeasonalProfile | None = None
        self._pending: _Evaluation | None = None

    # ------------------------------------------------------------------ public API

    def score_one(self, value: float | None, timestamp: datetime | None = None) -> float:
        """Anomaly score of ``value`` in [0, 1], from what was learned so far; learns nothing."""
        x = _finite(value)
        if x is None:
            return 0.0
        ev = self._evaluate(x, timestamp)
        self._pending = ev
        return ev.score

    def learn_one(self, value: float | None, timestamp: datetime | None = None) -> None:
        """Update the model with ``value``; missing or non-finite values are ignored."""
        x = _finite(value)
        if x is None:
            return
        ev = self._pending
        if ev is None or ev.value != x or ev.timestamp != timestamp:
            ev = self._evaluate(x, timestamp)
        self._pending = None
        self._learn(x, timestamp, ev)

    def update(self, value: float | None, timestamp: datetime | None = None) -> float:
        """``score_one`` then ``learn_one``; returns the score."""
        score = self.score_one(value, timestamp)
        self.learn_one(value, timestamp)
        return score

    def explain(self) -> dict[str, float]:
        """Evidence behind the last score: per-detector surprise, expected value and its scale."""
        ev = self._pending
        if ev is None or not ev.preds:
            return {}
        out = {name: ev.calibrated[i] for i, name in enumerate(DETECTORS)}
        expected = ev.preds[ev.ref]
        if expected is not None:
            out["expected"] = expected
            out["scale"] = ev.sds[ev.ref]
        return out

    # ------------------------------------------------------------------ scoring

    def _evaluate(self, x: float, ts: datetime | None) -> _Evaluation:
        last = self._last
        if last is None:
            return _Evaluation(x, ts)
        profile = self._profile
        key = self._calendar.key(ts) if profile is not None else None
        offset = profile.offset(key) if profile is not None and key is not None else None
        preds: tuple[float | None, ...] = (
            last,
            self._fast,
            self._slow,
            None if offset is None else self._season_level + offset,
        )
        floor = max(0.5 * self._quantum, 1e-9 * (1.0 + abs(self._slow)))
        sds: list[float] = []
        zs: list[float] = []
        best = NAIVE
        for i, pred in enumerate(preds):
            if pred is None:
                sds.append(math.inf)
                zs.append(0.0)
                continue
            sd = max(self._sigma[i], floor)
            if self._count_like:
                sd = max(sd, math.sqrt(max(pred, 0.0) + 0.25))
            sds.append(sd)
            zs.append((x - pred) / sd)
            if sd < sds[best]:
                best = i
        s_best = sds[best]
        lw = self._lw
        terms: list[float] = []
        prior: list[float] = []
        for i, sd in enumerate(sds):
            if sd <= COMPETENT * s_best:
                prior.append(lw[i])
                terms.append(lw[i] - huber_surprise(zs[i]) - math.log(sd / s_best))
        point = _logsumexp(prior) - _logsumexp(terms)

        ref = SEASONAL if sds[SEASONAL] < sds[SLOW] else SLOW
        u_ref = max(-CLIP, min(CLIP, zs[ref]))
        pos = max(0.0, self._cusum[0] + u_ref - CUSUM_K)
        neg = max(0.0, self._cusum[1] - u_ref - CUSUM_K)
        level = 2.0 * CUSUM_K * max(pos, neg)

        u_best = zs[best]
        var = self._var + VAR_ALPHA * (min(u_best * u_best, CLIP * CLIP) - self._var)
        variance = variance_surprise(var, VAR_N_EFF)

        y = x if offset is None else x - offset
        d_fast, d_slow, d_var = self._drift
        d_fast += DRIFT_FAST * (y - d_fast)
        gap = d_fast - d_slow
        drift = 0.0
        if self._n >= max(self.warmup, self.drift_horizon // 3) and d_var > 0.0:
            drift = huber_surprise(gap / math.sqrt(d_var))

        flat = self._flat.surprise(x)
        raw = (point, level, variance, drift, flat)
        cal = tuple(c.calibrate(r) for c, r in zip(self._calibrators, raw, strict=True))
        surprise = max(0.0, max(cal) - LN_DETECTORS)
        score = 0.0
        if self._n >= self.warmup:
            ratio = surprise / self.alarm_surprise
            score = 1.0 - math.exp(-math.log(2.0) * ratio * ratio)
        return _Evaluation(
            x,
            ts,
            key,
            offset,
            preds,
            tuple(sds),
            tuple(zs),
            ref,
            raw,
            cal,
            surprise,
            score,
            (pos, neg),
            var,
            d_fast,
            gap,
        )

    # ------------------------------------------------------------------ learning

    def _learn(self, x: float, ts: datetime | None, ev: _Evaluation) -> None:
        last = self._last
        self._n += 1
        n = self._n
        if self._count_like and (x < 0.0 or x != math.floor(x)):
            self._count_like = False
        self._flat.learn(x)
        if last is None:
            self._last = self._fast = self._slow = x
            self._drift = [x, x, 0.0]
            self._learn_calendar(ts)
            return
        step = abs(x - last)
        if step > 0.0 and (self._quantum == 0.0 or step < self._quantum):
            self._quantum = step
        ratio = ev.surprise / self.alarm_surprise
        weight = 1.0 if n <= self.warmup else 1.0 / (1.0 + ratio**4)
        self._learn_experts(x, ev, weight)
        self._learn_detectors(x, ev, weight)
        if n >= self.warmup // 2:
            rate = CAL_RATE * (1.0 if ratio < 1.0 else 0.1)
            for cal, raw in zip(self._calibrators, ev.raw, strict=True):
                cal.learn(raw, rate)
        self._learn_calendar(ts)

    def _learn_experts(self, x: float, ev: _Evaluation, weight: float) -> None:
        n = self._n
        scale_rate = max(self.scale_alpha, 1.0 / n) * weight
        clip_on = n > 10
        sigma = self._sigma
        residuals: list[float] = []
        for i, pred in enumerate(ev.preds):
            if pred is None:
                residuals.append(0.0)
                continue
            e = x - pred
            limit = CLIP * ev.sds[i]
            if clip_on:
                e = max(-limit, min(limit, e))
            residuals.append(e)
            sigma[i] += scale_rate * (MAD_TO_SD * abs(e) - sigma[i])
        self._last = x
        self._fast += max(self.fast_alpha, 1.0 / n) * weight * residuals[FAST]
        self._slow += max(self.slow_alpha, 1.0 / n) * weight * residuals[SLOW]
        profile = self._profile
        if profile is not None and ev.key is not None:
            if ev.offset is None:
                profile.learn(ev.key, x - self._season_level, 1.0)
            else:
                self._season_level += self._season_alpha * weight * residuals[SEASONAL]
                e = x - self._season_level - ev.offset
                if clip_on:
                    limit = CLIP * ev.sds[SEASONAL]
                    e = max(-limit, min(limit, e))
                profile.learn(ev.key, ev.offset + e, weight)
        lw = self._lw
        top = -math.inf
        for i, sd in enumerate(ev.sds):
            if sd < math.inf:
                lw[i] = LW_DECAY * lw[i] - min(huber_surprise(ev.z[i]), LOSS_CAP) - math.log(sd)
                top = max(top, lw[i])
        for i, sd in enumerate(ev.sds):
            if sd < math.inf:
                lw[i] = max(LW_FLOOR, lw[i] - top)

    def _learn_detectors(self, x: float, ev: _Evaluation, weight: float) -> None:
        alarm = self.alarm_surprise
        cal = ev.calibrated
        n = self._n
        cusum = self._cusum
        pred_ref = ev.preds[ev.ref]
        resid = 0.0 if pred_ref is None else x - pred_ref
        cusum[2] += SHIFT_ALPHA * (resid - cusum[2])
        cusum[0], cusum[1] = ev.cusum
        drift = self._drift
        drift[0] = ev.drift_fast
        y = x if ev.offset is None else x - ev.offset
        drift[1] += max(1.0 / self.drift_horizon, 1.0 / n) * weight * (y - drift[1])
        gap_rate = max(0.5 / self.drift_horizon, 1.0 / n) * weight
        drift[2] += gap_rate * (ev.drift_gap * ev.drift_gap - drift[2])
        if cal[LEVEL] > alarm:
            # A confirmed level shift is adopted at once by every slow baseline.
            shift = cusum[2]
            self._slow += shift
            self._season_level += shift
            drift[1] += shift
            drift[0] = drift[1]
            cusum[0] = cusum[1] = cusum[2] = 0.0
        self._var = ev.var
        if cal[VARIANCE] > alarm:
            factor = math.sqrt(max(ev.var, 1e-6))
            self._sigma = [s * factor for s in self._sigma]
            self._var = 1.0
        if cal[DRIFT] > alarm:
            drift[1] = drift[0]

    def _learn_calendar(self, ts: datetime | None) -> None:
        if not self.seasonality:
            return
        if self._calendar.learn(ts) and self._calendar.buckets > 0:
            self._profile = SeasonalProfile(self._calendar.buckets)
            self._season_level = self._slow
            self._season_alpha = min(0.1, 4.0 / self._calendar.rows_per_day)
            self._sigma[SEASONAL] = self._sigma[SLOW]
            self._lw[SEASONAL] = LW_FLOOR

    # ------------------------------------------------------------------ snapshots

    def _config(self) -> dict[str, object]:
        return {
            "warmup": self.warmup,
            "alarm_surprise": self.alarm_surprise,
            "seasonality": self.seasonality,
            "fast_alpha": self.fast_alpha,
            "slow_alpha": self.slow_alpha,
            "scale_alpha": self.scale_alpha,
            "drift_horizon": self.drift_horizon,
        }

    def to_state(self) -> dict[str, object]:
        """A JSON-serialisable snapshot; ``from_state`` restores a detector that scores the same."""
        return {
            "version": STATE_VERSION,
            "kind": "SeriesDetector",
            "config": self._config(),
            "n": self._n,
            "levels": [self._last, self._fast, self._slow, self._season_level, self._season_alpha],
            "sigma": list(self._sigma),
            "log_weights": list(self._lw),
            "count_like": self._count_like,
            "quantum": self._quantum,
            "cusum": list(self._cusum),
            "variance": self._var,
            "drift": list(self._drift),
            "flat": self._flat.to_list(),
            "calibrators": [c.to_list() for c in self._calibrators],
            "calendar": self._calendar.to_list(),
            "profile": None if self._profile is None else self._profile.to_list(),
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> SeriesDetector:
        """Rebuild a detector from ``to_state`` output; raises ``SeriesStateError`` if foreign."""
        if state.get("version") != STATE_VERSION or state.get("kind") != "SeriesDetector":
            raise SeriesStateError(
                f"not a SeriesDetector snapshot of version {STATE_VERSION}: "
                f"kind={state.get('kind')!r} version={state.get('version')!r}"
            )
        config = state.get("config")
        if not isinstance(config, dict):
            raise SeriesStateError("snapshot has no config")
        det = cls(
            warmup=as_int(config.get("warmup")),
            alarm_surprise=as_float(config.get("alarm_surprise")),
            seasonality=bool(config.get("seasonality")),
            fast_alpha=as_float(config.get("fast_alpha")),
            slow_alpha=as_float(config.get("slow_alpha")),
            scale_alpha=as_float(config.get("scale_alpha")),
            drift_horizon=as_int(config.get("drift_horizon")),
        )
        det._n = as_int(state.get("n"))
        last, fast, slow, season_level, season_alpha = as_list(state.get("levels"), 5)
        det._last = as_optional_float(last)
        det._fast = as_float(fast)
        det._slow = as_float(slow)
        det._season_level = as_float(season_level)
        det._season_alpha = as_float(season_alpha)
        det._sigma = _float_list(state.get("sigma"), 4)
        det._lw = _float_list(state.get("log_weights"), 4)
        det._count_like = bool(state.get("count_like"))
        det._quantum = as_float(state.get("quantum"))
        det._cusum = _float_list(state.get("cusum"), 3)
        det._var = as_float(state.get("variance"))
        det._drift = _float_list(state.get("drift"), 3)
        det._flat = FlatLineDetector.from_list(state.get("flat"))
        cals = as_list(state.get("calibrators"), len(DETECTORS))
        det._calibrators = [TailCalibrator.from_list(c) for c in cals]
        det._calendar = Calendar.from_list(state.get("calendar"))
        profile = state.get("profile")
        det._profile = None if profile is None else SeasonalProfile.from_list(profile)
        return det


def _float_list(value: object, length: int) -> list[float]:
    out = as_float_list(value)
    if len(out) != length:
        raise SeriesStateError(f"expected {length} numbers in the snapshot, got {len(out)}")
    return out


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
