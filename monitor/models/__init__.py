"""Online anomaly models: per-entity profiles, multivariate scorers, calibrated thresholds.

Conventions
-----------
- Scorers are river-shaped: ``score_one(x)`` first, then ``learn_one(x)``; a higher score is
  more anomalous; ``x`` maps feature names to floats and is never mutated; the constructor's
  parameters (including ``seed``) are the whole configuration; ``to_state()`` is JSON with a
  ``version`` header and ``from_state()`` restores it exactly.
- Pure and deterministic: no I/O, no wall clock, no global random state. Time is event time.
- State values are written back (``state[key] = new``), never mutated in place.
- Learning is protected (events flagged anomalous are not learned) and no model alerts during
  warm-up.
- This package never imports :mod:`monitor.rules` (nor :mod:`monitor.engine`, which does); the
  import-linter contract checks it.

Wiring: ``Engine(ruleset, extra_stages=default_model_stages(config))`` with ``config =
ModelsConfig(enabled=True).with_currency_table(cny_per_unit(ruleset.rules))``: the models convert
amounts to CNY with the rule set's currency table (:func:`monitor.currency.cny_per_unit`), the only
one there is.
"""

from __future__ import annotations

from monitor.models.artifact import Artifact
from monitor.models.config import ModelConfig, ModelsConfig
from monitor.models.hst import HalfSpaceTreesScorer
from monitor.models.stage import ModelStage, model_key
from monitor.models.state import ModelStateError, Scorer
from monitor.models.tails import TailProbabilityScorer

__all__ = [
    "HalfSpaceTreesScorer",
    "ModelConfig",
    "ModelStage",
    "ModelStateError",
    "ModelsConfig",
    "Scorer",
    "TailProbabilityScorer",
    "default_model_stages",
    "model_key",
]


def default_model_stages(
    config: ModelsConfig | None = None, artifact: Artifact | None = None
) -> list[ModelStage]:
    """One :class:`ModelStage` per configured entity kind; ``[]`` when models are off.

    ``artifact`` (from ``riskmon models train``) seeds the IsolationForest scorers until their
    first refit.
    """
    config = config or ModelsConfig()
    if not config.enabled:
        return []
    stages = [ModelStage(stage) for stage in config.stages]
    if artifact is not None:
        for stage in stages:
            stage.seed_forest(artifact)
    return stages
