"""The ``riskmon`` command line."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from monitor.alerts import Alert
from monitor.rules.ruleset import RuleSet
from riskmon.alerts_cli import alerts_app
from riskmon.identity_cli import users_app
from riskmon.models_cli import eval_command, models_app, print_ops_report
from riskmon.observability import Exposure, exposed
from riskmon.register_cli import register_app
from riskmon.rules_cli import load_or_exit, require_approval, rules_app, start_reloader
from riskmon.serve_cli import evidence_events, serve_command
from riskmon.settings import Settings, prepare_store
from streams.replay import DeadLetter, ReplayStats, load_state, read_lines
from streams.runs import model_stages_for, run_replay

if TYPE_CHECKING:
    from monitor.metrics import RiskmonMetrics
    from monitor.models.stage import ModelStage
    from streams.kafka_client import KafkaClientConfig
    from streams.worker.config import WorkerConfig

T = TypeVar("T")

app = typer.Typer(
    help="riskmon: real-time transaction anomaly and operational-risk monitor for banks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(rules_app, name="rules")
app.add_typer(alerts_app, name="alerts")
app.add_typer(users_app, name="users")
app.add_typer(register_app, name="register")
app.add_typer(models_app, name="models")
app.command("serve")(serve_command)
app.command("eval", help="Evaluate rules and models on a labelled stream (= riskmon models eval).")(
    eval_command
)

console = Console()
err = Console(stderr=True)
Lang = Literal["en", "zh-CN"]
RulesOption = Annotated[
    list[Path] | None, typer.Option("--rules", help="Extra rule files or folders.")
]


def _fail(message: str, code: int = 2) -> NoReturn:
    """One clear line on stderr and a non-zero exit: how every expected failure ends."""
    err.print(f"riskmon: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


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


def _replay(
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
    """:func:`streams.runs.run_replay` with the settings, a progress bar and dead letters shown."""

    _check_inputs(files)
    state = _read_state(state_file) if state_file else None

    def show_dead(letter: DeadLetter) -> None:
        err.print(f"[yellow]dead letter[/] {letter.source}:{letter.line}: {letter.reason}")

    total = sum(Path(f).stat().st_size for f in files if f != "-") or None
    with _progress(total) as progress:
        task = progress.add_task("replaying", total=total)
        return run_replay(
            files,
            ruleset,
            lateness_seconds=settings.lateness_seconds,
            language=language or settings.language,
            mask=settings.mask_accounts,
            alerts_out=alerts_out,
            dead_letter=dead_letter,
            state_file=state_file,
            state=state,
            bounds=settings.time_bounds(),
            partitions=settings.topic_partitions,
            operations=settings.operations_enabled,
            dedup_window_seconds=settings.dedup_window_seconds,
            dedup_max_entries=settings.dedup_max_entries,
            metrics=metrics,
            model_stages=_model_stages(settings, ruleset, models, metrics),
            on_dead_letter=show_dead,
            progress=lambda n: progress.advance(task, n),
        )


def _check_inputs(files: list[str]) -> None:
    """Input files exist, are files and are readable (``-`` is standard input)."""
    for name in files:
        if name == "-":
            continue
        path = Path(name)
        if not path.exists():
            _fail(f"{name}: no such file")
        if path.is_dir():
            _fail(f"{name}: is a folder; give the JSONL files in it")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            _fail(f"{name}: cannot read: {_os_reason(exc)}")


def _read_state(path: Path) -> dict[str, Any]:
    """``--state``: a missing file starts fresh; a corrupt or foreign one is one clear error."""
    try:
        state = load_state(path)
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"--state {path}: cannot read: {_os_reason(exc)}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _fail(f"--state {path}: not a riskmon state file ({exc})")
    if not isinstance(state, dict) or not all(isinstance(v, dict) for v in state.values()):
        _fail(f"--state {path}: not a riskmon state file (stages are not mappings)")
    return state


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)


def _model_stages(
    settings: Settings,
    ruleset: RuleSet,
    flag: bool = False,
    metrics: RiskmonMetrics | None = None,
) -> list[ModelStage]:
    """The anomaly-model stages if models are on (``--models`` or ``RISKMON_MODELS_ENABLED``),
    converting amounts with ``ruleset``'s currency table."""
    return model_stages_for(
        flag or settings.models_enabled,
        ruleset,
        alerts_per_day=settings.models_alerts_per_day,
        alerts_per_10k=settings.models_alerts_per_10k,
        metrics=metrics,
    )


