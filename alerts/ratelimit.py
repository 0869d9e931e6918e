"""A token bucket per sink, on a clock the caller gives.

>>> bucket = TokenBucket(rate_per_second=1.0, burst=2, now=0.0)
>>> [bucket.try_take(0.0), bucket.try_take(0.0), bucket.try_take(0.0)]
[True, True, False]
>>> bucket.try_take(1.0)
True
"""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``rate_per_second``; one token per notification."""

    def __init__(self, rate_per_second: float, burst: int, *, now: float) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def try_take(self, now: float) -> bool:
        """Take one token at time ``now`` (seconds); False when the bucket is empty."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
