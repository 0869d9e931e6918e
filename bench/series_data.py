"""Seeded synthetic operational series with labelled anomaly windows.

Families (the normal behaviour):

``txn_volume``     transactions per minute at a busy branch: Poisson counts, business-hours
                   profile, weekends at half volume. 1-minute rows.
``branch_sparse``  a low-volume branch: the same shape at about 3 per minute at peak, so nights
                   are mostly zeros. 1-minute rows.
``latency``        approval latency in ms: daily load profile, right-skewed noise. 5-minute rows.
``dead_letter``    dead-letter rate (a small fraction): daily profile, gamma noise. 5-minute rows.
``square_wave``    NAB "art_daily"-like: high 09:00-17:00, low otherwise, Gaussian noise.
``random_walk``    no seasonality: a random walk plus measurement noise.
``trend_steps``    no seasonality: piecewise-linear trend whose slope changes every day or two,
                   with AR(1) noise.

Anomaly kinds (magnitudes are in units of the local noise sd, or factors for counts):

``spike``              1-3 rows pushed 5-10 sd up or down.
``level_shift``        the mean moves 3-6 sd (counts: x0-0.3 outage or x2-3 surge) for 2-8 h.
``variance``           the noise sd grows x3-4 for 2-6 h.
``drift``              the mean ramps by 8 sd (counts: +150%) over 6-12 h and stays there.
``broken_seasonality`` for 6-12 h the daily pattern is flattened to its mean or shifted by 6 h
                       (seasonal families only).
``flatline``           a stuck feed repeats its last value for 1-3 h.
``long_shift``         the mean moves 3-6 sd (counts: x0.4 or x2) and stays there: only the first
                       two hours are the window, so a detector that keeps flagging the new level
                       pays for every row after it.
``repeated_spikes``    8-20 spikes of 5-10 sd, 5-30 rows apart: one incident, not 20.
``slow_recovery``      the mean drops 4-6 sd (counts: x0-0.3) for 30-60 min, then climbs back
                       linearly over 4-8 h.

An anomaly's window runs from its first anomalous row to one hour after its last one, so that the
return to normal belongs to the event. No anomaly starts in the probation period, while detectors
are still learning (the first two days; 1.5 days for 1-minute families), and anomalies fall on
alternate days so that events never touch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

__all__ = ["ANOMALY_KINDS", "FAMILIES", "Anomaly", "Series", "generate", "suite"]

ANOMALY_KINDS = (
    "spike",
    "level_shift",
    "variance",
    "drift",
    "broken_seasonality",
    "flatline",
    "long_shift",
    "repeated_spikes",
    "slow_recovery",
)
START = datetime(2024, 1, 1)  # a Monday


@dataclass(frozen=True)
class Anomaly:
    kind: str
    start: int  # first anomalous row
    end: int  # one past the last anomalous row
    window_end: int  # one past the last row of the detection window


@dataclass(frozen=True)
class Series:
    name: str
    family: str
    timestamps: list[datetime]
    values: list[float]
    anomalies: list[Anomaly]
    probation: int  # rows at the start where no anomaly is placed and no alarm is counted


@dataclass(frozen=True)
class _Family:
    step_min: int
    days: float
    seasonal: bool
    counts: bool
    decimals: int
    base: Callable[[np.random.Generator, np.ndarray], tuple[np.ndarray, np.ndarray]]
    noise: Callable[[np.random.Generator, int], np.ndarray] | None = None
    scale_factor: float = 1.0  # anomaly sizes in units of noise sd times this


def _business(hours: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    bump = 0.04 + 0.96 * np.exp(-(((hours - 13.0) / 3.5) ** 2))
    return np.where(weekday >= 5, 0.5, 1.0) * bump


def _calendar(minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hours = (minutes % 1440) / 60.0
    weekday = (minutes // 1440) % 7
    return hours, weekday


def _txn(peak: float) -> Callable[[np.random.Generator, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    def base(rng: np.random.Generator, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lam = peak * rng.uniform(0.8, 1.2) * _business(*_calendar(minutes))
        return lam, np.sqrt(lam)

    return base


def _latency(rng: np.random.Generator, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hours, weekday = _calendar(minutes)
    mu = rng.uniform(150, 250) * (1.0 + 0.5 * _business(hours, weekday))
    return mu, 0.08 * mu


def _dead_letter(rng: np.random.Generator, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hours, weekday = _calendar(minutes)
    mu = rng.uniform(0.002, 0.01) * (1.0 + _business(hours, weekday))
    return mu, mu / math.sqrt(20.0)


def _square(rng: np.random.Generator, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hours, _ = _calendar(minutes)
    low, high = rng.uniform(10, 30), rng.uniform(60, 90)
    mu = np.where((hours >= 9.0) & (hours < 17.0), high, low)
    return mu, np.full_like(mu, rng.uniform(1.0, 3.0))


def _random_walk(rng: np.random.Generator, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = 100.0 + np.cumsum(rng.normal(0.0, 0.5, minutes.size))
    return mu, np.full_like(mu, 0.5)


def _trend(rng: np.random.Generator, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = minutes.size
    slope = np.zeros(n)
    i = 0
    while i < n:
        length = int(rng.integers(288, 576))
        slope[i : i + length] = rng.normal(0.0, 0.02)
        i += length
    mu = 50.0 + np.cumsum(slope)
    return mu, np.ones(n)


def _ar1(rng: np.random.Generator, n: int) -> np.ndarray:
    eps = rng.normal(0.0, math.sqrt(1.0 - 0.7**2), n)
    out = np.empty(n)
    prev = 0.0
    for i in range(n):
        prev = 0.7 * prev + eps[i]
        out[i] = prev
    return out


def _skewed(rng: np.random.Generator, n: int) -> np.ndarray:
    s = 0.4
    raw = np.exp(rng.normal(0.0, s, n))
    mean, sd = math.exp(s * s / 2), math.sqrt((math.exp(s * s) - 1) * math.exp(s * s))
    return (raw - mean) / sd


def _gamma(rng: np.random.Generator, n: int) -> np.ndarray:
    return (rng.gamma(20.0, 1.0, n) - 20.0) / math.sqrt(20.0)


FAMILIES: dict[str, _Family] = {
    "txn_volume": _Family(1, 7.0, True, True, 0, _txn(40.0)),
    "branch_sparse": _Family(1, 7.0, True, True, 0, _txn(3.0)),
    "latency": _Family(5, 14.0, True, False, 1, _latency, _skewed),
    "dead_letter": _Family(5, 14.0, True, False, 5, _dead_letter, _gamma),
    "square_wave": _Family(5, 14.0, True, False, 3, _square),
    # Anomaly sizes in units of the one-step difference sd, the noise a detector actually sees.
    "random_walk": _Family(5, 14.0, False, False, 3, _random_walk, scale_factor=math.sqrt(3.0)),
    "trend_steps": _Family(5, 14.0, False, False, 3, _trend, _ar1),
}


def _inject(
    kind: str,
    rng: np.random.Generator,
    fam: _Family,
    mu: np.ndarray,
    sd: np.ndarray,
    scale: np.ndarray,
    start: int,
    per_hour: int,
) -> int:
    """Apply ``kind`` to the mean/sd arrays in place (spike and flatline come later); end row."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if kind == "spike":
        return start + int(rng.integers(1, 4))
    if kind == "flatline":
        return start + int(rng.integers(per_hour, 3 * per_hour + 1))
    if kind == "level_shift":
        end = start + int(rng.integers(2 * per_hour, 8 * per_hour + 1))
        if fam.counts:
            factor = rng.uniform(0.0, 0.3) if sign < 0 else rng.uniform(2.0, 3.0)
            mu[start:end] *= factor
            sd[start:end] = np.sqrt(mu[start:end])
        else:
            mu[start:end] += sign * rng.uniform(3.0, 6.0) * scale[start]
        return end
    if kind == "long_shift":
        if fam.counts:
            mu[start:] *= rng.uniform(0.3, 0.5) if sign < 0 else rng.uniform(2.0, 2.5)
            sd[start:] = np.sqrt(np.maximum(mu[start:], 0.0))
        else:
            mu[start:] += sign * rng.uniform(3.0, 6.0) * scale[start]
        return start + 1
    if kind == "repeated_spikes":
        return start + int(rng.integers(2 * per_hour, 4 * per_hour + 1))
    if kind == "slow_recovery":
        low = start + int(rng.integers(per_hour // 2, per_hour + 1))
        end = low + int(rng.integers(4 * per_hour, 8 * per_hour + 1))
        ramp = np.ones(end - start)
        ramp[low - start :] = np.linspace(1.0, 0.0, end - low)
        if fam.counts:
            mu[start:end] *= 1.0 - (1.0 - rng.uniform(0.0, 0.3)) * ramp
            sd[start:end] = np.sqrt(np.maximum(mu[start:end], 0.0))
        else:
            mu[start:end] -= rng.uniform(4.0, 6.0) * scale[start] * ramp
        return end
    if kind == "variance":
        end = start + int(rng.integers(2 * per_hour, 6 * per_hour + 1))
        sd[start:end] *= rng.uniform(3.0, 4.0)
        return end
    if kind == "drift":
        end = start + int(rng.integers(6 * per_hour, 12 * per_hour + 1))
        ramp = np.minimum(np.arange(mu.size - start) / (end - start), 1.0)
        if fam.counts:
            mu[start:] *= 1.0 + 1.5 * ramp
            sd[start:] = np.sqrt(mu[start:])
        else:
            mu[start:] += sign * 8.0 * scale[start] * ramp
        return end
    if kind == "broken_seasonality":
        end = start + int(rng.integers(6 * per_hour, 12 * per_hour + 1))
        if rng.random() < 0.5:
            day = 24 * per_hour
            lo = max(0, start - day)
            mu[start:end] = mu[lo:start].mean()
        else:
            lag = 6 * per_hour
            mu[start:end] = mu[start - lag : end - lag].copy()
        if fam.counts:
            sd[start:end] = np.sqrt(mu[start:end])
        return end
    raise ValueError(f"unknown anomaly kind {kind!r}")


def generate(family: str, kinds: list[str], seed: int) -> Series:
    """One series of ``family`` with one anomaly per entry of ``kinds``, in that order."""
    fam = FAMILIES[family]
    rng = np.random.default_rng(seed)
    per_hour = 60 // fam.step_min
    n = int(fam.days * 24 * per_hour)
    minutes = np.arange(n) * fam.step_min
    mu, sd = fam.base(rng, minutes)
    scale = np.maximum(sd, 1.0) if fam.counts else sd * fam.scale_factor
    day = 24 * per_hour
    probation = int((1.5 if fam.step_min == 1 else 2.0) * day)
    # One anomaly per chosen day, on alternate days so that events never touch.
    days = list(range(-(-probation // day), int(fam.days), 2))
    chosen = sorted(rng.choice(len(days), size=min(len(kinds), len(days)), replace=False))
    anomalies: list[Anomaly] = []
    for kind, d in zip(kinds, chosen, strict=False):
        # Count anomalies fall in business hours, where they are visible at all.
        lo, hi = (9, 15) if fam.counts else (0, 11)
        start = days[d] * day + int(rng.integers(lo * per_hour, hi * per_hour))
        end = _inject(kind, rng, fam, mu, sd, scale, start, per_hour)
        window_end = start + 2 * per_hour if kind == "long_shift" else end + per_hour
        anomalies.append(Anomaly(kind, start, end, min(n, window_end)))
    noise = fam.noise(rng, n) if fam.noise is not None else rng.normal(0.0, 1.0, n)
    if fam.counts:
        values = rng.poisson(np.maximum(mu, 0.0)).astype(float)
        wide = sd > np.sqrt(np.maximum(mu, 1e-9)) * 1.5  # variance anomalies overdisperse
        values = np.where(wide, np.maximum(0.0, np.round(mu + sd * noise)), values)
    else:
        values = mu + sd * noise
    for a in anomalies:
        if a.kind == "spike":
            sign = 1.0 if rng.random() < 0.5 or fam.counts else -1.0
            bump = sign * rng.uniform(5.0, 10.0) * scale[a.start : a.end]
            values[a.start : a.end] += bump
        elif a.kind == "repeated_spikes":
            at = a.start
            while at < a.end:
                sign = 1.0 if rng.random() < 0.5 or fam.counts else -1.0
                values[at] += sign * rng.uniform(5.0, 10.0) * scale[at]
                at += int(rng.integers(5, 31))
        elif a.kind == "flatline":
            values[a.start : a.end] = values[a.start - 1]
    if fam.counts or family in ("latency", "dead_letter"):
        values = np.maximum(values, 0.0)  # these quantities cannot go negative
    values = np.round(values, fam.decimals)
    stamps = [START + timedelta(minutes=int(m)) for m in minutes]
    name = f"{family}-{'+'.join(sorted(set(kinds))) or 'clean'}-{seed}"
    return Series(name, family, stamps, [float(v) for v in values], anomalies, probation)


def suite(seeds: int = 1, per_series: int = 4) -> list[Series]:
    """Every family crossed with every applicable anomaly kind, ``per_series`` anomalies each."""
    out: list[Series] = []
    for f_index, family in enumerate(FAMILIES):
        for k_index, kind in enumerate(ANOMALY_KINDS):
            if kind == "broken_seasonality" and not FAMILIES[family].seasonal:
                continue
            for s in range(seeds):
                seed = 10_000 * s + 100 * f_index + k_index
                out.append(generate(family, [kind] * per_series, seed))
    return out
