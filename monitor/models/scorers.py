"""The registry of multivariate scorers a model stage can use, by configuration name."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.models.config import ModelConfig
from monitor.models.hst import HalfSpaceTreesScorer
from monitor.models.state import ModelStateError, Scorer
from monitor.models.tails import TailProbabilityScorer

__all__ = ["SCORERS", "build_scorer", "load_scorer"]


def _hst(config: ModelConfig, features: Sequence[str]) -> Scorer:
    return HalfSpaceTreesScorer(
        features,
        n_trees=config.n_trees,
        height=config.height,
        window_size=config.window_size,
        seed=config.seed,
    )


def _iforest(config: ModelConfig, features: Sequence[str]) -> Scorer:
    from monitor.models.iforest import IsolationForestScorer  # scikit-learn loads on demand

    return IsolationForestScorer(
        features, reservoir=config.reservoir, refit_every=config.refit_every, seed=config.seed
    )


def _river_hst(config: ModelConfig, features: Sequence[str]) -> Scorer:
    from monitor.models.river_hst import RiverHalfSpaceTreesScorer  # river loads on demand

    return RiverHalfSpaceTreesScorer(
        features,
        n_trees=config.n_trees,
        height=config.height,
        window_size=config.window_size,
        seed=config.seed,
    )


def _tails(config: ModelConfig, features: Sequence[str]) -> Scorer:
    return TailProbabilityScorer(features, seed=config.seed)


SCORERS: dict[str, Callable[[ModelConfig, Sequence[str]], Scorer]] = {
    "tails": _tails,
    "hst": _hst,
    "iforest": _iforest,
    "river_hst": _river_hst,
}


def build_scorer(config: ModelConfig, features: Sequence[str]) -> Scorer:
    return SCORERS[config.scorer](config, features)


def load_scorer(state: Mapping[str, Any]) -> Scorer:
    kind = state.get("kind")
    if kind == "half_space_trees":
        return HalfSpaceTreesScorer.from_state(state)
    if kind == "tail_probability":
        return TailProbabilityScorer.from_state(state)
    if kind == "river_half_space_trees":
        from monitor.models.river_hst import RiverHalfSpaceTreesScorer

        return RiverHalfSpaceTreesScorer.from_state(state)
    if kind == "isolation_forest":
        from monitor.models.iforest import IsolationForestScorer

        return IsolationForestScorer.from_state(state)
    raise ModelStateError(f"unknown scorer state kind {kind!r}")
