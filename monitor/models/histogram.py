"""A fixed-bin histogram with quantiles: compact population statistics that snapshot exactly.

>>> h = Histogram(low=0.0, width=1.0, bins=10)
>>> for v in [1, 2, 2, 3, 9]:
...     h.add(v)
>>> h.quantile(0.5), h.quantile(1.0), h.share(2.5)
(3.0, 10.0, 0.4)
"""

from __future__ import annotations

from typing import Any

__all__ = ["Histogram"]


class Histogram:
    """Counts of values in ``bins`` bins of ``width`` from ``low``; outliers go to the end bins."""

    def __init__(self, low: float, width: float, bins: int) -> None:
        self.low = low
        self.width = width
        self.counts = [0] * bins
        self.total = 0
        self._cached: dict[str, list[float]] = {}
        """q -> [quantile, total when computed]: see :meth:`cached_quantile`."""

    def _bin(self, value: float) -> int:
        index = int((value - self.low) // self.width)
        return min(max(index, 0), len(self.counts) - 1)

    def add(self, value: float) -> None:
        self.counts[self._bin(value)] += 1
        self.total += 1

    def share(self, value: float) -> float:
        """Share of the values in ``value``'s bin (0 when empty)."""
        return self.counts[self._bin(value)] / self.total if self.total else 0.0

    def quantile(self, q: float) -> float:
        """The upper edge of the bin holding the ``q`` quantile (``low`` when empty)."""
        if not self.total:
            return self.low
        target, running = q * self.total, 0
        for index, count in enumerate(self.counts):
            running += count
            if running >= target and count:
                return self.low + (index + 1) * self.width
        return self.low + len(self.counts) * self.width

    def cached_quantile(self, q: float) -> float:
        """:meth:`quantile`, recomputed only once the total grew by 1/64 since the last time.

        Population quantiles move slowly; the schedule depends on counts alone and the cache is
        part of the state, so a restored histogram answers exactly as the original.
        """
        key = repr(q)
        found = self._cached.get(key)
        if found is None or self.total - found[1] >= max(1.0, found[1] / 64):
            found = self._cached[key] = [self.quantile(q), float(self.total)]
        return found[0]

    def to_state(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "width": self.width,
            "counts": list(self.counts),
            "cached": {k: list(v) for k, v in sorted(self._cached.items())},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Histogram:
        hist = cls(float(state["low"]), float(state["width"]), len(state["counts"]))
        hist.counts = [int(c) for c in state["counts"]]
        hist.total = sum(hist.counts)
        hist._cached = {k: [float(v[0]), float(v[1])] for k, v in state.get("cached", {}).items()}
        return hist
