"""A one-sided histogram outlier score (HBOS, Goldstein & Dengel 2012), learned online.

Each feature lies in [0, 1] with "higher is more unusual"; per feature a histogram of ``bins``
bins counts what was learned. The score of ``x`` is the sum over features of ``-log`` of the
share of learned values at least as unusual as ``x``'s (a smoothed upper-tail probability):
rare on one feature, or moderately rare on several, both score high. Directional tails matter
here: a debit far *below* its usual amount is not suspicious, and half-space trees, which score
density in every direction, cannot tell. When ``max_count`` values have been learned every
count is halved, so old behaviour fades (deterministically) and state stays bounded.

>>> s = TailProbabilityScorer(("a", "b"), bins=10)
>>> for i in range(200):
...     s.learn_one({"a": (i % 10) / 100, "b": 0.0})
>>> s.score_one({"a": 0.05, "b": 0.0}) < s.score_one({"a": 0.9, "b": 0.0})
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.models.state import check_state

__all__ = ["TailProbabilityScorer"]


class TailProbabilityScorer:
    """Sum of ``-log`` upper-tail probabilities, one histogram per feature.

    Parameters
    ----------
    features
        Feature names in [0, 1]; a missing feature counts as 0 (the usual value).
    bins
        Histogram bins per feature.
    prior
        Pseudo-count added to every tail, so an unseen value has a finite score.
    max_count
        Halve every count once this many values have been learned.
    seed
        Unused (the scorer draws nothing at random); kept for a uniform constructor.
    """

    def __init__(
        self,
        features: Sequence[str],
        bins: int = 20,
        prior: float = 1.0,
        max_count: int = 200_000,
        seed: int = 0,
    ) -> None:
        self.features = tuple(features)
        self.bins = bins
        self.prior = prior
        self.max_count = max_count
        self.seed = seed
        # _counts[f][b]: learned values of feature f in bin b (b >= 1; bin 0 is never counted).
        # The tail at b (values in bin b or above) is sum(_counts[f][b:]): learning is one
        # increment per feature, and the state holds the tails (bin 0: the total).
        self._counts = [[0] * bins for _ in self.features]
        self._total = 0
        self._log_total = 0.0

    def _bin(self, value: float) -> int:
        if not value > 0.0:  # NaN counts as the usual value
            return 0
        return min(int(value * self.bins), self.bins - 1)

    def score_one(self, x: Mapping[str, float]) -> float:
        if not self._total:
            return 0.0
        score, bins, prior, log_total = 0.0, self.bins, self.prior, self._log_total
        log = math.log
        for name, counts in zip(self.features, self._counts, strict=True):
            value = x.get(name, 0.0)
            if value > 0.0:  # NaN and missing count as the usual value
                index = min(int(value * bins), bins - 1)
                if index:
                    score += log_total - log(sum(counts[index:]) + prior)
        return score

    def learn_one(self, x: Mapping[str, float]) -> None:
        # Bin 0 holds every value (the total): it is never read while learning and scoring, and
        # :meth:`to_state` writes it, so only the bins above it are counted here.
        bins = self.bins
        for name, counts in zip(self.features, self._counts, strict=True):
            value = x.get(name, 0.0)
            if value > 0.0:
                index = min(int(value * bins), bins - 1)
                if index:
                    counts[index] += 1
        self._total += 1
        if self._total >= self.max_count:  # halve the tails (not the bins), as always
            self._counts = [_bins([t // 2 for t in _tails(counts)]) for counts in self._counts]
            self._total //= 2
        self._log_total = math.log(self._total + self.prior)

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]:
        """Each feature's share of the score (its ``-log`` tail probability)."""
        out: dict[str, float] = {}
        for name, counts in zip(self.features, self._counts, strict=True):
            value = x.get(name, 0.0)
            index = self._bin(value)
            out[name] = (
                self._log_total - math.log(sum(counts[index:]) + self.prior) if index else 0.0
            )
        return out

    def config(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "bins": self.bins,
            "prior": self.prior,
            "max_count": self.max_count,
            "seed": self.seed,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "version": 1,
            "kind": "tail_probability",
            "config": self.config(),
            "tails": [[self._total, *_tails(counts)[1:]] for counts in self._counts],
            "total": self._total,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TailProbabilityScorer:
        check_state(state, "tail_probability", 1)
        scorer = cls(**state["config"])
        scorer._counts = [_bins([int(c) for c in tails]) for tails in state["tails"]]
        scorer._total = int(state["total"])
        scorer._log_total = math.log(scorer._total + scorer.prior) if scorer._total else 0.0
        return scorer


def _tails(counts: list[int]) -> list[int]:
    """Per bin, the values in it or above (suffix sums of ``counts``)."""
    out, running = [0] * len(counts), 0
    for index in range(len(counts) - 1, -1, -1):
        running += counts[index]
        out[index] = running
    return out


def _bins(tails: Sequence[int]) -> list[int]:
    """The per-bin counts of ``tails`` (bin 0 left at 0: it is never read)."""
    last = len(tails) - 1
    return [0] + [tails[b] - (tails[b + 1] if b < last else 0) for b in range(1, last + 1)]
