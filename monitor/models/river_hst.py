"""river's :class:`~river.anomaly.HalfSpaceTrees` as a scorer (``scorer: river_hst``).

river's trees are Python objects; a model stage must snapshot its scorer as JSON into the state
store. This wrapper keeps river's algorithm as it is and snapshots only what learning changes:
the left and right mass of every node (in river's depth-first order), the window counter and
whether the first window is over. The tree structure comes back from the seed: a fresh model
with the same parameters builds the same trees on its first event. Because that depends on
river's tree-building code, the snapshot records river's version and a different version refuses
it (:class:`~monitor.models.state.ModelStateError`) rather than restoring masses onto other trees.
river's node attributes are reached in this module only.

Every event is given every feature (a missing or non-finite one counts as 0), so the trees are
built over the scorer's features whatever the first event holds.

>>> scorer = RiverHalfSpaceTreesScorer(("a", "b"), n_trees=5, height=4, window_size=20, seed=1)
>>> for i in range(60):
...     scorer.learn_one({"a": 0.1 + (i % 5) / 100, "b": 0.2})
>>> scorer.score_one({"a": 0.9, "b": 0.9}) > scorer.score_one({"a": 0.12, "b": 0.2})
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from typing import Any, cast

from river.anomaly import HalfSpaceTrees

from monitor.models.state import ModelStateError, check_state

__all__ = ["RiverHalfSpaceTreesScorer"]

KIND = "river_half_space_trees"
VERSION = 1
RIVER = version("river")


class RiverHalfSpaceTreesScorer:
    """Streaming half-space trees by river, over named features in [0, 1]."""

    def __init__(
        self,
        features: Sequence[str],
        *,
        n_trees: int = 25,
        height: int = 8,
        window_size: int = 2_000,
        seed: int = 0,
    ) -> None:
        self.features = tuple(features)
        self.params = {
            "n_trees": n_trees,
            "height": height,
            "window_size": window_size,
            "seed": seed,
        }
        # river is untyped: its model is Any here.
        self._model: Any = cast(
            Any, HalfSpaceTrees(n_trees=n_trees, height=height, window_size=window_size, seed=seed)
        )

    def _x(self, x: Mapping[str, float]) -> dict[str, float]:
        values = {}
        for name in self.features:
            value = float(x.get(name, 0.0))
            values[name] = value if math.isfinite(value) else 0.0
        return values

    def score_one(self, x: Mapping[str, float]) -> float:
        return float(self._model.score_one(self._x(x)))

    def learn_one(self, x: Mapping[str, float]) -> None:
        self._model.learn_one(self._x(x))

    def to_state(self) -> dict[str, Any]:
        model = self._model
        masses = [[[n.l_mass, n.r_mass] for n in nodes] for nodes in model._tree_nodes]
        return {
            "kind": KIND,
            "version": VERSION,
            "river": RIVER,
            "features": list(self.features),
            "params": dict(self.params),
            "counter": model.counter,
            "first_window": model._first_window,
            "masses": masses,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RiverHalfSpaceTreesScorer:
        check_state(state, KIND, VERSION)
        if state["river"] != RIVER:
            raise ModelStateError(
                f"river_hst snapshot from river {state['river']}; river {RIVER} may "
                "build other trees from the same seed: retrain instead of restoring"
            )
        params = state["params"]
        scorer = cls(
            state["features"],
            n_trees=int(params["n_trees"]),
            height=int(params["height"]),
            window_size=int(params["window_size"]),
            seed=int(params["seed"]),
        )
        masses = state["masses"]
        model = scorer._model
        if masses:
            model.learn_one(scorer._x({}))  # builds the trees; every mass is overwritten below
            if [len(t) for t in masses] != [len(nodes) for nodes in model._tree_nodes]:
                raise ModelStateError("river_hst snapshot does not fit the trees of its seed")
            for nodes, tree in zip(model._tree_nodes, masses, strict=True):
                for node, (left, right) in zip(nodes, tree, strict=True):
                    node.l_mass, node.r_mass = int(left), int(right)
        model.counter = int(state["counter"])
        model._first_window = bool(state["first_window"])
        return scorer
