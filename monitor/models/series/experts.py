"""One-step-ahead forecasters for :class:`monitor.models.series.SeriesDetector`.

Four experts predict the next value: the last value (right for random walks), a fast and a slow
exponentially weighted level (right for noisy levels), and a seasonal profile plus a slowly
adapting offset (right for daily patterns). Each keeps a robust scale of its own errors.

Point surprise is that of the *mixture* of the competent experts, weighted by recent performance
(log-weights that forget in about ten rows). An anomaly therefore has to surprise every
competent expert, and after a regime change weight moves in a few rows to whichever expert
follows the new regime, so a shift alarms at its onset rather than for hours.

The *reference* expert (the "normal" that level shifts and drift are measured against) is the one
with the smallest long-run error scale, with hysteresis so that it does not flip during the very
anomalies it should measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from monitor.models.series.components import huber_surprise
from monitor.models.series.state import (
    as_bool,
    as_float,
    as_float_list,
    as_int,
    as_list,
    as_optional_float,
)

__all__ = ["FAST", "NAIVE", "SEASONAL", "SLOW", "Forecast", "Forecasters"]

NAIVE, FAST, SLOW, SEASONAL = 0, 1, 2, 3

CLIP = 4.0  # a residual is learned as at most CLIP scales: a spike cannot drag a baseline
MAD_TO_SD = 1.2533  # mean absolute deviation to standard deviation, for a Gaussian
COMPETENT = 2.0  # experts this much vaguer than the best one are left out of the mixture
LW_DECAY = 0.95
LW_FLOOR = math.log(0.001)
LOSS_CAP = 20.0
LONG_ALPHA = 0.002
LONG_CLIP = 12.0
SWITCH = 0.9  # a new reference must be this much sharper than the current one
SEASON_BONUS = 0.8
CLIP_AFTER = 10  # rows before residuals are clipped (scales start at zero)
# No yardstick finer than this fraction of the series' mean step |x[t] - x[t-1]|: on a series
# that is mostly exactly flat with regular bursts (a load balancer), the error scales learned on
# the flat rows shrink without end and every routine burst would look infinitely surprising.
SPREAD_FLOOR = 0.1
INF = math.inf


@dataclass(slots=True)
class Forecast:
    preds: tuple[float | None, ...]
    sds: list[float]
    z: list[float]
    best: int
    point: float  # surprise of the value under the experts' mixture, in nats


class Forecasters:
    """The expert pool; ``forecast`` is pure, ``learn`` updates.

    Both run once per row and are written flat (no helper calls, few temporaries): together they
    are half of the detector's time.
    """

    __slots__ = (
        "count_like",
        "fast",
        "fast_alpha",
        "last",
        "lw",
        "n",
        "n_season",
        "quantum",
        "ref",
        "ref_age",
        "scale_alpha",
        "season_dev",
        "sigma",
        "sigma_long",
        "slow",
        "slow_alpha",
        "spread",
    )

    def __init__(self, fast_alpha: float, slow_alpha: float, scale_alpha: float) -> None:
        self.fast_alpha = fast_alpha
        self.slow_alpha = slow_alpha
        self.scale_alpha = scale_alpha
        self.n = 0
        self.n_season = 0
        self.last: float | None = None
        self.fast = 0.0
        self.slow = 0.0
        self.season_dev = 0.0  # the seasonal expert's offset from its profile
        self.sigma = [0.0, 0.0, 0.0, 0.0]
        self.sigma_long = [0.0, 0.0, 0.0, 0.0]
        self.lw = [0.0, 0.0, 0.0, LW_FLOOR]
        self.count_like = True  # every value so far a non-negative integer
        self.quantum = 0.0  # smallest non-zero step seen: the data's resolution
        self.ref = SLOW
        self.ref_age = 0
        self.spread = 0.0  # long-run mean absolute step, learned from every row

    def forecast(self, x: float, expected: float | None) -> Forecast | None:
        """Predictions and surprise for ``x``; ``expected`` is the seasonal profile's value."""
        last = self.last
        if last is None:
            return None
        preds = (
            last,
            self.fast,
            self.slow,
            None if expected is None else expected + self.season_dev,
        )
        floor = 0.5 * self.quantum
        if SPREAD_FLOOR * self.spread > floor:
            floor = SPREAD_FLOOR * self.spread
        tiny = 1e-9 * (1.0 + abs(self.slow))
        if tiny > floor:
            floor = tiny
        sigma = self.sigma
        count_like = self.count_like
        sds = [INF, INF, INF, INF]
        zs = [0.0, 0.0, 0.0, 0.0]
        best, s_best = NAIVE, INF
        for i in range(4):
            pred = preds[i]
            if pred is None:
                continue
            sd = sigma[i]
            if sd < floor:
                sd = floor
            if count_like:  # Poisson noise: no scale below sqrt(mean)
                poisson = math.sqrt((pred if pred > 0.0 else 0.0) + 0.25)
                if sd < poisson:
                    sd = poisson
            sds[i] = sd
            zs[i] = (x - pred) / sd
            if sd < s_best:
                best, s_best = i, sd
        # Surprise under the mixture of competent experts, by log-sum-exp on both sides.
        lw = self.lw
        limit = COMPETENT * s_best
        priors: list[float] = []
        terms: list[float] = []
        for i in range(4):
            sd = sds[i]
            if sd <= limit:
                priors.append(lw[i])
                term = lw[i] - huber_surprise(zs[i])
                terms.append(term if sd == s_best else term - math.log(sd / s_best))
        top_p, top_t = max(priors), max(terms)
        exp = math.exp
        point = (
            top_p
            - top_t
            + math.log(sum([exp(p - top_p) for p in priors]))
            - math.log(sum([exp(t - top_t) for t in terms]))
        )
        return Forecast(preds, sds, zs, best, point)

    def learn(self, x: float, fc: Forecast | None, weight: float, season_ready: bool) -> bool:
        """Learn ``x``; returns True when the reference expert changed."""
        self.n += 1
        n = self.n
        if self.count_like and (x < 0.0 or x != math.floor(x)):
            self.count_like = False
        last = self.last
        self.last = x
        if last is None or fc is None:
            self.fast = self.slow = x
            return False
        step = abs(x - last)
        if step > 0.0 and (self.quantum == 0.0 or step < self.quantum):
            self.quantum = step
        self.spread += (LONG_ALPHA if LONG_ALPHA * n > 1.0 else 1.0 / n) * (step - self.spread)
        scale_rate = (self.scale_alpha if self.scale_alpha * n > 1.0 else 1.0 / n) * weight
        long_rate = (LONG_ALPHA if LONG_ALPHA * n > 1.0 else 1.0 / n) * weight
        season_rate = max(LONG_ALPHA, 1.0 / (self.n_season + 1)) * weight
        sigma, sigma_long, lw = self.sigma, self.sigma_long, self.lw
        clip_on = n > CLIP_AFTER
        preds, sds, zs = fc.preds, fc.sds, fc.z
        resid = [0.0, 0.0, 0.0, 0.0]
        top = -INF
        for i in range(4):
            pred = preds[i]
            if pred is None:
                continue
            e = x - pred
            ae = abs(e)
            sd = sds[i]
            if clip_on and ae > CLIP * sd:
                e = CLIP * sd if e > 0.0 else -CLIP * sd
            resid[i] = e
            sigma[i] += scale_rate * (MAD_TO_SD * abs(e) - sigma[i])
            # Clipped far less than the short-run scale: an expert that fails regularly (the
            # slow level at every daily transition) must look as bad as it is.
            if clip_on and ae > LONG_CLIP * sd:
                ae = LONG_CLIP * sd
            rate = season_rate if i == SEASONAL else long_rate
            sigma_long[i] += rate * (MAD_TO_SD * ae - sigma_long[i])
            # Log-weights: discounted log-likelihood, so they remember about twenty rows.
            loss = huber_surprise(zs[i])
            w = LW_DECAY * lw[i] - (loss if loss < LOSS_CAP else LOSS_CAP) - math.log(sd)
            lw[i] = w
            if w > top:
                top = w
        for i in range(4):
            if preds[i] is not None:
                w = lw[i] - top
                lw[i] = w if w > LW_FLOOR else LW_FLOOR
        fast_alpha, slow_alpha = self.fast_alpha, self.slow_alpha
        self.fast += (fast_alpha if fast_alpha * n > 1.0 else 1.0 / n) * weight * resid[FAST]
        self.slow += (slow_alpha if slow_alpha * n > 1.0 else 1.0 / n) * weight * resid[SLOW]
        if preds[SEASONAL] is not None:
            self.n_season += 1
            self.season_dev += slow_alpha * weight * resid[SEASONAL]
        return self._choose_reference(season_ready)

    def _choose_reference(self, season_ready: bool) -> bool:
        self.ref_age += 1
        # The seasonal expert knows what time of day it is, which makes it the more informative
        # normal: it is preferred unless clearly less sharp.
        sl = list(self.sigma_long)
        sl[SEASONAL] *= SEASON_BONUS
        last = SEASONAL if season_ready else SLOW
        best = min(range(last + 1), key=sl.__getitem__)
        if best != self.ref and sl[best] < SWITCH * sl[self.ref]:
            self.ref = best
            self.ref_age = 0
            return True
        return False

    def start_season(self) -> None:
        """The seasonal expert comes online: give it the slow expert's scales to start from."""
        self.sigma[SEASONAL] = self.sigma[SLOW]
        self.sigma_long[SEASONAL] = self.sigma_long[SLOW]
        self.lw[SEASONAL] = LW_FLOOR
        self.n_season = 0

    def rescale(self, factor: float) -> None:
        """Adopt a confirmed change of noise level."""
        self.sigma = [s * factor for s in self.sigma]

    def to_list(self) -> list[object]:
        return [
            self.n,
            self.n_season,
            self.last,
            self.fast,
            self.slow,
            self.season_dev,
            self.sigma,
            self.sigma_long,
            self.lw,
            self.count_like,
            self.quantum,
            self.ref,
            self.ref_age,
            self.spread,
        ]

    def load(self, values: object) -> None:
        (n, n_season, last, fast, slow, season_dev, sigma, sigma_long, lw, count_like, quantum,
         ref, ref_age, spread) = as_list(values, 14)  # fmt: skip
        self.n, self.n_season = as_int(n), as_int(n_season)
        self.last = as_optional_float(last)
        self.fast, self.slow, self.season_dev = as_float(fast), as_float(slow), as_float(season_dev)
        self.sigma = as_float_list(sigma, 4)
        self.sigma_long = as_float_list(sigma_long, 4)
        self.lw = as_float_list(lw, 4)
        self.count_like = as_bool(count_like)
        self.quantum = as_float(quantum)
        self.ref, self.ref_age = as_int(ref), as_int(ref_age)
        self.spread = as_float(spread)