def print_summary(stats: ReplayStats) -> None:
    table = Table(title="Replay summary", show_header=True, header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("events", f"{stats.events:,}")
    for category, count in sorted(stats.by_category.items()):
        table.add_row(f"alerts: {category}", f"{count:,}")
    table.add_row("alerts (total)", f"{stats.alerts:,}")
    table.add_row("dead letters", f"{stats.dead_letters:,}")
    if stats.redeliveries:
        table.add_row("repeated events dropped", f"{stats.redeliveries:,}")
    for reason, count in sorted(stats.dead_by_reason.items()):
        table.add_row(f"  dead: {reason}", f"{count:,}")
    table.add_row("events/s", f"{stats.events_per_second:,.0f}")
    console.print(table)


def print_alerts(alerts: list[Alert], limit: int) -> None:
    zone = ZoneInfo(Settings().timezone)  # the bank's time, whatever offset the events carry
    table = Table(title=f"Alerts (first {min(limit, len(alerts))} of {len(alerts)})")
    table.add_column(f"event time ({zone.key})", no_wrap=True)
    table.add_column("alert", no_wrap=True)
    table.add_column("message", overflow="fold", ratio=1)
    for alert in alerts[:limit]:
        kind = alert.category + (f"/{alert.reason}" if alert.reason else "")
        table.add_row(
            f"{alert.occurred_at.astimezone(zone):%m-%d %H:%M}",
            f"{kind}\n{alert.severity}",
            alert.message,
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
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            help="Tail one growing file like tail -f, hot-reloading the rule folder, until "
            "Ctrl-C or SIGTERM.",
        ),
    ] = False,
) -> None:
    """Replay events through the rules on an in-process state and write the alerts."""
    settings = Settings()
    ruleset = load_or_exit(rules, settings)
    lang = _language(language)
    if follow and (len(files) != 1 or files[0] == "-" or models):
        err.print("[red]--follow takes exactly one file (not stdin) and no --models[/]")
        raise typer.Exit(2)
    exposure = _exposure(settings, metrics_port, metrics_linger, pushgateway, instance)
    with exposed(exposure, ruleset, ("engine",)) as metrics:
        if follow:
            from riskmon.follow_cli import follow_replay

            stats, alerts = follow_replay(
                Path(files[0]),
                rules,
                ruleset,
                settings,
                alerts_out=alerts_out,
                dead_letter=dead_letter,
                state_file=state,
                language=lang,
                metrics=metrics,
            )
        else:
            stats, alerts = _replay(
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
    rules: RulesOption = None,
) -> None:
    """Simulate a bank: events plus labels of every injected case, at the rules' lines."""
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
    ruleset = load_or_exit(rules, Settings())
    with console.status(f"simulating {days} days of a {branches}-branch bank..."):
        sim = simulate(config, ruleset)
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
    days: Annotated[int, typer.Option(min=1)] = 7,
    branches: Annotated[int, typer.Option(min=1)] = 20,
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
    ruleset = load_or_exit(None, settings)
    exposure = _exposure(settings, metrics_port, metrics_linger, pushgateway, instance)
    with exposed(exposure, ruleset, ("engine",)) as metrics:
        stats, alerts = _replay(
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
    from riskmon.secrets import redact_url

    prepare_store(settings.alert_store_url)
    with AlertStore.open(settings.alert_store_url) as store:
        added = store.upsert_many(alerts, events=evidence_events(alerts, out_dir / "events.jsonl"))
    console.print(
        f"alerts written to [bold]{out_dir / 'alerts.jsonl'}[/] and stored in "
        f"{redact_url(settings.alert_store_url)} ({added} new). Next: [bold]riskmon alerts list[/]"
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


@app.command("worker")
def worker_command(
    rules: RulesOption = None,
    loglevel: Annotated[str, typer.Option(help="faust log level.")] = "warning",
) -> None:
    """Run the real-time worker: Kafka input topics -> rules -> risk.alerts (faust-streaming)."""
    from streams.worker.app import create_app
    from streams.worker.faults import AgentGuard, count_failures, run_worker

    settings = Settings()
    ruleset = load_or_exit(rules, settings)
    require_approval(ruleset, settings)
    exposure = Exposure(port=settings.metrics_port, addr=settings.metrics_addr)
    config = dataclasses.replace(settings.worker_config(), kafka=_kafka_client(settings))
    config = dataclasses.replace(config, input_partitions=_prepare_input_topics(config, settings))
    with exposed(exposure, ruleset) as metrics:
        guard = AgentGuard(on_failure=count_failures(metrics.registry) if metrics else None)
        app_ = create_app(
            config,
            ruleset,
            extra_stages=_model_stages(settings, ruleset, metrics=metrics),
            metrics=metrics,
            live=start_reloader(rules, ruleset, settings, metrics),
            guard=guard,
        )
        _create_worker_topics(app_, settings)
        status = run_worker(app_, guard, loglevel=loglevel)
    if guard.failure is not None:
        err.print(f"[bold red]worker stopped[/]: {guard.failure}", soft_wrap=True)
    raise typer.Exit(status)


def _prepare_input_topics(config: WorkerConfig, settings: Settings) -> int:
    """Create the missing input topics; their partition count (see streams.worker.topics)."""
    from streams.worker.topics import prepare_inputs

    topics = [config.topic_transactions, config.topic_operator_actions]
    count = _with_topic_admin(
        settings, lambda admin: prepare_inputs(admin, topics, config.partitions)
    )
    if count != config.partitions:
        err.print(
            f"[yellow]note[/]: the input topics have {count} partitions and "
            f"RISKMON_TOPIC_PARTITIONS is {config.partitions}; the worker follows the topics, "
            f"but replay judges lateness per partition with the setting: set it to {count}",
            soft_wrap=True,
        )
    return count


def _create_worker_topics(app_: object, settings: Settings) -> None:
    """Create the topics the agents read before they start (see streams.worker.topics)."""
    from streams.worker.topics import ensure_topics, planned_topics

    _with_topic_admin(settings, lambda admin: ensure_topics(admin, planned_topics(app_)))


def _with_topic_admin(settings: Settings, work: Callable[[Any], T]) -> T:
    """``work(admin)`` with a kafka-python admin client; a failure is one line and exit 2."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    from streams.worker.topics import TopicSetupError

    try:
        client = _kafka_client(settings, check=True)
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, **client.kafka_python()
        )
        try:
            return work(admin)
        finally:
            admin.close()
    except (KafkaError, TopicSetupError) as exc:
        shown = str(exc) if isinstance(exc, TopicSetupError) else repr(exc)
        err.print(
            f"[bold red]cannot prepare topics on {settings.kafka_bootstrap}[/]: {shown}",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


def _kafka_client(settings: Settings, *, check: bool = False) -> KafkaClientConfig:
    """The Kafka TLS/SASL settings, or one clear error line and exit 2.

    With ``check``, connect once first, so that a wrong address or password fails fast.
    """
    from streams.kafka_client import KafkaClientConfigError, KafkaConnectError, preflight

    try:
        client = settings.kafka_client()
        if check:
            preflight(settings.kafka_bootstrap, client)
    except (KafkaClientConfigError, KafkaConnectError) as exc:
        err.print(f"[bold red]Kafka[/]: {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    return client


@app.command("produce")
def produce_command(
    files: Annotated[list[str], typer.Argument(help="JSONL event files, or - for stdin.")],
    rate: Annotated[float | None, typer.Option(help="Target events per second.")] = None,
) -> None:
    """Publish JSONL events to the input topics, keyed by account or operator (kafka-python).

    Every send is checked: lines the producer refuses (over its size limit) and lines the broker
    never acknowledged are reported by line number, and the exit status is then 1.
    """
    from kafka import KafkaProducer
    from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

    from streams.produce import ProduceStats, produce

    settings = Settings()
    _check_inputs(files)  # before connecting: a typo must not wait for the broker
    client = _kafka_client(settings, check=True)
    stats: ProduceStats | None = None
    timeout_ms = max(2000, int(settings.produce_delivery_timeout * 1000))
    request_ms = min(30_000, timeout_ms // 2)  # kafka-python: delivery >= linger + request
    try:
        producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap,
            acks="all",
            linger_ms=5,
            delivery_timeout_ms=timeout_ms,
            request_timeout_ms=request_ms,
            max_block_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            **client.kafka_python(),
        )
    except KafkaError as exc:
        err.print(
            f"[bold red]cannot connect to {settings.kafka_bootstrap}[/]: {exc!r}", soft_wrap=True
        )
        raise typer.Exit(2) from None
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
                refuse=(MessageSizeTooLargeError,),
                abort=(KafkaTimeoutError,),
            )
        # kafka-python's flush can wait forever for a broker that is gone; the delivery
        # timeout has passed for every line well before this one.
        with contextlib.suppress(KafkaTimeoutError):
            producer.flush(timeout=settings.produce_delivery_timeout + 10)
        stats.settle()
    except (OSError, UnicodeError) as exc:
        err.print(f"[bold red]cannot read the input[/]: {exc}")
        raise typer.Exit(2) from None
    finally:
        if stats is None or not stats.unconfirmed:
            producer.close(timeout=5)
    console.print(
        f"sent {stats.delivered:,} messages ({stats.transactions:,} transactions, "
        f"{stats.operator_actions:,} operator actions, {stats.unparseable:,} unparseable) "
        f"in {stats.seconds:.1f}s to {settings.kafka_bootstrap}"
    )
    if stats.undelivered:
        for problem in stats.problems:
            err.print(
                f"[yellow]not delivered[/]: {problem.source}:{problem.line}: {problem.error}",
                soft_wrap=True,
            )
        err.print(
            f"[bold red]{stats.undelivered:,} line(s) not delivered[/] ({stats.refused:,} refused "
            f"by the producer, {stats.failed + stats.unconfirmed:,} not acknowledged by the "
            f"broker, {stats.unsent:,} not sent)"
        )
        if stats.unconfirmed:
            # kafka-python's close (and its __del__) raise while sends are unconfirmed; nothing
            # is left to deliver, so leave without them.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
        raise typer.Exit(1)


@app.command("dispatch")
def dispatch_command(
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus /metrics on this port (default RISKMON_METRICS_PORT)."),
    ] = None,
) -> None:
    """Deliver alerts from the alerts topic to the sinks the routes name (store by default)."""
    import signal

    from kafka import KafkaConsumer
    from kafka.errors import KafkaError
    from prometheus_client import CollectorRegistry

    from alerts.errors import AlertsError
    from streams.dispatch import dispatch, dispatch_consumer_options, open_pipeline
    from streams.exposition import serve_metrics

    settings = Settings()
    prepare_store(settings.alert_store_url)
    port = metrics_port if metrics_port is not None else settings.metrics_port
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    registry = CollectorRegistry()
    try:
        with ExitStack() as stack:
            # Routes and sinks first: a bad route file is refused before Kafka is contacted.
            pipeline, _store = stack.enter_context(
                open_pipeline(settings.dispatch_config(), registry)
            )
            consumer = KafkaConsumer(
                settings.topic_alerts,
                bootstrap_servers=settings.kafka_bootstrap,
                group_id=settings.dispatch_group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                **dispatch_consumer_options(
                    settings.dispatch_session_timeout, settings.dispatch_instance_id
                ),
                **_kafka_client(settings, check=True).kafka_python(),
            )
            stack.callback(consumer.close)
            if port is not None:
                server = stack.enter_context(serve_metrics(port, registry, settings.metrics_addr))
                err.print(f"metrics: {server.url}")
            console.print(f"dispatching {settings.topic_alerts} -> {sorted(pipeline.sinks)}")
            stats = dispatch(consumer, pipeline, should_stop=lambda _s: bool(stopping))
    except AlertsError as exc:
        err.print(f"[bold red]dispatch refused[/]: {exc}")
        raise typer.Exit(2) from None
    except KafkaError as exc:
        err.print(f"[bold red]kafka[/] at {settings.kafka_bootstrap}: {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        return
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
    print_ops_report(report)
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


def _check_settings() -> None:
    """Every command starts from a valid configuration: a bad ``RISKMON_*`` value fails first."""
    from riskmon.alerts_cli import AlertsCliSettings

    Settings()
    AlertsCliSettings()


def _settings_problem(exc: Exception) -> str:
    """One line naming the environment variable and what is wrong with it."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from riskmon.alerts_cli import AlertsCliSettings

        first = exc.errors(include_url=False)[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        name = f"RISKMON_{field.upper()}"
        fields = {**AlertsCliSettings.model_fields, **Settings.model_fields}
        if field in fields and not fields[field].repr:  # a secret: never echo its value
            return f"setting {name}: {first['msg']}"
        shown = str(first.get("input", ""))[:60]
        return f"setting {name}={shown!r}: {first['msg']}"
    # pydantic-settings: 'error parsing value for field "x" from source "EnvSettingsSource"'
    parts = str(exc).split('"', 2)
    field = parts[1] if len(parts) == 3 else "?"
    rest = parts[2].removeprefix(":").strip() if len(parts) == 3 else ""
    if rest and not rest.startswith("from source"):  # our own *_FILE errors explain themselves
        return f"setting RISKMON_{field.upper()}: {rest}"
    cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
    return f"setting RISKMON_{field.upper()}: cannot parse the value{cause}"


def _problem(exc: BaseException) -> str | None:
    """The one-line message for an expected failure, ``None`` for a bug."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from monitor.errors import MonitorError

    if isinstance(exc, SettingsError):
        return _settings_problem(exc)
    if isinstance(exc, MonitorError):
        return _first_line(exc)
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"input is not UTF-8 text ({exc.reason} at byte {exc.start})"
    if isinstance(exc, ValidationError) and exc.title in ("Settings", "AlertsCliSettings"):
        return _settings_problem(exc)
    if type(exc).__module__.startswith("kafka."):
        return f"Kafka: {type(exc).__name__}: {exc}"
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:3])[:300]


def main(argv: list[str] | None = None) -> None:
    """The ``riskmon`` entry point: expected failures end in one line and a non-zero exit.

    Anything unexpected is a bug: one line too, the traceback only with ``RISKMON_DEBUG=1``.
    """
    import os
    import sys

    from typer._click.exceptions import ClickException  # typer bundles its own click

    args = sys.argv[1:] if argv is None else argv
    debug = os.environ.get("RISKMON_DEBUG", "") not in ("", "0", "false")
    try:
        if args and not {"--help", "-h"} & set(args):
            _check_settings()
        code = app(args=args, prog_name="riskmon", standalone_mode=False)
    except ClickException as exc:  # usage errors: bad option, missing file argument...
        message = exc.format_message().replace("\n", " ").strip()
        if not message:  # no_args_is_help: the help text was printed
            sys.exit(exc.exit_code)
        err.print(f"riskmon: error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        problem = _problem(exc)
        if debug:
            raise
        if problem is not None:
            err.print(f"riskmon: error: {problem}", markup=False, highlight=False, soft_wrap=True)
            sys.exit(2)
        err.print(
            f"riskmon: internal error: {type(exc).__name__}: {_first_line(exc)} "
            "(please report it; RISKMON_DEBUG=1 shows the traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
