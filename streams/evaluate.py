"""Model evaluation runs: labelled events from files or the simulator, through rules and models.

``riskmon models eval``, ``riskmon models train`` and the models benchmark read their inputs
here; the scoring itself is :mod:`monitor.models.runs` and :mod:`monitor.models.evaluation`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from monitor.currency import cny_per_unit
from monitor.engine import Engine
from monitor.errors import EventDecodeError
from monitor.events import Event, decode_event
from monitor.models import ModelsConfig, default_model_stages
from monitor.models.runs import EvalRun, score_stream
from monitor.rules.loader import load_rules
from monitor.rules.ruleset import RuleSet
from streams.replay import read_lines

__all__ = ["load_inputs", "read_events", "run_models"]


def run_models(
    events: Sequence[Event],
    config: ModelsConfig,
    *,
    rules: bool = True,
    watched: Iterable[str] = (),
) -> EvalRun:
    """Replay ``events`` through the shipped rules (or none) and the models, recording scores."""
    ruleset = load_rules([])
    table = cny_per_unit(ruleset.rules)  # the models convert with the packs' table either way
    if not rules:
        ruleset = RuleSet(rules=(), specs={}, pack_hash=ruleset.pack_hash, packs=ruleset.packs)
    stages = default_model_stages(config.with_currency_table(table))
    engine = Engine(ruleset, extra_stages=stages, operations=False)  # ops: riskmon ops-eval
    return score_stream(events, engine, stages, watched=watched)


def read_events(path: Path) -> list[Event]:
    """Valid events of a JSONL file (bad lines are skipped; ``riskmon replay`` reports them)."""
    events: list[Event] = []
    for line in read_lines([str(path)]):
        try:
            events.append(decode_event(line.text))
        except EventDecodeError:
            continue
    return events


def load_inputs(
    events_path: Path | None,
    labels_path: Path | None,
    days: int,
    branches: int,
    seed: int,
    inject_rate: float,
    customers: int = 2000,
) -> tuple[list[Event], list[dict[str, Any]]]:
    """Events and labels from files, or from an in-process simulation when no files are given."""
    if events_path is not None and labels_path is not None:
        text = labels_path.read_text(encoding="utf-8")
        return read_events(events_path), [json.loads(t) for t in text.splitlines() if t]
    from monitor.simulator import SimConfig, simulate

    config = SimConfig(
        days=days,
        branches=branches,
        seed=seed,
        inject_rate=inject_rate,
        customers_per_branch=customers,
    )
    sim = simulate(config)
    return sim.events, [json.loads(label.to_json()) for label in sim.labels]
