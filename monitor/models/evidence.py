"""Evidence that builds up over an entity's session: several unusual events outweigh one.

A drained account moves its balance in three to five transfers, each only somewhat unusual; an
ordinary customer's one odd payment stands alone. The evidence of an event is its score plus
the decayed excess of the entity's previous evidence over a reference level (the partition's
97th percentile of scores by default), a CUSUM-like sum: scores below the reference never
accumulate.

>>> profile = {}
>>> first = accumulate(profile, 5.0, 0.0, reference=3.0, half_life=3600.0)
>>> carried = remember(profile, first, 0.0, reference=3.0)
>>> accumulate(carried, 5.0, 3600.0, reference=3.0, half_life=3600.0)  # 5 + (5 - 3) / 2
6.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["accumulate", "remember"]


def accumulate(
    profile: Mapping[str, Any], score: float, moment: float, *, reference: float, half_life: float
) -> float:
    """The event's evidence: its score plus what is left of the entity's earlier excess."""
    previous, at = profile.get("ev"), profile.get("ev_at")
    if previous is None or at is None or not math.isfinite(reference):
        return score
    excess = max(0.0, float(previous) - reference)
    decay: float = 0.5 ** (max(0.0, moment - float(at)) / half_life)
    return score + excess * decay


def remember(
    profile: Mapping[str, Any], evidence: float, moment: float, *, reference: float
) -> dict[str, Any]:
    """A new profile carrying ``evidence`` forward (nothing is kept below the reference)."""
    if "ev" in profile or "ev_at" in profile:
        new = {k: v for k, v in profile.items() if k not in ("ev", "ev_at")}
    else:
        new = dict(profile)
    if math.isfinite(reference) and evidence > reference:
        new["ev"], new["ev_at"] = round(evidence, 6), moment
    return new
