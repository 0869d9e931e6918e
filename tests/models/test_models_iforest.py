"""The IsolationForest scorer: sklearn's scores, count-triggered refits, exact restores."""

from __future__ import annotations

import json

import numpy as np
from sklearn.ensemble import IsolationForest

from monitor.models.iforest import ForestArrays, IsolationForestScorer, slot


def test_vectorised_forest_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    rows = rng.random((1500, 5)) ** 3
    forest = IsolationForest(n_estimators=40, random_state=2).fit(rows)
    probe = rng.random((100, 5))
    mine = np.array([ForestArrays(forest).score(row) for row in probe])
    np.testing.assert_allclose(mine, -forest.score_samples(probe), rtol=0, atol=1e-12)


def test_refits_happen_at_event_counts() -> None:
    scorer = IsolationForestScorer(("a",), reservoir=64, refit_every=100, min_fit=32, seed=1)
    fits = []
    for i in range(450):
        scorer.learn_one({"a": (i % 17) / 17})
        fits.append(scorer.to_state()["fits"])
    assert fits.index(1) == 31  # first fit once min_fit rows are kept
    assert [fits.index(k) for k in (2, 3, 4, 5)] == [131, 231, 331, 431]


def test_restored_scorer_refits_the_same_forest() -> None:
    scorer = IsolationForestScorer(("a", "b"), reservoir=64, refit_every=50, min_fit=32, seed=4)
    rng = np.random.default_rng(1)
    xs = [{"a": float(a), "b": float(b)} for a, b in rng.random((300, 2))]
    for x in xs[:170]:
        scorer.learn_one(x)
    restored = IsolationForestScorer.from_state(json.loads(json.dumps(scorer.to_state())))
    for x in xs[170:]:
        assert restored.score_one(x) == scorer.score_one(x)
        restored.learn_one(x)
        scorer.learn_one(x)


def test_reservoir_slots_are_deterministic() -> None:
    assert [slot(7, n) for n in range(1, 5)] == [slot(7, n) for n in range(1, 5)]
    assert slot(7, 1) != slot(8, 1)
