"""Replaying a stream through the models and recording what they scored, for evaluation.

The CLI (``riskmon models eval``), the models benchmark and the acceptance tests share this: a
run keeps every alert, each scored event's score, when each model kind warmed up, and the score
and threshold over time of the entities it is asked to watch.

The engine is passed in (this package never imports :mod:`monitor.engine`, which imports the
rules); :func:`streams.evaluate.run_models` builds one with the shipped rules.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from monitor.alerts import Alert
from monitor.events import Event
from monitor.models.config import ModelConfig, ModelsConfig
from monitor.models.evaluation import ModelReport
from monitor.models.evaluation import reports as evaluation_reports
from monitor.models.stage import ModelStage

__all__ = ["EvalRun", "ModelEngine", "models_config", "reports", "score_stream"]


class ModelEngine(Protocol):
    """What :func:`score_stream` needs of :class:`monitor.engine.Engine`."""

    @property
    def state(self) -> Mapping[str, MutableMapping[str, Any]]: ...

    def process(self, event: Event) -> list[Alert]: ...

    def flush(self) -> list[Alert]: ...


@dataclass
class EvalRun:
    """Everything one replay with models on produced."""

    alerts: list[Alert]
    events: int
    days: float
    seconds: float
    scores: dict[str, float] = field(default_factory=dict)
    warm_from: dict[str, datetime] = field(default_factory=dict)
    series: dict[str, list[tuple[datetime, float, float]]] = field(default_factory=dict)
    """entity id -> (time, score, threshold) for the entities of labelled model cases."""
    expected_per_day: dict[str, float] = field(default_factory=dict)
    """entity kind -> the daily alert volume its calibrator expects at the traffic seen."""


def models_config(
    alerts_per_day: float | None = None,
    scorer: str | None = None,
    enabled: bool = True,
    alerts_per_10k: float | None = None,
) -> ModelsConfig:
    """The default configuration with the alert volume (per stage) and scorer overridden.

    ``alerts_per_day`` fixes the account model's daily volume (the operator model's is half);
    ``alerts_per_10k`` sets every stage's rate per 10,000 scored events.

    >>> config = models_config(alerts_per_day=4.0)
    >>> {stage.entity: stage.alerts_per_day for stage in config.stages}
    {'account': 4.0, 'operator': 2.0}
    """
    base = ModelsConfig()
    stages = []
    for stage in base.stages:
        update: dict[str, Any] = {}
        if alerts_per_day is not None:
            update["alerts_per_day"] = alerts_per_day * (1.0 if stage.entity == "account" else 0.5)
        if alerts_per_10k is not None:
            update["alerts_per_10k"] = alerts_per_10k
        if scorer is not None:
            update["scorer"] = scorer
        stages.append(ModelConfig.model_validate(stage.model_dump() | update))
    return ModelsConfig(enabled=enabled, stages=tuple(stages))


def score_stream(
    events: Sequence[Event],
    engine: ModelEngine,
    stages: Sequence[ModelStage],
    *,
    watched: Iterable[str] = (),
) -> EvalRun:
    """Run ``events`` through ``engine`` (whose extra stages are ``stages``), recording scores."""
    watch = set(watched)
    run = EvalRun(alerts=[], events=len(events), days=_days(events), seconds=0.0)
    started = time.perf_counter()
    for event in events:
        run.alerts.extend(engine.process(event))
        for stage in stages:
            _record(run, stage, event, engine.state[stage.name], watch)
    run.alerts.extend(engine.flush())
    run.seconds = time.perf_counter() - started
    for stage in stages:
        calibrator = stage.model(engine.state[stage.name]).calibrator
        run.expected_per_day[stage.config.entity] = calibrator.expected_per_day
    return run


def _record(
    run: EvalRun,
    stage: ModelStage,
    event: Event,
    state: Mapping[str, Any],
    watch: set[str],
) -> None:
    key = stage.key_for(event)
    if key is None or stage.last_score is None:
        return
    run.scores[event.event_id] = stage.last_score
    model = stage.model(state)
    if stage.config.entity not in run.warm_from and model.calibrator.warm:
        run.warm_from[stage.config.entity] = event.occurred_at
    if key in watch:
        threshold = model.calibrator.threshold()
        run.series.setdefault(key, []).append((event.occurred_at, stage.last_score, threshold))


def _days(events: Sequence[Event]) -> float:
    if not events:
        return 0.0
    span = events[-1].occurred_at - events[0].occurred_at
    return max(span.total_seconds() / 86_400, 1.0)


def reports(run: EvalRun, labels: Sequence[dict[str, Any]]) -> tuple[ModelReport, ModelReport]:
    """Models alone and rules+models, against ``labels``."""
    return evaluation_reports(
        run.alerts,
        labels,
        events=run.events,
        days=run.days,
        warm_from=run.warm_from,
        scores=run.scores,
    )
