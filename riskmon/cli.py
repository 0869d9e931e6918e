"""The ``riskmon`` command line."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.errors import RulePackError
from monitor.rule_examples import run_examples
from monitor.rules.loader import load_rules
from monitor.rules.ruleset import RuleSet
from riskmon.alerts_cli import alerts_app
from riskmon.models_cli import eval_command, models_app
from riskmon.observability import Exposure, exposed
from riskmon.settings import Settings
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

if TYPE_CHECKING:
    from monitor.metrics import RiskmonMetrics
    from monitor.models.stage import ModelStage
    from streams.worker.config import WorkerConfig

app = typer.Typer(
    help="riskmon: real-time transaction anomaly and operational-risk monitor for banks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Validate, test and compare rule packs.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(alerts_app, name="alerts")
app.add_typer(models_app, name="models")
app.command("eval", help="Evaluate rules and models on a labelled stream (= riskmon models eval).")(
    eval_command
)

console = Console()
err = Console(stderr=True)
Lang = Literal["en", "zh-CN"]
RulesOption = Annotated[
    list[Path] | None, typer.Option("--rules", help="Extra rule files or folders.")
]


def _load(rules: list[Path] | None, settings: Settings) -> RuleSet:
    paths = list(rules or ([] if settings.rules_dir is None else [settings.rules_dir]))
    try:
        return load_rules(paths)
    except RulePackError as exc:
        err.print(f"[bold red]rule pack rejected[/]: {exc}")
        raise typer.Exit(2) from None


def _progress(total: int | None) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def run_replay(
    files: list[str],
    ruleset: RuleSet,
    settings: Settings,
    alerts_out: Path | None,
    dead_letter: Path | None,
    state_file: Path | None = None,
    language: Lang | None = None,
    metrics: RiskmonMetrics | None = None,
    models: bool = False,
) -> tuple[ReplayStats, list[Alert]]:
    """Replay files through a fresh engine, writing alerts and dead letters as JSONL."""
    from datetime import timedelta

    state = load_state(state_file) if state_file else None
    model_stages = model_stages_for(settings, models, metrics)
    engine = Engine(
        ruleset,
        state,
        lateness=timedelta(seconds=settings.lateness_seconds),
        bounds=settings.time_bounds(),
        sources=kafka_sources(settings.topic_partitions),
        language=language or settings.language,
        mask=settings.mask_accounts,
        extra_stages=model_stages,
        operations=settings.operations_enabled,
    )
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
        else:
            err.print(f"[yellow]dead letter[/] {letter.source}:{letter.line}: {letter.reason}")

    total = sum(Path(f).stat().st_size for f in files if f != "-") or None
    try:
        with _progress(total) as progress:
            task = progress.add_task("replaying", total=total)
            stats = replay(
                read_lines(files),
                engine,
                on_alert,
                on_dead,
                progress=lambda n: progress.advance(task, n),
                metrics=metrics,
                source_of=lambda event: kafka_source(event, settings.topic_partitions),
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
    settings: Settings, flag: bool = False, metrics: RiskmonMetrics | None = None
) -> list[ModelStage]:
    """The anomaly-model stages if models are on (``--models`` or ``RISKMON_MODELS_ENABLED``)."""
    if not (flag or settings.models_enabled):
        return []
    from monitor.models import default_model_stages
    from riskmon.models_cli import models_config

    config = models_config(
        settings.models_alerts_per_day,
        enabled=True,
        alerts_per_10k=settings.models_alerts_per_10k,
    )
    stages = default_model_stages(config)
    if metrics is not None:
        catalogue = metrics

        def observe(scorer: str, score: float, threshold: float) -> None:
            catalogue.observe_score(scorer, score)
            catalogue.set_threshold(scorer, threshold)

        for stage in stages:
            stage.observer = observe
    return stages


def print_summary(stats: ReplayStats) -> None:
    table = Table(title="Replay summary", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("events", f"{stats.events:,}")
    for category, count in sorted(stats.by_category.items()):
        table.add_row(f"alerts: {category}", f"{count:,}")
    table.add_row("alerts (total)", f"{stats.alerts:,}")
    table.add_row("dead letters", f"{stats.dead_letters:,}")
    for reason, count in sorted(stats.dead_by_reason.items()):
        table.add_row(f"  dead: {reason}", f"{count:,}")
    table.add_row("events/s", f"{stats.events_per_second:,.0f}")
    console.print(table)


def print_alerts(alerts: list[Alert], limit: int) -> None:
    table = Table(title=f"Alerts (first {min(limit, len(alerts))} of {len(alerts)})")
    table.add_column("event time", no_wrap=True)
    table.add_column("alert", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for alert in alerts[:limit]:
        kind = alert.category + (f"/{alert.reason}" if alert.reason else "")
        table.add_row(
            alert.occurred_at.strftime("%m-%d %H:%M"), f"{kind}\n{alert.severity}", alert.message
        )
    console.print(table)


@app.command("replay")
def replay_command(
    files: Annotated[list[str], typer.Argument(help="JSONL event files, or - for stdin.")],
    rules: RulesOption = None,
    alerts_out: Annotated[Path | None, typer.Option(help="Write alerts as JSONL here.")] = None,
    dead_letter: Annotated[Path | None, typer.Option(help="Write dead letters here.")] = None,
    state: Annotated[
        Path | None, typer.Option(help="Load engine state from and save it to this JSON file.")
    ] = None,
    language: Annotated[str | None, typer.Option(help="en or zh-CN.")] = None,
    show: Annotated[int, typer.Option(help="How many alerts to print.")] = 0,
    models: Annotated[
        bool, typer.Option("--models/--no-models", help="Also run the anomaly models.")
    ] = False,
    metrics_port: MetricsPort = None,
    metrics_linger: MetricsLinger = 0.0,
    pushgateway: Pushgateway = None,
    instance: Instance = None,
) -> None:
    """Replay events through the rules on an in-process state and write the alerts."""
    settings = Settings()
    ruleset = _load(rules, settings)
    lang = _language(language)
    exposure = _exposure(settings, metrics_port, metrics_linger, pushgateway, instance)
    with exposed(exposure, ruleset, ("engine",)) as metrics:
        stats, alerts = run_replay(
            files, ruleset, settings, alerts_out, dead_letter, state, lang, metrics, models
        )
        print_summary(stats)
    if show:
        print_alerts(alerts, show)


MetricsPort = Annotated[
    int | None,
    typer.Option(help="Serve Prometheus /metrics on this port (default RISKMON_METRICS_PORT)."),
]
MetricsLinger = Annotated[
    float, typer.Option(min=0.0, help="Keep serving /metrics this many seconds after the end.")
]
Pushgateway = Annotated[
    str | None, typer.Option(help="Push the final metrics to this Pushgateway (host:port or URL).")
]
Instance = Annotated[
    str | None, typer.Option(help="The Pushgateway instance label (default: the host name).")
]


def _exposure(
    settings: Settings,
    port: int | None,
    linger: float,
    pushgateway: str | None,
    instance: str | None,
) -> Exposure:
    return Exposure(
        port=port if port is not None else settings.metrics_port,
        addr=settings.metrics_addr,
        linger=linger,
        pushgateway=pushgateway,
        instance=instance,
    )


def _language(value: str | None) -> Lang | None:
    if value is None:
        return None
    if value not in ("en", "zh-CN"):
        err.print(f"[red]unknown language {value!r}; use en or zh-CN[/]")
        raise typer.Exit(2)
    return "en" if value == "en" else "zh-CN"


@app.command("simulate")
def simulate_command(
    out_dir: Annotated[Path, typer.Option(help="Folder for events.jsonl and labels.jsonl.")] = Path(
        "out/sim"
    ),
    days: Annotated[int, typer.Option(min=1)] = 7,
    branches: Annotated[int, typer.Option(min=1)] = 20,
    seed: int = 7,
    inject_rate: Annotated[float, typer.Option(min=0.0, help="0 turns injection off.")] = 1.0,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2026-03-02",
) -> None:
    """Simulate a bank: events plus labels of every injected case."""
    from datetime import date

    from monitor.simulator import SimConfig, simulate
    from streams.simfile import write_simulation

    config = SimConfig(
        seed=seed,
        days=days,
        branches=branches,
        inject_rate=inject_rate,
        start=date.fromisoformat(start),
    )
    with console.status(f"simulating {days} days of a {branches}-branch bank..."):
        sim = simulate(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_simulation(sim, out_dir / "events.jsonl", out_dir / "labels.jsonl")
    by = Counter(f"{label.category}/{label.reason or '-'}" for label in sim.labels)
    table = Table(title=f"Simulated {len(sim.events):,} events -> {out_dir}/events.jsonl")
    table.add_column("labelled case")
    table.add_column("count", justify="right")
    for key, count in sorted(by.items()):
        table.add_row(key, str(count))
    console.print(table)


@app.command("demo")
def demo_command(
    out_dir: Annotated[Path, typer.Option(help="Where the demo writes its files.")] = Path(
        "out/demo"
    ),
    days: int = 7,
    branches: int = 20,
    language: Annotated[str, typer.Option(help="en or zh-CN.")] = "en",
    models: Annotated[
        bool,
        typer.Option(
            "--models/--no-models", help="Also run the anomaly models (they warm up for two weeks)."
        ),
    ] = False,
    metrics_port: MetricsPort = None,
    metrics_linger: MetricsLinger = 0.0,
    pushgateway: Pushgateway = None,
    instance: Instance = None,
) -> None:
    """Simulate a week of a 20-branch bank, replay it and show the alerts (no broker needed)."""
    simulate_command(out_dir=out_dir, days=days, branches=branches, seed=7, inject_rate=1.0)
    settings = Settings()
    ruleset = _load(None, settings)
    exposure = _exposure(settings, metrics_port, metrics_linger, pushgateway, instance)
    with exposed(exposure, ruleset, ("engine",)) as metrics:
        stats, alerts = run_replay(
            [str(out_dir / "events.jsonl")],
            ruleset,
            settings,
            out_dir / "alerts.jsonl",
            out_dir / "dead-letter.jsonl",
            language=_language(language),
            metrics=metrics,
            models=models,
        )
        shown = _one_per_kind(alerts)
        print_alerts(shown, len(shown))
        print_summary(stats)
        _print_recall(out_dir / "labels.jsonl", alerts)
        if models:
            _print_model_cases(out_dir / "labels.jsonl", alerts)
    from alerts.store import AlertStore

    with AlertStore.open(settings.alert_store_url) as store:
        added = store.upsert_many(alerts)
    console.print(
        f"alerts written to [bold]{out_dir / 'alerts.jsonl'}[/] and stored in "
        f"{settings.alert_store_url} ({added} new). Next: [bold]riskmon alerts list[/]"
    )


def _one_per_kind(alerts: list[Alert]) -> list[Alert]:
    seen: dict[tuple[str, str | None], Alert] = {}
    for alert in alerts:
        seen.setdefault((alert.category, alert.reason), alert)
    return list(seen.values())


def _print_recall(labels_path: Path, alerts: list[Alert]) -> None:
    from monitor.scoring import rule_recall

    labels = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines()]
    table = Table(title="Injected cases detected by the rules")
    for column in ("category", "reason", "cases", "detected", "recall"):
        table.add_column(column, justify="right" if column in ("cases", "detected") else "left")
    for row in rule_recall(labels, alerts):
        table.add_row(
            row.category, row.reason or "", str(row.cases), str(row.detected), f"{row.recall:.0%}"
        )
    console.print(table)


def _print_model_cases(labels_path: Path, alerts: list[Alert]) -> None:
    from monitor.models.evaluation import evaluate

    text = labels_path.read_text(encoding="utf-8")
    cases = [c for c in map(json.loads, text.splitlines()) if c["category"] == "model_anomaly"]
    report = evaluate("models", alerts, cases, events=0, days=0.0)
    table = Table(
        title="Injected rule-less cases found by the models",
        caption="the models stay silent during their warm-up (accounts 14 days, operators 7)",
    )
    for column in ("reason", "cases", "found", "first case"):
        table.add_column(column, justify="left" if column == "reason" else "right")
    for row in report.rows:
        reason = row.kind.removeprefix("model_anomaly/")
        first = min(str(c["start"])[:10] for c in cases if c["reason"] == reason)
        table.add_row(reason, str(row.cases), str(row.detected), first)
    console.print(table)


@rules_app.command("validate")
def rules_validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Rule files or folders.")] = None,
) -> None:
    """Load the shipped packs plus PATHS and report the first problem, with file and line."""
    ruleset = _load(paths, Settings())
    console.print(
        f"[green]ok[/]: {len(ruleset.rules)} enabled rules from {len(ruleset.files)} files; "
        f"version {ruleset.version}; hash {ruleset.pack_hash}"
    )


@rules_app.command("backtest")
def rules_backtest(
    events: Annotated[list[str], typer.Argument(help="JSONL event files (history).")],
    before: Annotated[
        list[Path] | None, typer.Option("--before", help="Rule files of the current version.")
    ] = None,
    after: Annotated[
        list[Path] | None, typer.Option("--after", help="Rule files of the candidate version.")
    ] = None,
    show: Annotated[int, typer.Option(help="Alerts to list per rule and direction.")] = 3,
) -> None:
    """Replay history through two rule versions; print the alerts each rule adds and removes."""
    from monitor.backtest import diff_alerts, run_rules
    from monitor.errors import EventDecodeError
    from monitor.events import decode_event

    settings = Settings()
    old_rules, new_rules = _load(before, settings), _load(after, settings)
    decoded = []
    for line in read_lines(events):
        try:
            decoded.append(decode_event(line.text))
        except EventDecodeError:
            continue  # `riskmon replay` reports dead letters; a backtest compares what is valid
    diff = diff_alerts(run_rules(old_rules, decoded), run_rules(new_rules, decoded))
    table = Table(title=f"Backtest over {len(decoded):,} events: {old_rules.pack_hash} -> "
                  f"{new_rules.pack_hash}")  # fmt: skip
    for column in ("rule", "before", "after", "added", "removed"):
        table.add_column(column, justify="left" if column == "rule" else "right")
    for change in diff.by_rule:
        style = "" if not (change.added or change.removed) else "bold"
        table.add_row(
            change.rule_id,
            str(change.before),
            str(change.after),
            f"[green]+{len(change.added)}[/]" if change.added else "0",
            f"[red]-{len(change.removed)}[/]" if change.removed else "0",
            style=style,
        )
    console.print(table)
    for change in diff.by_rule:
        for sign, alerts in (("+", change.added), ("-", change.removed)):
            for alert in alerts[:show]:
                console.print(f"  {sign} {change.rule_id}: {alert.message}")
    console.print(f"{diff.added} alerts added, {diff.removed} removed")


@rules_app.command("test")
def rules_test(
    paths: Annotated[list[Path] | None, typer.Argument(help="Rule files or folders.")] = None,
) -> None:
    """Run every rule's examples and print a pass/fail table."""
    ruleset = _load(paths, Settings())
    results = run_examples(ruleset)
    table = Table(title="Rule examples")
    for column in ("rule", "#", "example", "result"):
        table.add_column(column, overflow="fold")
    for result in results:
        mark = "[green]pass[/]" if result.passed else f"[red]FAIL[/] {result.detail}"
        table.add_row(result.rule_id, str(result.index + 1), result.desc, mark)
    console.print(table)
    failed = sum(not r.passed for r in results)
    console.print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


