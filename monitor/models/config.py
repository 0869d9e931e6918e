"""The models' configuration: one frozen pydantic model per entity kind, the whole set of knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ModelConfig", "ModelsConfig"]


class ModelConfig(BaseModel):
    """One :class:`~monitor.models.stage.ModelStage`: an entity kind and its scorer.

    ``alerts_per_day`` is the expected alert volume per partition per day of event time; the
    threshold is the score quantile that yields it (a replay is one partition). The defaults
    suit a partition of about 3,000 events a day (a 4-branch bank); scale them with traffic.
    No alert before ``warmup`` scored events spanning ``warmup_days`` days. Events flagged
    anomalous are not learned.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: Literal["account", "operator"]
    scorer: Literal["tails", "hst", "iforest"] = "tails"
    alerts_per_day: float = Field(default=1.0, gt=0)
    warmup: int = Field(default=5_000, ge=0)
    warmup_days: float = Field(default=7.0, ge=0)
    snapshot_every: int = Field(default=10_000, ge=1)
    cooldown_seconds: float = Field(default=6 * 3600, ge=0)
    """After an alert, the same entity raises no new alert for this long."""
    evidence_half_life: float = Field(default=3600.0, gt=0)
    """How fast an entity's excess evidence fades between its events (seconds)."""
    seed: int = 0
    home_country: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    n_trees: int = Field(default=25, ge=1)
    height: int = Field(default=8, ge=1, le=12)
    window_size: int = Field(default=2_000, ge=10)
    reservoir: int = Field(default=4_096, ge=64)
    refit_every: int = Field(default=20_000, ge=100)


class ModelsConfig(BaseModel):
    """Every model stage; ``enabled=False`` (the default) leaves the engine rules-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    stages: tuple[ModelConfig, ...] = (
        ModelConfig(entity="account", alerts_per_day=0.5, warmup=5_000, warmup_days=14.0),
        ModelConfig(
            entity="operator", alerts_per_day=0.25, warmup=1_000, warmup_days=7.0, window_size=500
        ),
    )
