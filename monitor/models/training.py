"""Offline training: replay history through the profiles, fit an IsolationForest per entity kind.

Pure: the caller reads the history and writes the artefact (:mod:`monitor.models.artifact`).
The rows are a seeded uniform reservoir of each kind's feature vectors, so the same history and
seed give the same artefact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from monitor.events import Event
from monitor.models.artifact import Artifact, fit_forest
from monitor.models.config import ModelsConfig
from monitor.models.iforest import slot
from monitor.models.stage import ModelStage

__all__ = ["train_artifact"]


def train_artifact(
    events: Iterable[Event],
    *,
    seed: int = 0,
    rows: int = 4096,
    cny_per_unit: Mapping[str, float] | None = None,
) -> Artifact:
    """Features of every scored event of ``events``, sampled, then one forest per entity kind;
    amounts are converted with ``cny_per_unit`` (the rule set's currency table)."""
    config = ModelsConfig().with_currency_table(cny_per_unit or {})
    stages = [ModelStage(stage) for stage in config.stages]
    states: list[dict[str, Any]] = [{} for _ in stages]
    samples: list[list[list[float]]] = [[] for _ in stages]
    seen = [0 for _ in stages]
    count = 0
    for event in events:
        count += 1
        for index, stage in enumerate(stages):
            key = stage.key_for(event)
            if key is None:
                continue
            stage.process(key, event, states[index])
            if stage.last_features is None:
                continue
            seen[index] += 1
            row = [float(stage.last_features.get(n, 0.0)) for n in stage.kind.features]
            _sample(samples[index], row, rows, seed, seen[index])
    forests = {
        str(stage.config.entity): fit_forest(sample, seed)
        for stage, sample in zip(stages, samples, strict=True)
        if len(sample) >= 2
    }
    features = {str(stage.config.entity): tuple(stage.kind.features) for stage in stages}
    return Artifact(forests=forests, features=features, events=count)


def _sample(kept: list[list[float]], row: list[float], size: int, seed: int, n: int) -> None:
    if len(kept) < size:
        kept.append(row)
        return
    j = slot(seed, n) % n
    if j < size:
        kept[j] = row
