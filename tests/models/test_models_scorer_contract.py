"""The contract every scorer keeps (river's generated estimator checks, for our scorers).

Input is not mutated; seeded runs repeat; scores are finite; missing features are tolerated;
the state is JSON with a version header and round-trips to a scorer that scores the same.
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable

import pytest

from monitor.models.hst import HalfSpaceTreesScorer
from monitor.models.iforest import IsolationForestScorer
from monitor.models.river_hst import RiverHalfSpaceTreesScorer
from monitor.models.scorers import load_scorer
from monitor.models.state import ModelStateError, Scorer
from monitor.models.tails import TailProbabilityScorer

FEATURES = ("a", "b", "c")
FACTORIES: dict[str, Callable[[int], Scorer]] = {
    "tails": lambda seed: TailProbabilityScorer(FEATURES, bins=10, seed=seed),
    "hst": lambda seed: HalfSpaceTreesScorer(
        FEATURES, n_trees=5, height=4, window_size=50, seed=seed
    ),
    "river_hst": lambda seed: RiverHalfSpaceTreesScorer(
        FEATURES, n_trees=5, height=4, window_size=50, seed=seed
    ),
    "iforest": lambda seed: IsolationForestScorer(
        FEATURES, reservoir=128, refit_every=60, min_fit=64, n_estimators=10, seed=seed
    ),
}


def stream(n: int, seed: int = 1) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{name: rng.random() ** 3 for name in FEATURES} for _ in range(n)]


def run(scorer: Scorer, xs: list[dict[str, float]]) -> list[float]:
    scores = []
    for x in xs:
        scores.append(scorer.score_one(x))
        scorer.learn_one(x)
    return scores


@pytest.fixture(params=sorted(FACTORIES))
def factory(request: pytest.FixtureRequest) -> Callable[[int], Scorer]:
    return FACTORIES[request.param]


def test_input_is_not_mutated(factory: Callable[[int], Scorer]) -> None:
    xs = stream(200)
    before = copy.deepcopy(xs)
    run(factory(0), xs)
    assert xs == before


def test_seeded_runs_repeat(factory: Callable[[int], Scorer]) -> None:
    xs = stream(300)
    assert run(factory(3), xs) == run(factory(3), xs)


def test_scores_are_finite_and_higher_is_rarer(factory: Callable[[int], Scorer]) -> None:
    scorer = factory(0)
    scores = run(scorer, stream(400))
    assert all(math.isfinite(s) for s in scores)
    assert scorer.score_one({"a": 1.0, "b": 1.0, "c": 1.0}) > scorer.score_one(
        {"a": 0.0, "b": 0.0, "c": 0.0}
    )


def test_missing_and_unknown_features_are_tolerated(factory: Callable[[int], Scorer]) -> None:
    scorer = factory(0)
    run(scorer, stream(200))
    for x in ({}, {"a": 0.5}, {"a": float("nan")}, {"zzz": 3.0}):
        assert math.isfinite(scorer.score_one(x))
        scorer.learn_one(x)


def test_snapshot_round_trips(factory: Callable[[int], Scorer]) -> None:
    xs = stream(500)
    original = factory(0)
    run(original, xs[:250])
    state = json.loads(json.dumps(original.to_state()))
    assert state["version"] == 1
    restored = load_scorer(state)
    assert run(restored, xs[250:]) == run(original, xs[250:])
    assert restored.to_state() == original.to_state()


def test_a_foreign_state_is_refused(factory: Callable[[int], Scorer]) -> None:
    state = factory(0).to_state() | {"version": 99}
    with pytest.raises(ModelStateError):
        load_scorer(state)


def test_a_river_hst_snapshot_of_another_river_version_is_refused() -> None:
    scorer = FACTORIES["river_hst"](0)
    run(scorer, stream(120))
    state = json.loads(json.dumps(scorer.to_state())) | {"river": "0.0.1"}
    with pytest.raises(ModelStateError, match=r"river 0\.0\.1"):
        load_scorer(state)
