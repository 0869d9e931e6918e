"""An IsolationForest scorer refitted from a bounded, seeded reservoir at fixed event counts.

scikit-learn's ``score_samples`` on one row costs milliseconds (input validation and a Python
loop over the trees). The fitted trees are copied once per refit into padded numpy arrays, so
that one event descends every tree at once; the score equals ``-score_samples``, in (0, 1],
higher is more anomalous (a test checks the two agree).

Determinism: the reservoir (Vitter's algorithm R) draws its replacement slots from a counter-
based hash of ``(seed, n)``, refits happen after every ``refit_every`` learned events, and the
forest's ``random_state`` is ``seed + refits``. The state keeps the rows the live forest was fitted
on, so a restored scorer refits the identical forest and scores the next event exactly as the
uninterrupted one would. Nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest

from monitor.models.state import check_state

__all__ = ["ForestArrays", "IsolationForestScorer", "slot"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
MASK = (1 << 64) - 1


def slot(seed: int, n: int) -> int:
    """A deterministic pseudo-random integer for draw ``n`` (splitmix64 of ``seed`` and ``n``)."""
    z = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _path_length(n: FloatArray) -> FloatArray:
    """Average path length of an unsuccessful search in a BST of ``n`` nodes (sklearn's c(n))."""
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


class ForestArrays:
    """A fitted :class:`~sklearn.ensemble.IsolationForest` as padded arrays, trees side by side."""

    def __init__(self, forest: IsolationForest) -> None:
        trees = [e.tree_ for e in forest.estimators_]
        width = max(t.node_count for t in trees)
        count = len(trees)
        self.feature = np.zeros((count, width), dtype=np.int64)
        self.threshold = np.zeros((count, width), dtype=np.float64)
        self.left = np.zeros((count, width), dtype=np.int64)
        self.right = np.zeros((count, width), dtype=np.int64)
        self.leaf = np.zeros((count, width), dtype=bool)
        self.value = np.zeros((count, width), dtype=np.float64)
        self.max_depth = 0
        for index, (tree, columns) in enumerate(
            zip(trees, forest.estimators_features_, strict=True)
        ):
            self._copy(index, tree, np.asarray(columns, dtype=np.int64))
        self.rows = np.arange(count)
        self.denominator = count * float(_path_length(np.array([forest.max_samples_], float))[0])

    def _copy(self, index: int, tree: Any, columns: IntArray) -> None:
        nodes = tree.node_count
        left, right = tree.children_left, tree.children_right
        depth = np.zeros(nodes, dtype=np.int64)
        for node in range(nodes):  # parents precede children in sklearn's node order
            if left[node] >= 0:
                depth[left[node]] = depth[right[node]] = depth[node] + 1
        leaf = left < 0
        self.leaf[index, :nodes] = leaf
        self.feature[index, :nodes] = np.where(leaf, 0, columns[np.maximum(tree.feature, 0)])
        self.threshold[index, :nodes] = tree.threshold
        self.left[index, :nodes] = np.where(leaf, np.arange(nodes), left)
        self.right[index, :nodes] = np.where(leaf, np.arange(nodes), right)
        samples = tree.n_node_samples.astype(np.float64)
        self.value[index, :nodes] = depth + _path_length(samples)
        self.max_depth = max(self.max_depth, int(depth.max()))

    def score(self, values: FloatArray) -> float:
        """``-score_samples`` of one row."""
        values = values.astype(np.float32).astype(np.float64)  # the trees split float32 data
        node = np.zeros(len(self.rows), dtype=np.int64)
        for _ in range(self.max_depth):
            feature = self.feature[self.rows, node]
            go_left = values[feature] <= self.threshold[self.rows, node]
            node = np.where(go_left, self.left[self.rows, node], self.right[self.rows, node])
        depth = float(self.value[self.rows, node].sum())
        return float(2.0 ** (-depth / self.denominator)) if self.denominator else 1.0


class IsolationForestScorer:
    """Isolation forest over named features, refitted every ``refit_every`` learned events.

    Parameters
    ----------
    features
        Feature names; a missing feature counts as 0.
    reservoir
        Rows kept (a uniform sample of everything learned).
    refit_every
        Learned events between refits; the first fit happens once ``min_fit`` rows are kept.
    n_estimators, max_samples
        Passed to :class:`~sklearn.ensemble.IsolationForest`.
    seed
        Seeds the reservoir and the forests.
    """

    def __init__(
        self,
        features: Sequence[str],
        reservoir: int = 2_048,
        refit_every: int = 20_000,
        min_fit: int = 512,
        n_estimators: int = 100,
        max_samples: int = 256,
        seed: int = 0,
    ) -> None:
        self.features = tuple(features)
        self.reservoir = reservoir
        self.refit_every = refit_every
        self.min_fit = min_fit
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.seed = seed
        self._rows: list[list[float]] = []
        self._fitted_rows: list[list[float]] = []
        self._seen = 0
        self._fits = 0
        self._since_fit = 0
        self._forest: ForestArrays | None = None

    def _vector(self, x: Mapping[str, float]) -> list[float]:
        return [float(x.get(name, 0.0)) for name in self.features]

    def score_one(self, x: Mapping[str, float]) -> float:
        if self._forest is None:
            return 0.0
        return self._forest.score(np.array(self._vector(x), dtype=np.float64))

    def learn_one(self, x: Mapping[str, float]) -> None:
        row = self._vector(x)
        self._seen += 1
        if len(self._rows) < self.reservoir:
            self._rows.append(row)
        else:
            j = slot(self.seed, self._seen) % self._seen
            if j < self.reservoir:
                self._rows[j] = row
        self._since_fit += 1
        first = self._forest is None and len(self._rows) >= self.min_fit
        if first or (self._forest is not None and self._since_fit >= self.refit_every):
            self._fit([list(r) for r in self._rows])

    def _fit(self, rows: list[list[float]]) -> None:
        forest = IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=min(self.max_samples, len(rows)),
            random_state=self.seed + self._fits,
        )
        forest.fit(np.array(rows, dtype=np.float64))
        self._forest = ForestArrays(forest)
        self._fitted_rows = rows
        self._fits += 1
        self._since_fit = 0

    def use_forest(self, forest: IsolationForest) -> None:
        """Start from a forest trained offline (``riskmon models train``) until the next refit."""
        self._forest = ForestArrays(forest)

    def config(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "reservoir": self.reservoir,
            "refit_every": self.refit_every,
            "min_fit": self.min_fit,
            "n_estimators": self.n_estimators,
            "max_samples": self.max_samples,
            "seed": self.seed,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "version": 1,
            "kind": "isolation_forest",
            "config": self.config(),
            "rows": [list(r) for r in self._rows],
            "fitted_rows": [list(r) for r in self._fitted_rows],
            "seen": self._seen,
            "fits": self._fits,
            "since_fit": self._since_fit,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> IsolationForestScorer:
        check_state(state, "isolation_forest", 1)
        scorer = cls(**state["config"])
        scorer._rows = [[float(v) for v in r] for r in state["rows"]]
        fitted = [[float(v) for v in r] for r in state["fitted_rows"]]
        if fitted:
            scorer._fits = int(state["fits"]) - 1
            scorer._fit(fitted)  # the same rows and random_state give the same forest
        scorer._seen = int(state["seen"])
        scorer._fits = int(state["fits"])
        scorer._since_fit = int(state["since_fit"])
        return scorer
