"""``riskmon models``: train an offline IsolationForest artefact and evaluate the models.

Parsing and printing only: the runs live in :mod:`streams.evaluate` and :mod:`monitor.models.runs`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from monitor.models.evaluation import ModelReport
from monitor.models.runs import EvalRun, models_config, reports
from monitor.ops.evaluation import OpsReport
from streams.evaluate import load_inputs, read_events, run_models

models_app = typer.Typer(help="Train and evaluate the anomaly models.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)
CASES_PLOTTED = 3


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
    scorer: Annotated[str | None, typer.Option(help="tails, hst, iforest or river_hst.")] = None,
    png: Annotated[Path, typer.Option(help="Where to write the plots.")] = Path("models-eval.png"),
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures.")] = None,
    operations: Annotated[
        bool,
        typer.Option(
            help="Without files, also score operations alerts on a simulated month with "
            "labelled operational incidents (the same days, branches and seed; = riskmon "
            "ops-eval)."
        ),
    ] = True,
    ops_rate: Annotated[
        float, typer.Option(help="Operational incidents per working branch-day.")
    ] = 0.15,
) -> None:
    """Replay a labelled stream: precision, recall, PR-AUC per anomaly type, delay, alerts/day;
    and operations alerts: recall, false alarms per branch-day, detection delay per incident."""
    if scorer not in (None, "tails", "hst", "iforest", "river_hst"):
        err.print(f"[red]unknown scorer {scorer!r}[/]")
        raise typer.Exit(2)
    with console.status(f"preparing {events or f'{days} simulated days'}..."):
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
    figures = _figures(alone, both, run)
    if operations and events is None:
        from streams.ops_eval import run_ops_eval

        with console.status("operations: simulating incidents and replaying..."):
            ops, _ = run_ops_eval(days=days, branches=branches, seed=seed, rate=ops_rate)
        print_ops_report(ops)
        figures["operations"] = ops.to_dict()
    if json_out is not None:
        json_out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


def print_ops_report(report: OpsReport) -> None:
    """The operations figures: recall, false alarms per branch-day, median delay per kind."""
    table = Table(title="operations alerts against injected incidents")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("incidents", str(report.incidents))
    table.add_row("recall", f"{report.recall:.2f}")
    table.add_row("false alarms per branch-day", f"{report.false_per_branch_day:.3f}")
    for kind in sorted(report.delays):
        table.add_row(f"median delay, {kind} (min)", f"{report.median_delay(kind):.1f}")
    console.print(table)
    if report.missed:
        console.print("missed: " + ", ".join(report.missed))


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
    from monitor.currency import cny_per_unit
    from monitor.models.artifact import checksum_line, dumps
    from monitor.models.training import train_artifact
    from riskmon.rules_cli import load_or_exit
    from riskmon.settings import Settings

    table = cny_per_unit(load_or_exit(None, Settings()).rules)  # the rules' currency table
    stream = read_events(history)
    artifact = train_artifact(stream, seed=seed, rows=rows, cny_per_unit=table)
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
