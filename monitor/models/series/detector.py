"""Online anomaly detector for one operational time series.

``SeriesDetector`` scores each row of a univariate stream (transactions per branch per minute,
dead-letter rate, approval latency) in [0, 1]; higher is more anomalous. It is river-shaped:
``score_one`` then ``learn_one`` (which returns None), or ``update`` for both. A row's score
depends only on the rows before it and on the row itself.

>>> from datetime import datetime, timedelta
>>> det = SeriesDetector()
>>> t0 = datetime(2024, 3, 4)
>>> normal = [det.update(10.0 + (i % 7) / 10, t0 + timedelta(minutes=i)) for i in range(300)]
>>> max(normal) < 0.5
True
>>> det.update(25.0, t0 + timedelta(minutes=300)) > 0.9
True

Design, and why
---------------
1. *Forecasters* (``experts``): the last value, a fast and a slow robust level, and a
   seasonal profile plus an offset. The profile is the median of the last five daily means per
   time-of-day bucket, weekdays and weekends apart, with buckets about three sampling intervals
   wide (24 to 288 a day; day of week only for daily data; none without timestamps). Point
   surprise is the surprise under the forecasters' mixture, weighted by recent performance: a
   value must surprise every competent forecaster. Regular daily transitions, random walks and
   the rows after a regime change are therefore not news, while a spike is.
2. *Change detectors* (``changes``) on the residuals of the reference forecaster (the
   sharpest in the long run, the seasonal one preferred): a CUSUM for level shifts, a
   variance-ratio test for variance changes, and a drift test (recent level against the long-run
   normal or the seasonal profile, in units of the current noise, against that gap's own history)
   for slow drifts, small persistent shifts and broken seasonality. A flat-line test scores runs
   of exactly repeated values against how often values repeat (apart at the series' floor, where
   runs of zeros are normal at night).
3. *Calibration*, the analogue of Numenta's anomaly likelihood: each detector's raw surprise
   (nats) goes through a calibrator fitted to that detector's own history (its 90% and 99%
   quantiles, exponential tail beyond), which scales down detectors that are noisy on this
   series and never scales up a quiet one. The row's surprise ``S`` is the largest calibrated one
   minus log(5) (Bonferroni over the five), and the score is ``1 - 2**-(S / alarm_surprise)**2``:
   0.5 at ``alarm_surprise`` nats, near 0 on normal rows, near 1 at once on a clear anomaly. One
   calibrated scale for every series is what lets one threshold serve many series.
4. *Protected learning*: a row learns with weight ``1 / (1 + (S / alarm_surprise)**4)``,
   residuals are clipped at four scales, and a median over days ignores a bad day. *Onset, not
   duration*: once a change detector alone reaches the alarm, the change is adopted (levels move,
   the profile shifts, scales rescale) and that detector restarts, so a persistent level shift
   alarms at its start and then becomes the normal. Benchmarks such as NAB reward this: early
   detection, and few flagged rows outside the anomaly window.
5. *Warm-up*: score 0 for the first ``warmup`` valid rows; the level and drift tests also wait
   until their reference has served 100 rows and their yardsticks have settled.
6. *Habituation and onset* (``components.RarityTail``, ``onset_halflife``): a detector's surprise
   is capped by how often that magnitude has turned up lately (counted per event, about 2000 rows
   of memory), so routine bursts stop alarming however large; and the score discounts rows that
   only repeat an alarm just raised (``severity()`` keeps the undiscounted value), so a change
   scores at its onset, not for as long as it lasts.
7. *Strictly online and deterministic*: no randomness, no look-ahead, no whole-series min, max or
   length. The state is plain JSON with a version header (``to_state``/``from_state``); a restored
   detector scores the next row exactly as the uninterrupted one would. Missing or non-finite
   values score 0 and are not learned. About 25 microseconds of CPU per row, pure Python.

A windowed Gaussian, by contrast, has one yardstick for the whole window: it misses anything
inside the daily range, alarms at every daily peak of a seasonal series, and flags every row for
thousands of rows after a level shift.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from datetime import datetime

from monitor.models.series.changes import DriftDetector, LevelShiftDetector, VarianceDetector
from monitor.models.series.components import (
    Calendar,
    FlatLineDetector,
    RarityTail,
    SeasonalProfile,
    TailCalibrator,
)
from monitor.models.series.experts import FAST, SEASONAL, SLOW, Forecast, Forecasters
from monitor.models.series.state import SeriesStateError, as_bool, as_float, as_int, as_list

__all__ = ["DETECTORS", "STATE_VERSION", "SeriesDetector", "SeriesStateError"]

STATE_VERSION = 2
DETECTORS = ("point", "level", "variance", "drift", "flat")
POINT, LEVEL, VARIANCE, DRIFT, FLAT = range(5)
LN_DETECTORS = math.log(len(DETECTORS))
# Calibration speed per detector. Statistics that integrate over time (level, variance, drift)
# are autocorrelated: a slow anomaly would otherwise teach their calibrator to ignore it.
CAL_RATES = (0.05, 0.003, 0.02, 0.003, 0.05)
REF_SETTLE = 100  # rows a new reference expert must serve before level and drift may speak
LN2 = math.log(2.0)
MAINTAIN_Z = 6.0
ONSET_MARGIN = 0.2  # a row scores in full when this much more severe than the recent peak
RARITY_FROM = LN_DETECTORS + 1.0  # calibrated surprise below this is never news: skip the read


@dataclass(slots=True)
class _Evaluation:
    """Everything ``score_one`` works out, so that ``learn_one`` on the same row reuses it."""

    value: float
    timestamp: datetime | None
    key: tuple[int, int, int] | None = None
    expected: float | None = None  # the seasonal profile's value for this row
    own: bool = False  # whether ``expected`` comes from this kind of day's own history
    forecast: Forecast | None = None
    ref: int = SLOW
    frozen: bool = False  # the reference cannot judge this row (no history for this weekday)
    raw: tuple[float, ...] = (0.0,) * len(DETECTORS)
    calibrated: tuple[float, ...] = (0.0,) * len(DETECTORS)
    surprise: float = 0.0
    score: float = 0.0
    cusum: tuple[float, float] = (0.0, 0.0)
    mean_square: float = 1.0
    recent: float = 0.0
    gap: float = 0.0
    season_gap: float = 0.0
    severity: float = 0.0  # the score before the onset discount


class SeriesDetector:
    """Scores each row of a univariate series in [0, 1]; higher is more anomalous.

    Parameters
    ----------
    warmup
        Valid rows scored 0 while the detector learns the series.
    alarm_surprise
        Surprise in nats (minus log tail probability) that maps to score 0.5, and at which a
        change detector adopts its change. 11 nats is about one chance in 60 000 per row.
    seasonality
        Learn daily and weekly patterns from the timestamps when there are any.
    fast_alpha, slow_alpha
        Smoothing factors of the fast and slow level forecasters (the slow one also sets how fast
        the seasonal offset follows).
    scale_alpha
        Smoothing factor of the forecasters' error scales.
    drift_horizon
        Rows of memory of the drift test's long-run normal and of its yardstick.
    onset_halflife
        Rows over which the score discounts an alarm the detector has just raised. Let ``a`` be
        the highest severity of the rows before this one, halved every ``onset_halflife`` rows:
        a row more severe than ``a + 0.2`` scores its severity (the onset, or a clear
        worsening), and so does a row that reaches the alarm level 0.5 while ``a`` is below it
        (a gradual onset); any other scores its severity times ``1 - a``. The rows after an onset,
        which repeat the same news, score near 0, so a threshold on the score counts incidents
        rather than rows (what a pager and NAB-style scoring want). 0 turns the discount off;
        ``severity()`` always gives the undiscounted value.
    habituation
        Cap each surprise by how often its magnitude turned up lately (item 6 above). On by
        default; off where a recurring anomaly must alarm every time, as for the operations
        KPIs (a branch's third reversal wave this month is as much news as its first).
    """

    def __init__(
        self,
        *,
        warmup: int = 100,
        alarm_surprise: float = 11.0,
        seasonality: bool = True,
        fast_alpha: float = 0.25,
        slow_alpha: float = 0.05,
        scale_alpha: float = 0.02,
        drift_horizon: int = 1000,
        onset_halflife: float = 12.0,
        habituation: bool = True,
    ) -> None:
        if warmup < 0:
            raise ValueError("warmup must be >= 0")
        if not alarm_surprise > 0.0:
            raise ValueError("alarm_surprise must be > 0")
        for name, alpha in (
            ("fast_alpha", fast_alpha),
            ("slow_alpha", slow_alpha),
            ("scale_alpha", scale_alpha),
        ):
            if not 0.0 < alpha <= 1.0:
                raise ValueError(f"{name} must be in (0, 1]")
        if drift_horizon < 10:
            raise ValueError("drift_horizon must be >= 10")
        if not onset_halflife >= 0.0:
            raise ValueError("onset_halflife must be >= 0")
        self.warmup = warmup
        self.alarm_surprise = alarm_surprise
        self.seasonality = seasonality
        self.fast_alpha = fast_alpha
        self.slow_alpha = slow_alpha
        self.scale_alpha = scale_alpha
        self.drift_horizon = drift_horizon
        self.onset_halflife = onset_halflife
        self.habituation = habituation

        self._n = 0
        self._experts = Forecasters(fast_alpha, slow_alpha, scale_alpha)
        self._level = LevelShiftDetector()
        self._drift = DriftDetector(drift_horizon)
        self._variance = VarianceDetector()
        self._flat = FlatLineDetector()
        self._calibrators = [TailCalibrator() for _ in DETECTORS]
        self._rarity = [RarityTail() for _ in DETECTORS]
        self._calendar = Calendar()
        self._profile: SeasonalProfile | None = None
        self._alarmed = 0.0  # decayed highest severity of the rows so far (the onset discount)
        self._pending: _Evaluation | None = None  # for learn_one on the row just scored
        self._explained: _Evaluation | None = None  # for explain(), until the next score_one

    # ------------------------------------------------------------------ public API

    def score_one(self, value: float | None, timestamp: datetime | None = None) -> float:
        """Anomaly score of ``value`` in [0, 1], from what was learned so far; learns nothing."""
        x = _finite(value)
        if x is None:
            return 0.0
        ev = self._evaluate(x, timestamp)
        self._pending = self._explained = ev
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

    def severity(self) -> float:
        """The last scored row's score before the onset discount (0 before any): how abnormal the
        row is, however long it has been so. Incident layers that track recovery read this."""
        ev = self._explained
        return 0.0 if ev is None else ev.severity

    def explain(self) -> dict[str, float]:
        """Evidence behind the last score: calibrated surprise per detector (nats), the value the
        reference expert expected and its usual deviation (``scale``); empty before any."""
        ev = self._explained
        if ev is None or ev.forecast is None:
            return {}
        out = {name: ev.calibrated[i] for i, name in enumerate(DETECTORS)}
        expected = ev.forecast.preds[ev.ref]
        if expected is not None:
            out["expected"] = expected
            out["scale"] = ev.forecast.sds[ev.ref]
        return out

    # ------------------------------------------------------------------ scoring

    def _evaluate(self, x: float, ts: datetime | None) -> _Evaluation:
        profile = self._profile
        key = self._calendar.key(ts) if profile is not None else None
        found = profile.lookup(key) if profile is not None and key is not None else None
        expected, own = found if found is not None else (None, False)
        experts = self._experts
        fc = experts.forecast(x, expected)
        if fc is None:
            return _Evaluation(x, ts, key, expected, own)
        ref = experts.ref
        seasonal = ref == SEASONAL
        frozen = seasonal and not own
        speaks = experts.ref_age >= REF_SETTLE and not frozen

        level = self._level
        pos, neg = (level.pos, level.neg) if frozen else level.peek(fc.z[ref])
        level_s = level.surprise(pos, neg) if speaks else 0.0

        best = fc.best
        floored = experts.sigma[best] < 0.5 * fc.sds[best]
        mean_square, variance_s = self._variance.peek(fc.z[best], floored)

        drift = self._drift
        recent, gap, season_gap = drift.peek(
            x, fc.sds[best], expected if own else None, fc.sds[SEASONAL]
        )
        drift_s = 0.0
        if not drift.seasonal or own:
            drift_s = drift.surprise(gap, season_gap)

        raw = (fc.point, level_s, variance_s, drift_s, self._flat.surprise(x))
        cals = [c.calibrate(r) for c, r in zip(self._calibrators, raw, strict=True)]
        for i, c in enumerate(cals):
            if self.habituation and c > RARITY_FROM:  # routine lately: not news, however large
                cals[i] = min(c, self._rarity[i].surprise(raw[i]))
        cal = tuple(cals)
        surprise = max(0.0, max(cal) - LN_DETECTORS)
        severity = 0.0
        if self._n >= self.warmup:
            ratio = surprise / self.alarm_surprise
            severity = 1.0 - math.exp(-LN2 * ratio * ratio)
        score = severity
        alarmed = self._alarmed
        # Full score for a clear worsening, or for the row that first reaches the alarm level
        # (0.5) after a calm spell, so that a gradual onset (a feed getting stuck) is not missed.
        news = severity >= alarmed + ONSET_MARGIN or severity >= 0.5 > alarmed
        if self.onset_halflife > 0.0 and not news:
            score = severity * (1.0 - alarmed)
        return _Evaluation(
            x, ts, key, expected, own, fc, ref, frozen, raw, cal, surprise, score,
            (pos, neg), mean_square, recent, gap, season_gap, severity,
        )  # fmt: skip

    # ------------------------------------------------------------------ learning

    def _learn(self, x: float, ts: datetime | None, ev: _Evaluation) -> None:
        self._n += 1
        if self.onset_halflife > 0.0:
            self._alarmed = max(self._alarmed * 0.5 ** (1.0 / self.onset_halflife), ev.severity)
        ratio = ev.surprise / self.alarm_surprise
        # Protected learning: a row learns less the more anomalous it is.
        weight = 1.0 if self._n <= self.warmup else 1.0 / (1.0 + ratio**4)
        self._flat.learn(x)
        experts = self._experts
        season_ready = self._profile is not None and experts.n_season >= self._calendar.rows_per_day
        switched = experts.learn(x, ev.forecast, weight, season_ready)
        if ev.forecast is not None:
            if self._n > self.warmup:  # warm-up surprises measure the warm-up, not the series
                for tail, raw in zip(self._rarity, ev.raw, strict=True):
                    tail.learn(raw)
            self._learn_changes(x, ev, ev.forecast, weight)
            if switched:
                self._level.reset()
                self._calibrators[LEVEL] = TailCalibrator()
                self._calibrators[DRIFT] = TailCalibrator()
            if self._n >= self.warmup // 2:
                damp = 1.0 if ratio < 1.0 else 0.1
                for cal, raw, rate in zip(self._calibrators, ev.raw, CAL_RATES, strict=True):
                    cal.learn(raw, rate * damp)
        self._learn_profile(x, ev)
        if self.seasonality and self._calendar.learn(ts) and self._calendar.buckets > 0:
            self._profile = SeasonalProfile(self._calendar.buckets)
            experts.start_season()

    def _learn_changes(self, x: float, ev: _Evaluation, fc: Forecast, weight: float) -> None:
        ref_pred = fc.preds[ev.ref]
        if not ev.frozen and ref_pred is not None:
            self._level.learn(ev.cusum[0], ev.cusum[1], x - ref_pred)
        drift = self._drift
        drift.learn_raw(x, ev.recent, ev.gap, weight)
        if ev.own and ev.expected is not None:
            drift.learn_season(ev.season_gap, x - ev.expected, weight)
        self._variance.ms = ev.mean_square
        # A detector adopts its change once it alone would raise the alarm (score 0.5).
        alarm = self.alarm_surprise + LN_DETECTORS
        cal = ev.calibrated
        if cal[LEVEL] > alarm and ref_pred is not None:
            self._adopt_level(ev.ref, ref_pred)
        elif cal[DRIFT] > alarm:
            if drift.seasonal:
                self._adopt_seasonal()
            else:
                drift.adopt_raw()
        if ev.own and not drift.seasonal and abs(drift.season_z(ev.season_gap)) > MAINTAIN_Z:
            # The profile is not the judge, but it must not be left behind by a level change.
            self._adopt_seasonal()
        if drift.choose():
            self._calibrators[DRIFT] = TailCalibrator()
        if cal[VARIANCE] > alarm:
            self._experts.rescale(min(2.0, max(0.5, math.sqrt(ev.mean_square))))
            self._variance.ms = 1.0

    def _adopt_level(self, ref: int, ref_pred: float) -> None:
        """A confirmed level shift becomes the reference's new normal at once."""
        shift = self._level.recent
        experts = self._experts
        if ref == SEASONAL:
            self._adopt_seasonal()
        else:
            if ref == SLOW:
                experts.slow += shift
            elif ref == FAST:
                experts.fast += shift
            self._drift.recent = self._drift.baseline = ref_pred + shift
        self._level.reset()

    def _adopt_seasonal(self) -> None:
        """Move the whole profile to where the series is now (a level change, not a shape one)."""
        delta = self._drift.now
        if self._profile is not None:
            self._profile.shift(delta)
        self._experts.season_dev = 0.0
        self._drift.reset_season()
        if self._experts.ref == SEASONAL:
            self._level.reset()

    def _learn_profile(self, x: float, ev: _Evaluation) -> None:
        if self._profile is not None and ev.key is not None:
            self._profile.learn(ev.key, x)

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
            "onset_halflife": self.onset_halflife,
            "habituation": self.habituation,
        }

    def to_state(self) -> dict[str, object]:
        """A JSON-serialisable snapshot; ``from_state`` restores a detector that scores the same.

        The snapshot shares nothing with the detector, so it stays as taken while learning goes on:
        it is copied through pickle, which copies exactly what ``copy.deepcopy`` copies (lists,
        dicts, floats including ``inf`` and ``nan``) at a fraction of its cost (the operations
        stage snapshots its detectors often).
        """
        return _detached(
            {
                "version": STATE_VERSION,
                "kind": "SeriesDetector",
                "config": self._config(),
                "n": self._n,
                "alarmed": self._alarmed,
                "experts": self._experts.to_list(),
                "level": self._level.to_list(),
                "drift": self._drift.to_list(),
                "variance": self._variance.to_list(),
                "flat": self._flat.to_list(),
                "calibrators": [c.to_list() for c in self._calibrators],
                "rarity": [t.to_list() for t in self._rarity],
                "calendar": self._calendar.to_list(),
                "profile": None if self._profile is None else self._profile.to_list(),
            }
        )

    @classmethod
    def from_state(cls, state: dict[str, object]) -> SeriesDetector:
        """Rebuild a detector from ``to_state`` output; raises ``SeriesStateError`` if foreign."""
        if state.get("kind") != "SeriesDetector" or state.get("version") != STATE_VERSION:
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
            seasonality=as_bool(config.get("seasonality")),
            fast_alpha=as_float(config.get("fast_alpha")),
            slow_alpha=as_float(config.get("slow_alpha")),
            scale_alpha=as_float(config.get("scale_alpha")),
            drift_horizon=as_int(config.get("drift_horizon")),
            onset_halflife=as_float(config.get("onset_halflife")),
            habituation=as_bool(config.get("habituation", True)),
        )
        det._n = as_int(state.get("n"))
        det._alarmed = as_float(state.get("alarmed"))
        det._experts.load(state.get("experts"))
        det._level.load(state.get("level"))
        det._drift.load(state.get("drift"))
        det._variance.load(state.get("variance"))
        det._flat = FlatLineDetector.from_list(state.get("flat"))
        cals = as_list(state.get("calibrators"), len(DETECTORS))
        det._calibrators = [TailCalibrator.from_list(c) for c in cals]
        rarity = as_list(state.get("rarity"), len(DETECTORS))
        det._rarity = [RarityTail.from_list(t) for t in rarity]
        det._calendar = Calendar.from_list(state.get("calendar"))
        profile = state.get("profile")
        det._profile = None if profile is None else SeasonalProfile.from_list(profile)
        return det


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _detached(state: dict[str, object]) -> dict[str, object]:
    """A copy of ``state`` sharing nothing with it (plain data only)."""
    copied: dict[str, object] = pickle.loads(pickle.dumps(state, pickle.HIGHEST_PROTOCOL))
    return copied
