"""The tails scorer counts per bin; its tails, halving and scores are those of the definition."""

from __future__ import annotations

import math
import random

from monitor.models.tails import TailProbabilityScorer

FEATURES = ("a", "b", "c")


def _reference(rows: list[dict[str, float]], bins: int, prior: float, max_count: int):
    """Tails kept as the module docstring defines them: per feature and bin, the learned values
    in that bin or above, every tail halved (rounding down) once ``max_count`` are learned."""
    tails = [[0] * bins for _ in FEATURES]
    total = 0
    for x in rows:
        for f, name in enumerate(FEATURES):
            value = x.get(name, 0.0)
            if value > 0.0:
                for b in range(1, min(int(value * bins), bins - 1) + 1):
                    tails[f][b] += 1
        total += 1
        if total >= max_count:
            tails = [[c // 2 for c in t] for t in tails]
            total //= 2
    return tails, total


def _score(tails: list[list[int]], total: int, x: dict[str, float], bins: int, prior: float):
    log_total = math.log(total + prior)
    score = 0.0
    for f, name in enumerate(FEATURES):
        value = x.get(name, 0.0)
        if value > 0.0:
            index = min(int(value * bins), bins - 1)
            if index:
                score += log_total - math.log(tails[f][index] + prior)
    return score


def test_counts_give_the_tails_and_scores_of_the_definition_across_halvings() -> None:
    rng = random.Random(5)
    rows = [
        {name: rng.choice([0.0, 0.0, rng.random(), rng.random() ** 3, 1.0]) for name in FEATURES}
        for _ in range(2_500)
    ]
    scorer = TailProbabilityScorer(FEATURES, bins=10, prior=1.0, max_count=700)
    for n, x in enumerate(rows, start=1):
        scorer.learn_one(x)
        if n % 250 == 0:  # halvings happen at 700, then every 350 learned values
            tails, total = _reference(rows[:n], 10, 1.0, 700)
            state = scorer.to_state()
            assert state["total"] == total
            assert state["tails"] == [[total, *t[1:]] for t in tails]
            for probe in rows[:40]:
                assert scorer.score_one(probe) == _score(tails, total, probe, 10, 1.0)
    restored = TailProbabilityScorer.from_state(scorer.to_state())
    assert restored.to_state() == scorer.to_state()
    assert all(restored.score_one(x) == scorer.score_one(x) for x in rows[:100])
