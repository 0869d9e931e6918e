"""Replay runs as the CLI makes them: files through a fresh engine, alerts and dead letters out.

``riskmon replay`` and ``riskmon demo`` parse options and print; this module does the work, so
that tests and other entry points run exactly what the command runs.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Literal

from monitor.alerts import Alert
from monitor.currency import CurrencyGate, cny_per_unit
from monitor.dedup import (
    DEDUP_MAX_ENTRIES,
    DEDUP_STATE_KEY,
    DEDUP_WINDOW_SECONDS,
    EventDeduplicator,
    admission,
)
from monitor.engine import Engine
from monitor.metrics import RiskmonMetrics
from monitor.models import ModelStage, default_model_stages
from monitor.models.runs import models_config
from monitor.rules.ruleset import RuleSet
from monitor.watermark import TimeBounds
from streams.replay import (
    DeadLetter,
    ReplayStats,
    kafka_source,
    kafka_sources,
    load_state,
    read_lines,
    replay,
    save_state,
)

__all__ = ["model_stages_for", "run_replay"]


def run_replay(
    files: Sequence[str],
    ruleset: RuleSet,
    *,
    lateness_seconds: int,
    language: Literal["en", "zh-CN"],
    mask: bool,
    alerts_out: Path | None = None,
    dead_letter: Path | None = None,
    state_file: Path | None = None,
    state: MutableMapping[str, Any] | None = None,
    bounds: TimeBounds | None = None,
    partitions: int | None = None,
    operations: bool = True,
    dedup_window_seconds: float = DEDUP_WINDOW_SECONDS,
    dedup_max_entries: int = DEDUP_MAX_ENTRIES,
    metrics: RiskmonMetrics | None = None,
    model_stages: Sequence[ModelStage] = (),
    on_dead_letter: Callable[[DeadLetter], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ReplayStats, list[Alert]]:
    """Replay ``files`` through a fresh engine, writing alerts and dead letters as JSONL.

    Without ``dead_letter``, dead letters go to ``on_dead_letter`` (when given). With
    ``state_file``, state is loaded before (unless ``state`` is given, already loaded) and saved
    after, models included. Repeated event ids (redeliveries, collisions) and amounts in a
    currency without a rate are screened before the engine (:mod:`monitor.dedup`,
    :mod:`monitor.currency`).
    """
    if state is None and state_file:
        state = load_state(state_file)
    engine = Engine(
        ruleset,
        state,
        lateness=timedelta(seconds=lateness_seconds),
        language=language,
        mask=mask,
        extra_stages=list(model_stages),
        bounds=bounds,
        sources=None if partitions is None else kafka_sources(partitions),
        operations=operations,
    )
    dedup = EventDeduplicator(
        engine.state.setdefault(DEDUP_STATE_KEY, {}),
        window_seconds=dedup_window_seconds,
        max_entries=dedup_max_entries,
    )
    admit = admission(CurrencyGate.from_rules(ruleset.rules).check, dedup=dedup)
    alerts: list[Alert] = []
    alert_handle = alerts_out.open("w", encoding="utf-8") if alerts_out else None
    dead_handle = dead_letter.open("w", encoding="utf-8") if dead_letter else None

    def on_alert(alert: Alert) -> None:
        alerts.append(alert)
        if alert_handle:
            alert_handle.write(alert.to_json() + "\n")
            if metrics is not None:
                metrics.sink_sent.labels("jsonl").inc()

    def on_dead(letter: DeadLetter) -> None:
        if dead_handle:
            dead_handle.write(letter.to_json() + "\n")
        elif on_dead_letter is not None:
            on_dead_letter(letter)

    try:
        stats = replay(
            read_lines(files),
            engine,
            on_alert,
            on_dead,
            progress=progress,
            metrics=metrics,
            admit=admit,
            source_of=None if partitions is None else partial(kafka_source, partitions=partitions),
        )
    finally:
        for handle in (alert_handle, dead_handle):
            if handle:
                handle.close()
    if state_file:
        for stage in model_stages:
            stage.snapshot(engine.state[stage.name])  # learned models survive the split
        save_state(state_file, engine.state)
    return stats, alerts


def model_stages_for(
    enabled: bool,
    ruleset: RuleSet,
    *,
    alerts_per_day: float | None = None,
    alerts_per_10k: float | None = None,
    metrics: RiskmonMetrics | None = None,
) -> list[ModelStage]:
    """The anomaly-model stages when ``enabled`` (else none), reporting to ``metrics``; they
    convert amounts with ``ruleset``'s currency table."""
    if not enabled:
        return []
    config = models_config(
        alerts_per_day, enabled=True, alerts_per_10k=alerts_per_10k
    ).with_currency_table(cny_per_unit(ruleset.rules))
    stages = default_model_stages(config)
    if metrics is not None:
        catalogue = metrics

        def observe(scorer: str, score: float, threshold: float) -> None:
            catalogue.observe_score(scorer, score)
            catalogue.set_threshold(scorer, threshold)

        for stage in stages:
            stage.observer = observe
    return stages
