"""The models' configuration: one frozen pydantic model per entity kind, the whole set of knobs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ModelConfig", "ModelsConfig"]


class ModelConfig(BaseModel):
    """One :class:`~monitor.models.stage.ModelStage`: an entity kind and its scorer.

    The threshold is the running score quantile that yields ``alerts_per_10k`` alerts per
    10,000 scored events, so the alert volume follows traffic (``Calibrator.expected_per_day``
    is the daily volume to expect; ``riskmon models eval`` prints it); ``alerts_per_day`` fixes
    the daily volume per partition instead (a replay is one partition). No alert before ``warmup``
    scored events spanning ``warmup_days`` days. Events flagged anomalous are not learned, and
    events above the 99th percentile are held ``hold_seconds`` before they are.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: Literal["account", "operator"]
    scorer: Literal["tails", "hst", "iforest", "river_hst"] = "tails"
    alerts_per_10k: float = Field(default=2.0, gt=0, le=10_000)
    alerts_per_day: float | None = Field(default=None, gt=0)
    warmup: int = Field(default=5_000, ge=0)
    warmup_days: float = Field(default=7.0, ge=0)
    snapshot_every: int = Field(default=10_000, ge=1)
    hold_seconds: float = Field(default=86_400.0, ge=0)
    """How long an unusual (top 1 %) event waits, unlearned, for an alert on its entity."""
    cooldown_seconds: float = Field(default=6 * 3600, ge=0)
    """After an alert, the same entity raises no new alert for this long."""
    evidence_half_life: float = Field(default=3600.0, gt=0)
    """How fast an entity's excess evidence fades between its events (seconds)."""
    evidence_quantile: float = Field(default=0.03, gt=0, le=0.03)
    """Evidence above the (1 - this) quantile of recent scores carries over to the next event."""
    seed: int = 0
    home_country: str = Field(default="CN", pattern=r"^[A-Z]{2}$")
    cny_per_unit: dict[str, float] = Field(default_factory=dict)
    """CNY per one unit of each currency, to compare amounts with their history: the rule set's
    currency table (:func:`monitor.currency.cny_per_unit`, set by
    :meth:`ModelsConfig.with_currency_table`). A currency missing here counts as CNY."""
    n_trees: int = Field(default=25, ge=1)
    height: int = Field(default=8, ge=1, le=12)
    window_size: int = Field(default=2_000, ge=10)
    reservoir: int = Field(default=4_096, ge=64)
    refit_every: int = Field(default=20_000, ge=100)
    idle_seconds: float | None = Field(default=30 * 86_400.0, gt=0)
    """An entity without events for this long (event time) has its profile compacted: what only
    matters within a session (recent times, held events, evidence, recent ids) is dropped and
    its history rings are shortened. ``None`` keeps full profiles forever."""
    forget_seconds: float | None = Field(default=400 * 86_400.0, gt=0)
    """An entity without events for this long loses its profile altogether (a returning entity
    is then scored as a new one, against its peers). ``None`` keeps compacted profiles."""

    @model_validator(mode="after")
    def _forget_after_idle(self) -> ModelConfig:
        forget, idle = self.forget_seconds, self.idle_seconds
        if forget is not None and idle is not None and forget <= idle:
            raise ValueError("forget_seconds must be longer than idle_seconds")
        return self


class ModelsConfig(BaseModel):
    """Every model stage; ``enabled=False`` (the default) leaves the engine rules-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = False
    stages: tuple[ModelConfig, ...] = (
        ModelConfig(entity="account", alerts_per_10k=1.0, warmup=5_000, warmup_days=14.0),
        ModelConfig(
            entity="operator", alerts_per_10k=2.5, warmup=1_000, warmup_days=7.0, window_size=500
        ),
    )

    def with_currency_table(self, cny_per_unit: Mapping[str, float]) -> ModelsConfig:
        """This configuration with every stage converting amounts with ``cny_per_unit``."""
        table = dict(cny_per_unit)
        stages = tuple(s.model_copy(update={"cny_per_unit": table}) for s in self.stages)
        return self.model_copy(update={"stages": stages})