@app.command("worker")
def worker_command(
    rules: RulesOption = None,
    loglevel: Annotated[str, typer.Option(help="faust log level.")] = "warning",
) -> None:
    """Run the real-time worker: Kafka input topics -> rules -> risk.alerts (faust-streaming)."""
    import faust

    from streams.worker.app import create_app

    settings = Settings()
    ruleset = _load(rules, settings)
    exposure = Exposure(port=settings.metrics_port, addr=settings.metrics_addr)
    with exposed(exposure, ruleset) as metrics:
        app_ = create_app(
            worker_config(settings),
            ruleset,
            extra_stages=model_stages_for(settings, metrics=metrics),
            metrics=metrics,
        )
        worker = faust.Worker(app_, loglevel=loglevel, quiet=True)
        worker.execute_from_commandline()


def worker_config(settings: Settings) -> WorkerConfig:
    from streams.worker.config import WorkerConfig

    return WorkerConfig(
        bootstrap=settings.kafka_bootstrap,
        app_id=settings.worker_app_id,
        topic_transactions=settings.topic_transactions,
        topic_operator_actions=settings.topic_operator_actions,
        topic_alerts=settings.topic_alerts,
        topic_deadletter=settings.topic_deadletter,
        partitions=settings.topic_partitions,
        lateness_seconds=settings.lateness_seconds,
        event_time_earliest=settings.event_time_earliest.timestamp(),
        event_time_max_ahead=settings.event_time_max_ahead_seconds,
        tick_interval=settings.worker_tick_interval,
        idle_after=settings.worker_idle_after,
        store=settings.worker_store,
        data_dir=settings.worker_data_dir,
        language=settings.language,
        mask_accounts=settings.mask_accounts,
        web_port=settings.worker_web_port,
        session_timeout=settings.worker_session_timeout,
        operations=settings.operations_enabled,
    )


