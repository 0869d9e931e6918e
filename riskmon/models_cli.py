"""``riskmon models``: train an offline IsolationForest artefact and evaluate the models.

The lead wires it into :mod:`riskmon.cli` with ``app.add_typer(models_app, name="models")``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from monitor.alerts import Alert
from monitor.events import Event
from monitor.models import ModelConfig, ModelsConfig, ModelStage, default_model_stages
from monitor.models.evaluation import ModelReport
from monitor.models.evaluation import reports as evaluation_reports

models_app = typer.Typer(help="Train and evaluate the anomaly models.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
CASES_PLOTTED = 3


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


def run_models(
    events: Sequence[Event],
    config: ModelsConfig,
    *,
    rules: bool = True,
    watched: Iterable[str] = (),
) -> EvalRun:
    """Replay ``events`` through the shipped rules (or none) and the models, recording scores."""
    import time

    from monitor.engine import Engine
    from monitor.rules.loader import load_rules
    from monitor.rules.ruleset import RuleSet

    ruleset = load_rules([])
    if not rules:
        ruleset = RuleSet(rules=(), specs={}, pack_hash=ruleset.pack_hash, packs=ruleset.packs)
    stages = default_model_stages(config)
    engine = Engine(ruleset, extra_stages=stages)
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
    run: EvalRun, stage: ModelStage, event: Event, state: Mapping[str, Any], watch: set[str]
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


def print_report(report: ModelReport) -> None:
    table = Table(
        title=f"{report.name}: {report.events:,} events over {report.days:.0f} days",
        caption="eligible: cases after the warm-up; delay: median from case start to first alert",
    )
    table.add_column("type", no_wrap=True)
    for column in ("cases", "eligible", "found", "recall", "PR-AUC", "delay"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in report.rows:
        delay = "" if row.median_delay_s is None else f"{row.median_delay_s / 60:.0f}m"
        auc = "" if row.pr_auc is None else f"{row.pr_auc:.2f}"
        table.add_row(
            row.kind.removeprefix("model_anomaly/"),
            str(row.cases),
            str(row.eligible),
            str(row.detected),
            f"{row.recall:.0%}",
            auc,
            delay,
        )
    console.print(table)
    console.print(
        f"alerts {report.alerts} ({report.alerts_per_day:.1f}/day): precision "
        f"{report.precision:.2f}, recall {report.recall:.2f}, false {report.false_alerts} "
        f"({report.false_per_10k:.2f} per 10,000 events; {report.explained_alerts} of them name "
        f"another labelled case)"
    )


def read_events(path: Path) -> list[Event]:
    """Valid events of a JSONL file (bad lines are skipped; ``riskmon replay`` reports them)."""
    from monitor.errors import EventDecodeError
    from monitor.events import decode_event
    from streams.replay import read_lines

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
    with console.status(f"simulating {days} days of a {branches}-branch bank..."):
        sim = simulate(config)
    return sim.events, [json.loads(label.to_json()) for label in sim.labels]


@models_app.command("eval")
def eval_command(
    events: Annotated[Path | None, typer.Argument(help="events.jsonl (riskmon simulate)")] = None,
    labels: Annotated[Path | None, typer.Argument(help="labels.jsonl (riskmon simulate)")] = None,
    days: Annotated[int, typer.Option(help="Simulated days when no files are given.")] = 30,
    branches: Annotated[int, typer.Option(help="Simulated branches.")] = 20,
    customers: Annotated[int, typer.Option(help="Simulated customers per branch.")] = 2000,
    seed: int = 7,
    inject_rate: float = 1.0,
    alerts_per_day: Annotated[
        float | None,
        typer.Option(help="Fix the account model's alerts per day (operator: half)."),
    ] = None,
    alerts_per_10k: Annotated[
        float | None,
        typer.Option(help="Alerts per 10,000 scored events, every model (default: per model)."),
    ] = None,
    scorer: Annotated[str | None, typer.Option(help="tails, hst or iforest.")] = None,
    png: Annotated[Path, typer.Option(help="Where to write the plots.")] = Path("models-eval.png"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures.")] = None,
) -> None:
    """Replay a labelled stream: precision, recall, PR-AUC per anomaly type, delay, alerts/day."""
    if scorer not in (None, "tails", "hst", "iforest"):
        err.print(f"[red]unknown scorer {scorer!r}[/]")
        raise typer.Exit(2)
    stream, cases = load_inputs(events, labels, days, branches, seed, inject_rate, customers)
    watched = [lb["entity_id"] for lb in cases if lb["category"] == "model_anomaly"]
    config = models_config(alerts_per_day, scorer, alerts_per_10k=alerts_per_10k)
    run = run_models(stream, config, watched=watched)
    alone, both = reports(run, cases)
    print_report(alone)
    print_report(both)
    expected = ", ".join(f"{k} {v:.1f}" for k, v in sorted(run.expected_per_day.items()))
    console.print(f"expected model alerts per day at this traffic: {expected}")
    console.print(f"replay with models: {run.events / run.seconds:,.0f} events/s")
    write_plot(png, run, cases)
    console.print(f"plots written to [bold]{png}[/]")
    if json_out is not None:
        json_out.write_text(json.dumps(_figures(alone, both, run), indent=2), encoding="utf-8")


def _figures(alone: ModelReport, both: ModelReport, run: EvalRun) -> dict[str, Any]:
    rate = run.events / run.seconds if run.seconds else 0.0
    return {
        "models": alone.to_dict(),
        "rules+models": both.to_dict(),
        "events_per_s": rate,
        "expected_per_day": run.expected_per_day,
    }


@models_app.command("train")
def train_command(
    history: Annotated[Path, typer.Argument(help="Event history (JSONL).")],
    out: Annotated[Path, typer.Option(help="The artefact to write.")] = Path("model.skops"),
    seed: int = 0,
    rows: Annotated[int, typer.Option(help="Reservoir rows per entity kind.")] = 4096,
) -> None:
    """Fit an IsolationForest per entity kind on features of HISTORY; write OUT and OUT.sha256."""
    from monitor.models.artifact import checksum_line, dumps
    from monitor.models.training import train_artifact

    stream = read_events(history)
    artifact = train_artifact(stream, seed=seed, rows=rows)
    data = dumps(artifact)
    out.write_bytes(data)
    out.with_name(out.name + ".sha256").write_text(checksum_line(data, out.name), encoding="utf-8")
    kinds = ", ".join(sorted(artifact.forests))
    console.print(
        f"[green]wrote[/] {out} ({len(data):,} bytes, format version {artifact.version}, "
        f"forests: {kinds}, {artifact.events:,} events) and {out.name}.sha256"
    )


def write_plot(path: Path, run: EvalRun, labels: Sequence[dict[str, Any]]) -> None:
    """Precision-recall curves per anomaly type and score over time for a few injected cases."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [lb for lb in labels if lb["category"] == "model_anomaly"]
    warm = {
        lb["case_id"]
        for lb in cases
        if (start := run.warm_from.get(str(lb["entity_type"]))) is not None
        and datetime.fromisoformat(str(lb["start"])) >= start
    }
    shown = _one_per_reason([lb for lb in cases if lb["case_id"] in warm])[:CASES_PLOTTED]
    fig, axes = plt.subplots(1, 1 + len(shown), figsize=(5 * (1 + len(shown)), 4), squeeze=False)
    _plot_pr(axes[0][0], run, cases)
    for ax, case in zip(axes[0][1:], shown, strict=True):
        _plot_case(ax, run, case)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _one_per_reason(cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for case in cases:
        seen.setdefault(str(case.get("reason")), case)
    return list(seen.values())


def _plot_pr(ax: Any, run: EvalRun, cases: Sequence[dict[str, Any]]) -> None:
    from sklearn.metrics import precision_recall_curve

    labelled = {e for c in cases for e in c["event_ids"]}
    for reason in sorted({str(c.get("reason")) for c in cases}):
        positive = {e for c in cases if c.get("reason") == reason for e in c["event_ids"]}
        ids = [e for e in run.scores if e in positive or e not in labelled]
        if not any(e in positive for e in ids):
            continue
        truth = [e in positive for e in ids]
        precision, recall, _ = precision_recall_curve(truth, [run.scores[e] for e in ids])
        ax.plot(recall, precision, label=reason)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (events)")
    ax.legend(loc="lower left")


def _plot_case(ax: Any, run: EvalRun, case: dict[str, Any]) -> None:
    series = run.series.get(str(case["entity_id"]), [])
    start = datetime.fromisoformat(str(case["start"]))
    near = [(t, s, th) for t, s, th in series if -48 <= (t - start).total_seconds() / 3600 <= 24]
    if near:
        times = [(t - start).total_seconds() / 3600 for t, _, _ in near]
        ax.plot(times, [s for _, s, _ in near], marker="o", label="score (evidence)")
        shown = [th if th != float("inf") else float("nan") for _, _, th in near]
        ax.plot(times, shown, linestyle="--", label="threshold")
    ax.axvline(0.0, color="red", linewidth=0.8)
    ax.set(xlabel="hours from case start", ylabel="score", title=f"{case.get('reason')} (injected)")
    ax.legend(loc="upper left")
