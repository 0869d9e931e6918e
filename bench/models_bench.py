"""Benchmark the anomaly models: per-event cost of each scorer, and replay with models on/off.

Run from the repository root::

    .venv/bin/python -m bench.models_bench [--days 14] [--branches 4] [--repeat 3]

1. Feature vectors of every scored event of a simulated stream are collected once; each scorer
   then scores and learns them one at a time (``score_one`` then ``learn_one``), timed per event.
   river's ``HalfSpaceTrees`` is timed on the same vectors for comparison, and each scorer's
   event-level PR-AUC on the account stream shows what the time buys.
2. The same stream is replayed through the engine (decoded events, shipped rules) with models
   off, with models on, and with models alone (an empty rule set), best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from monitor.engine import Engine
from monitor.models import ModelsConfig, ModelStage
from monitor.models.evaluation import average_precision
from monitor.models.hst import HalfSpaceTreesScorer
from monitor.models.iforest import IsolationForestScorer
from monitor.models.tails import TailProbabilityScorer
from monitor.rules.loader import load_rules
from monitor.rules.ruleset import RuleSet
from monitor.simulator import SimConfig, simulate
from streams.runs import model_stages_for

Row = dict[str, float]


def collect(events: Sequence[Any], entity: str) -> tuple[list[Row], list[str], tuple[str, ...]]:
    """Feature vectors (and event ids) of every event the stage of ``entity`` scores."""
    config = next(c for c in ModelsConfig().stages if c.entity == entity)
    stage, state = ModelStage(config), {}
    rows, ids = [], []
    for event in events:
        key = stage.key_for(event)
        if key is None:
            continue
        stage.process(key, event, state)
        if stage.last_features is not None:
            rows.append(dict(stage.last_features))
            ids.append(event.event_id)
    return rows, ids, tuple(stage.kind.features)


class RiverHST:
    """river's HalfSpaceTrees behind the same two verbs (features are already in [0, 1])."""

    def __init__(self, features: Sequence[str]) -> None:
        from river.anomaly import HalfSpaceTrees

        self.model = HalfSpaceTrees(n_trees=25, height=8, window_size=2000, seed=0)

    def score_one(self, x: Row) -> float:
        return float(self.model.score_one(x))

    def learn_one(self, x: Row) -> None:
        self.model.learn_one(x)


SCORERS: dict[str, Callable[[Sequence[str]], Any]] = {
    "tails (default)": lambda f: TailProbabilityScorer(f),
    "hst (numpy)": lambda f: HalfSpaceTreesScorer(f, window_size=2000),
    "iforest (vectorised)": lambda f: IsolationForestScorer(f),
    "river HalfSpaceTrees": RiverHST,
}


def time_scorer(name: str, features: Sequence[str], rows: list[Row]) -> tuple[float, list[float]]:
    scorer = SCORERS[name](features)
    scores = []
    started = time.perf_counter()
    for x in rows:
        scores.append(scorer.score_one(x))
        scorer.learn_one(x)
    return (time.perf_counter() - started) / len(rows) * 1e6, scores


def engine_for(ruleset: RuleSet, models: bool) -> Engine:
    return Engine(ruleset, extra_stages=model_stages_for(models, ruleset))