@app.command("produce")
def produce_command(
    files: Annotated[list[str], typer.Argument(help="JSONL event files, or - for stdin.")],
    rate: Annotated[float | None, typer.Option(help="Target events per second.")] = None,
) -> None:
    """Publish JSONL events to the input topics, keyed by account or operator (kafka-python)."""
    from kafka import KafkaProducer

    from streams.produce import produce

    settings = Settings()
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, retries=5
    )
    try:
        with _progress(None) as progress:
            task = progress.add_task("producing", total=None)
            stats = produce(
                read_lines(files),
                lambda topic, key, value: producer.send(topic, key=key, value=value),
                settings.topic_transactions,
                settings.topic_operator_actions,
                rate=rate,
                progress=lambda n: progress.advance(task, n),
            )
        producer.flush()
    finally:
        producer.close()
    console.print(
        f"sent {stats.sent:,} messages ({stats.transactions:,} transactions, "
        f"{stats.operator_actions:,} operator actions, {stats.unparseable:,} unparseable) "
        f"in {stats.seconds:.1f}s to {settings.kafka_bootstrap}"
    )


@app.command("dispatch")
def dispatch_command() -> None:
    """Deliver alerts from the alerts topic to the store, Alertmanager and webhooks (routes)."""
    import signal

    from kafka import KafkaConsumer
    from prometheus_client import CollectorRegistry

    from streams.dispatch import DispatchConfig, dispatch, open_pipeline

    settings = Settings()
    config = DispatchConfig(
        store_url=settings.alert_store_url,
        routes_file=settings.routes_file,
        alertmanager_url=settings.alertmanager_url,
        webhook_url=settings.webhook_url,
        webhook_secret=settings.webhook_secret,
        dead_letter_dir=settings.dispatch_dead_letter_dir,
    )
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    consumer = KafkaConsumer(
        settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.dispatch_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        with open_pipeline(config, CollectorRegistry()) as (pipeline, _store):
            console.print(f"dispatching {settings.topic_alerts} -> {sorted(pipeline.sinks)}")
            stats = dispatch(consumer, pipeline, should_stop=lambda _s: bool(stopping))
    except KeyboardInterrupt:
        return
    finally:
        consumer.close()
    console.print(f"dispatched {stats.received:,} alerts ({stats.rejected} rejected)")


@app.command("ops-eval")
def ops_eval_command(
    days: Annotated[int, typer.Option(help="Simulated days.")] = 30,
    branches: Annotated[int, typer.Option(help="Simulated branches.")] = 8,
    seed: int = 7,
    rate: Annotated[float, typer.Option(help="Incidents per working branch-day.")] = 0.15,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the figures.")] = None,
) -> None:
    """Simulate a month with labelled operational incidents; score the operations alerts."""
    from streams.ops_eval import run_ops_eval

    report, _ = run_ops_eval(days=days, branches=branches, seed=seed, rate=rate)
    table = Table(title="operations alerts against injected incidents")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("incidents", str(report.incidents))
    table.add_row("recall", f"{report.recall:.2f}")
    table.add_row("false alarms per branch-day", f"{report.false_per_branch_day:.3f}")
    for kind, delays in sorted(report.delays.items()):
        table.add_row(f"median delay, {kind} (min)", f"{sorted(delays)[len(delays) // 2]:.1f}")
    console.print(table)
    if report.missed:
        console.print("missed: " + ", ".join(report.missed))
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")


@app.command("detect-series")
def detect_series_command(
    input_csv: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="timestamp,value")],
    output_csv: Annotated[Path, typer.Argument(help="Input columns plus anomaly_score in [0, 1].")],
) -> None:
    """Score an operational time series row by row (strictly online) with the series detector."""
    from streams.series_file import detect_csv

    bad: list[str] = []
    rows = detect_csv(input_csv, output_csv, on_bad_row=lambda row: bad.append(str(row)))
    for line in bad[:20]:
        err.print(f"[yellow]{line}[/]")
    console.print(f"scored {rows:,} rows -> {output_csv} ({len(bad)} unparseable)")


def main() -> None:
    app(prog_name="riskmon")


if __name__ == "__main__":
    main()