def replay_rate(events: Sequence[Any], ruleset: RuleSet, models: bool, repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        engine = engine_for(ruleset, models)
        started = time.perf_counter()
        for event in events:
            engine.process(event)
        engine.flush()
        best = max(best, len(events) / (time.perf_counter() - started))
    return best


def month_lines(path: Path, ruleset: RuleSet) -> list[str]:
    """Rates on a large events file, e.g. the default month (``riskmon simulate --days 30``).

    Streaming replay (decode each line, then the engine, as ``riskmon replay`` does) and the
    engine alone over the decoded events; one pass each, rules with and without models.
    """
    from streams.replay import read_lines, replay

    def streamed(models: bool) -> tuple[int, float]:
        engine = engine_for(ruleset, models)
        stats = replay(read_lines([str(path)]), engine, lambda a: None, lambda d: None)
        return stats.events, stats.events / stats.seconds

    count, stream_off = streamed(False)
    _, stream_on = streamed(True)
    from streams.evaluate import read_events

    events = read_events(path)
    off = replay_rate(events, ruleset, False, 1)
    on = replay_rate(events, ruleset, True, 1)
    rows = [
        ("streaming replay (decode + engine), models off", stream_off),
        ("streaming replay (decode + engine), models on", stream_on),
        ("engine alone, decoded events in memory, models off", off),
        ("engine alone, decoded events in memory, models on", on),
    ]
    return [
        f"## {path.name}: {count:,} events, one pass each",
        "",
        "| configuration | events/s | µs/event |",
        "|---|---:|---:|",
        *[f"| {name} | {rate:,.0f} | {1e6 / rate:,.1f} |" for name, rate in rows],
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--branches", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("bench/models_results.md"))
    parser.add_argument(
        "--month",
        type=Path,
        help="Also replay this events file (riskmon simulate --days 30: the default month).",
    )
    args = parser.parse_args()
    config = SimConfig(
        days=args.days, branches=args.branches, customers_per_branch=1000, seed=11, inject_rate=3
    )
    sim = simulate(config)
    events = sim.events
    cases = [lb for lb in sim.labels if lb.category == "model_anomaly"]
    lines = [
        "# Anomaly model benchmark",
        "",
        f"`.venv/bin/python -m bench.models_bench --days {args.days} --branches {args.branches}"
        + (f" --month {args.month}`" if args.month is not None else "`"),
        f"on {platform.python_implementation()} {platform.python_version()}, "
        f"{platform.machine()}; {len(events):,} simulated events "
        "(1,000 customers per branch, seed 11, inject rate 3).",
        "",
        "## Scorers, per scored event (score_one + learn_one)",
        "",
        "| stream | scorer | µs/event | event PR-AUC (anomaly events vs unlabelled) |",
        "|---|---|---:|---:|",
    ]
    labelled = {e for lb in sim.labels for e in lb.event_ids}
    for entity in ("account", "operator"):
        rows, ids, features = collect(events, entity)
        positive = {e for lb in cases if lb.entity_type == entity for e in lb.event_ids}
        for name in SCORERS:
            cost, scores = time_scorer(name, features, rows)
            pos = [s for e, s in zip(ids, scores, strict=True) if e in positive]
            neg = [s for e, s in zip(ids, scores, strict=True) if e not in labelled]
            auc = average_precision(pos, neg)
            shown = "" if auc is None else f"{auc:.2f}"
            lines.append(f"| {entity} ({len(rows):,}) | {name} | {cost:,.1f} | {shown} |")
    ruleset = load_rules([])
    empty = RuleSet(rules=(), specs={}, pack_hash=ruleset.pack_hash, packs=ruleset.packs)
    off = replay_rate(events, ruleset, False, args.repeat)
    on = replay_rate(events, ruleset, True, args.repeat)
    alone = replay_rate(events, empty, True, args.repeat)
    lines += [
        "",
        f"## Engine replay, events/s (best of {args.repeat}; validated events in memory)",
        "",
        "| configuration | events/s | µs/event |",
        "|---|---:|---:|",
        f"| shipped rules, models off | {off:,.0f} | {1e6 / off:,.1f} |",
        f"| shipped rules + models | {on:,.0f} | {1e6 / on:,.1f} |",
        f"| models alone (empty rule set) | {alone:,.0f} | {1e6 / alone:,.1f} |",
        "",
        f"Models add {1e6 / on - 1e6 / off:,.1f} µs per event on top of the rules.",
        "",
    ]
    if args.month is not None:
        lines += month_lines(args.month, ruleset)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
