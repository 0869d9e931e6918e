"""``riskmon rules ...``: validate, test, compare, backtest and approve rule packs.

Every message about a rule file is printed as plain text (no terminal markup), so a pattern such
as ``^[a-z][a-z0-9_]*$`` reaches the reader whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import RulePackError, RulePackErrors
from monitor.rule_examples import run_examples
from monitor.rules.loader import load_rule_texts, load_rules, rule_files, shipped_pack_texts
from monitor.rules.ruleset import RuleSet
from riskmon.settings import Settings
from streams.replay import read_lines

if TYPE_CHECKING:
    from alerts.identity import Identity
    from alerts.pack_history import PackEntry, PackHistory
    from alerts.store import AlertStore
    from monitor.metrics import RiskmonMetrics
    from streams.reload import LiveRules

rules_app = typer.Typer(help="Validate, test and compare rule packs.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def load_or_exit(rules: list[Path] | None, settings: Settings) -> RuleSet:
    """The one rule loader of the command line: the shipped packs plus ``rules`` (or the
    configured rule folder), with ``RISKMON_CURRENCY_RATES_FILE`` replacing the default currency
    table if it is set. Warnings go to stderr; if the packs are invalid, every problem does and
    the command exits 2."""
    paths = list(rules or ([] if settings.rules_dir is None else [settings.rules_dir]))
    try:
        texts = shipped_pack_texts() + rule_files(paths)
        if settings.currency_rates_file is not None:
            texts.append(_rates_item(settings.currency_rates_file))
        ruleset = load_rule_texts(texts)
    except RulePackErrors as exc:
        for warning in exc.warnings:
            plain(err, str(warning))
        for error in exc.errors:
            plain(err, f"error: {error}")
        if len(exc.errors) + len(exc.warnings) > 1:  # one problem stays one line
            plain(
                err,
                f"rule pack rejected: {len(exc.errors)} error(s), {len(exc.warnings)} warning(s)",
            )
        raise typer.Exit(2) from None
    except RulePackError as exc:
        plain(err, f"rule pack rejected: {exc}")
        raise typer.Exit(2) from None
    for warning in ruleset.warnings:
        plain(err, str(warning))
    return ruleset


def _rates_item(path: Path) -> tuple[str, str]:
    """``RISKMON_CURRENCY_RATES_FILE`` as a rule item replacing the default currency table."""
    from monitor.currency import parse_rates, rates_override_text
    from monitor.rules.source import load_safe_yaml, read_rule_file

    name = f"RISKMON_CURRENCY_RATES_FILE={path}"
    try:  # same limits as rule files: size, no aliases, plain types
        base, rates = parse_rates(load_safe_yaml(read_rule_file(path), str(path)), name)
    except ValueError as exc:
        plain(err, f"riskmon: error: {exc}")
        raise typer.Exit(2) from None
    return name, rates_override_text(base, rates)


def open_approval_store(settings: Settings) -> AlertStore:
    """The alert store holding the approval log (the caller closes it); exit 2 with one line if
    there is none."""
    from alerts.errors import AlertsError
    from alerts.store import AlertStore
    from riskmon.settings import sqlite_path

    path = sqlite_path(settings.alert_store_url)
    if path is not None and not path.is_file():
        plain(
            err,
            f"rule pack refused: approval is required, but there is no alert store at {path} "
            "(the approval log lives there; set RISKMON_ALERT_STORE_URL)",
        )
        raise typer.Exit(2)
    try:
        return AlertStore.open(settings.alert_store_url)
    except (AlertsError, OSError, SQLAlchemyError) as exc:
        plain(err, f"rule pack refused: cannot open the approval log: {exc}")
        raise typer.Exit(2) from None


def require_approval(ruleset: RuleSet, settings: Settings) -> None:
    """With ``RISKMON_REQUIRE_PACK_APPROVAL`` on, exit 2 unless the pack is approved."""
    if not settings.require_pack_approval:
        return
    with open_approval_store(settings) as store:
        check_approved(ruleset, store.pack_history)


def check_approved(ruleset: RuleSet, log: PackHistory) -> None:
    """Exit 2 with one line unless ``log`` is intact and approves ``ruleset``."""
    try:
        broken = log.verify()
        approved = broken is None and log.is_approved(ruleset.pack_hash)
    except SQLAlchemyError as exc:
        plain(err, f"rule pack refused: cannot read the approval log: {exc}")
        raise typer.Exit(2) from None
    if broken is not None:
        plain(err, f"rule pack refused: the pack approval log is broken at entry {broken}")
        raise typer.Exit(2)
    if not approved:
        plain(
            err,
            f"rule pack refused: pack {ruleset.pack_hash} ({ruleset.version}) has no approval "
            "by a second person in the alert store's pack history; run riskmon rules propose, "
            "then rules approve",
        )
        raise typer.Exit(2)


def start_reloader(
    rules: list[Path] | None,
    ruleset: RuleSet,
    settings: Settings,
    metrics: RiskmonMetrics | None,
    history: PackHistory | None = None,
) -> LiveRules:
    """The worker's live rule set; with a rule folder, watched and hot-reloaded when it changes
    (a change must load, pass its examples and tests, and be approved in ``history`` if
    approval is on)."""
    from streams.reload import LiveRules, RuleReloader

    live = LiveRules(ruleset)
    paths = list(rules or ([] if settings.rules_dir is None else [settings.rules_dir]))
    if paths:
        if settings.require_pack_approval and history is None:
            history = open_approval_store(settings).pack_history  # open while the worker runs
        RuleReloader(paths, live, catalogue=metrics, history=history).start()
    return live


def warn_examples(ruleset: RuleSet) -> None:
    """Warn about examples that no longer exercise their rule (compared with the shipped packs)."""
    from monitor.rule_examples import example_warnings

    for line in example_warnings(ruleset, load_rules()):
        plain(err, line)


def plain(target: Console, text: str) -> None:
    """Print text as it is: no markup, no highlighting (``[a-z]`` in a pattern stays)."""
    target.print(text, markup=False, highlight=False, soft_wrap=True)


@rules_app.command("validate")
def rules_validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Rule files or folders.")] = None,
) -> None:
    """Load the shipped packs plus PATHS; report every error and warning with file and line."""
    ruleset = load_or_exit(paths, Settings())
    warn_examples(ruleset)
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
    labels: Annotated[
        Path | None, typer.Option("--labels", help="The simulator's labels.jsonl.")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Alert store URL whose dispositions to score against."),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report here.")
    ] = None,
    show: Annotated[int, typer.Option(help="Alerts to list per rule and direction.")] = 3,
    on_shipped: Annotated[
        bool,
        typer.Option(
            "--on-shipped/--alone",
            help="Layer --before/--after on the shipped packs (default), or load them alone "
            "(for complete copies of the packs).",
        ),
    ] = True,
) -> None:
    """Replay history through two rule versions: per rule the alerts added, removed and changed,
    volume per day, precision and recall against labels and the alert store's decisions."""
    import json

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from monitor.backtest import diff_alerts, run_rules
    from monitor.errors import EventDecodeError
    from monitor.events import decode_event
    from streams.backtest_report import HEADERS, rule_rows, shadow_line, write_report

    if not before and not after:
        plain(
            err,
            "nothing to compare: give --before, --after or both (each defaults to the "
            "shipped packs)",
        )
        raise typer.Exit(2)
    if on_shipped:
        old_rules, new_rules = load_or_exit(before, Settings()), load_or_exit(after, Settings())
    else:
        old_rules = load_alone_or_exit(before, False) if before else load_or_exit(None, Settings())
        new_rules = load_alone_or_exit(after, False) if after else load_or_exit(None, Settings())
    decoded = []
    for line in read_lines(events):
        try:
            decoded.append(decode_event(line.text))
        except EventDecodeError:
            continue  # `riskmon replay` reports dead letters; a backtest compares what is valid
    cases = None
    if labels is not None:
        text = labels.read_text(encoding="utf-8")
        cases = [json.loads(line) for line in text.splitlines() if line.strip()]
    decisions = None
    if store is not None:
        from alerts.store import AlertStore

        with AlertStore.open(store) as opened:
            decisions = {record.alert_id: record.label for record in opened.export_labels()}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("replaying before", total=len(decoded))
        old_alerts = run_rules(old_rules, decoded, lambda n: progress.advance(task, n))
        task = progress.add_task("replaying after", total=len(decoded))
        new_alerts = run_rules(new_rules, decoded, lambda n: progress.advance(task, n))
    diff = diff_alerts(old_alerts, new_alerts, cases, decisions)
    title = f"Backtest over {len(decoded):,} events: {old_rules.pack_hash} -> {new_rules.pack_hash}"
    table = Table(title=title)
    for column in HEADERS:
        table.add_column(column, justify="left" if column == "rule" else "right")
    for change in diff.by_rule:
        table.add_row(*map(escape, rule_rows(change)), style="bold" if change.touched else "")
    console.print(table)
    days = Table(title="Alerts per day (UTC), before -> after")
    days.add_column("day")
    for change in diff.by_rule:
        if change.touched:
            days.add_column(change.rule_id, justify="right")
    days.add_column("all rules", justify="right")
    for day in diff.days():
        cells = [
            f"{old[day]} -> {new[day]}"
            for change in diff.by_rule
            if change.touched
            for old, new in (diff.per_day[change.rule_id],)
        ]
        total_old = sum(old[day] for old, _ in diff.per_day.values())
        total_new = sum(new[day] for _, new in diff.per_day.values())
        days.add_row(day.isoformat(), *cells, f"{total_old} -> {total_new}")
    console.print(days)
    for change in diff.by_rule:
        for sign, alerts in (("+", change.added), ("-", change.removed)):
            for alert in alerts[:show]:
                plain(console, f"  {sign} {change.rule_id}: {alert.message}")
        for item in change.changed[:show]:
            what = "; ".join(
                f"{f} {getattr(item.before, f)} -> {getattr(item.after, f)}" for f in item.fields
            )
            plain(console, f"  ~ {change.rule_id}: {what}")
    plain(
        console,
        f"{diff.added} alerts added, {diff.removed} removed, {diff.changed} changed",
    )
    for rule_id, mine, live, overlap in diff.shadow_vs_live():
        plain(console, shadow_line(rule_id, mine, live, overlap))
    if decisions is not None:
        removed_fp = sum(len(c.false_positives_removed) for c in diff.by_rule)
        plain(console, f"past false positives removed: {removed_fp}")
    for alert in diff.confirmed_lost:
        plain(
            err,
            f"WARNING: confirmed case lost: {alert.rule_id} alert {alert.alert_id} "
            f"({alert.occurred_at.isoformat()}) would no longer fire",
        )
    if report is not None:
        write_report(report, diff, title, len(decoded))
        plain(console, f"report written to {report}")


@rules_app.command("test")
def rules_test(
    paths: Annotated[list[Path] | None, typer.Argument(help="Rule files or folders.")] = None,
    tests: Annotated[
        list[Path] | None,
        typer.Option("--tests", help="Rule test files (default: each folder's tests/*.yaml)."),
    ] = None,
) -> None:
    """Run every rule's examples and the rule test files; a failure shows file:line and a diff."""
    from monitor.rule_tests import rule_test_files, run_test_file, shipped_test_files
    from monitor.rules.loader import rule_files, shipped_pack_texts

    settings = Settings()
    ruleset = load_or_exit(paths, settings)
    chosen = list(paths or ([] if settings.rules_dir is None else [settings.rules_dir]))
    texts = shipped_pack_texts() + rule_files(chosen)
    warn_examples(ruleset)
    results = run_examples(ruleset)
    table = Table(title="Rule examples")
    for column in ("rule", "#", "example", "result"):
        table.add_column(column, overflow="fold")
    for result in results:
        mark = "[green]pass[/]" if result.passed else f"[red]FAIL[/] {escape(result.where)}"
        table.add_row(result.rule_id, str(result.index + 1), escape(result.desc), mark)
    console.print(table)
    failures = [
        (f"{r.where}: {r.rule_id} example {r.index + 1}", r.detail) for r in results if not r.passed
    ]
    files = list(tests) if tests else shipped_test_files() + rule_test_files(chosen)
    passed_files = 0
    for path in files:
        for outcome in run_test_file(path, texts, ruleset):
            if outcome.passed:
                passed_files += 1
            else:
                failures.append((f"{outcome.where}: test {outcome.name!r}", outcome.diff))
    for where, detail in failures:
        plain(console, f"FAIL {where}")
        plain(console, "  " + detail.replace("\n", "\n  "))
    total = len(results) + passed_files + sum(1 for w, _ in failures if ": test " in w)
    plain(
        console,
        f"{total - len(failures)} passed, {len(failures)} failed "
        f"({len(results)} examples, {len(files)} test file(s))",
    )
    if failures:
        raise typer.Exit(1)


@rules_app.command("diff")
def rules_diff(
    old: Annotated[Path, typer.Argument(help="Rule file or folder of the old version.")],
    new: Annotated[Path, typer.Argument(help="Rule file or folder of the new version.")],
    on_shipped: Annotated[
        bool,
        typer.Option(
            "--on-shipped/--alone",
            help="Layer both versions on the shipped packs (for auditors' override files).",
        ),
    ] = False,
) -> None:
    """Every change from OLD to NEW, rule by rule and field by field, classified major / minor /
    patch; exit 1 if a pack's declared version bump is smaller than its change requires."""
    from monitor.rules.diff import diff_rulesets

    before = load_alone_or_exit([old], on_shipped)
    after = load_alone_or_exit([new], on_shipped)
    diff = diff_rulesets(before, after)
    for rule in diff.rules:
        head = f"{rule.level:<5} {rule.change:<7} {rule.rule_id}"
        if rule.renamed_from:
            head += f" (was {rule.renamed_from})"
        plain(console, f"{head}  [pack {rule.pack}]")
        for change in rule.fields:
            plain(console, f"        {change}")
    for pack in diff.packs:
        mark = "ok" if pack.ok else "REFUSED"
        plain(
            console,
            f"pack {pack.pack}: {pack.old_version} -> {pack.new_version} declares "
            f"{pack.declared}, the change requires {pack.required}: {mark}",
        )
    plain(console, f"change: {diff.summary()}")
    if diff.refused:
        names = ", ".join(p.pack for p in diff.refused)
        plain(err, f"refused: the version bump of {names} is smaller than the change requires")
        raise typer.Exit(1)


def load_alone_or_exit(paths: list[Path], on_shipped: bool) -> RuleSet:
    """Load ``paths`` alone (or on the shipped packs); exit 2 with every problem if invalid."""
    try:
        return load_rules(paths, shipped=on_shipped)
    except RulePackErrors as exc:
        for error in exc.errors:
            plain(err, f"error: {error}")
        raise typer.Exit(2) from None
    except RulePackError as exc:
        plain(err, f"rule pack rejected: {exc}")
        raise typer.Exit(2) from None


@contextmanager
def _acting_store() -> Iterator[tuple[AlertStore, Identity]]:
    """The alert store and the identity of the configured API token (``RISKMON_TOKEN`` or
    ``RISKMON_TOKEN_FILE``), like every ``riskmon alerts`` change: no free-text names."""
    from riskmon.alerts_cli import _store
    from riskmon.identity_cli import cli_identity

    with _store() as store:
        yield store, cli_identity(store)


def _entries() -> tuple[list[PackEntry], int | None]:
    """The approval log and its first broken entry: from the server with ``RISKMON_API_URL``
    (it checks the chain), else from the alert store."""
    from alerts.pack_history import PackEntry, verify
    from riskmon.alerts_cli import _store
    from riskmon.identity_cli import remote

    api = remote()
    if api is not None:
        answer = api.call("GET", "/rule-packs/history")
        entries = [PackEntry(**entry) for entry in answer["entries"]]
        return entries, answer["broken_at"]
    with _store() as store:
        entries = store.pack_history.entries()
    return entries, verify(entries)


@rules_app.command("propose")
def rules_propose(
    paths: Annotated[list[Path] | None, typer.Argument(help="Rule files or folders.")] = None,
    ticket: Annotated[str, typer.Option(help="Change ticket reference.")] = "",
    against: Annotated[
        list[Path] | None, typer.Option("--against", help="Rules the diff summary starts from.")
    ] = None,
) -> None:
    """Propose PATHS (on the shipped packs) for deployment, as the user of RISKMON_TOKEN: it must
    load and pass its examples and tests; another person approves it with `rules approve HASH`."""
    from alerts.pack_history import PackEntry, PackHistoryError
    from monitor.rules.diff import diff_rulesets
    from riskmon.identity_cli import remote

    settings = Settings()
    ruleset = load_or_exit(paths, settings)
    failed = [r for r in run_examples(ruleset) if not r.passed]
    if failed:
        plain(err, f"refused: {len(failed)} example(s) fail; run riskmon rules test")
        raise typer.Exit(1)
    baseline = load_rules(list(against or []))
    summary = diff_rulesets(baseline, ruleset).summary()
    api = remote()
    if api is not None:  # RISKMON_API_URL: the server records it, as the token's user
        body = {
            "version": ruleset.version,
            "pack_hash": ruleset.pack_hash,
            "diff_summary": summary,
            "ticket": ticket,
        }
        entry = PackEntry(**api.call("POST", "/rule-packs/proposals", body))
        _proposed(entry, summary)
        return
    with _acting_store() as (store, who):
        try:
            entry = store.pack_history.propose(
                who,
                version=ruleset.version,
                pack_hash=ruleset.pack_hash,
                diff_summary=summary,
                ticket=ticket,
            )
        except PackHistoryError as exc:
            plain(err, f"refused: {exc}")
            raise typer.Exit(1) from None
    _proposed(entry, summary)


def _proposed(entry: PackEntry, summary: str) -> None:
    plain(
        console,
        f"{entry.proposer} proposed pack {entry.pack_hash} ({summary}) as entry {entry.seq}; "
        f"another person approves it with: riskmon rules approve {entry.pack_hash}",
    )


@rules_app.command("approve")
def rules_approve(
    pack_hash: Annotated[str, typer.Argument(help="The hash of the proposed pack.")],
) -> None:
    """Approve a proposed pack as the user of RISKMON_TOKEN (a supervisor or an admin). The
    proposer cannot approve their own proposal."""
    from alerts.pack_history import PackEntry, PackHistoryError
    from riskmon.identity_cli import remote

    api = remote()
    if api is not None:
        entry = PackEntry(**api.call("POST", f"/rule-packs/{pack_hash.strip()}/approve"))
    else:
        with _acting_store() as (store, who):
            try:
                entry = store.pack_history.approve(who, pack_hash=pack_hash.strip())
            except PackHistoryError as exc:
                plain(err, f"refused: {exc}")
                raise typer.Exit(1) from None
    plain(
        console,
        f"{entry.approver} approved pack {entry.pack_hash} (proposed by {entry.proposer}) "
        f"as entry {entry.seq}",
    )


def _local(when: datetime | str | None, zone: str) -> str:
    from zoneinfo import ZoneInfo

    if isinstance(when, str):  # from the API: already in the bank's zone
        when = datetime.fromisoformat(when)
    return "" if when is None else when.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


@rules_app.command("history")
def rules_history() -> None:
    """Show the pack approval log of the alert store, oldest first (times in the bank's zone)."""
    zone = Settings().timezone
    entries, _ = _entries()
    table = Table(title="Rule pack history")
    for column in ("#", "action", "pack", "version", "change", "ticket", "proposer", "approver"):
        table.add_column(column, overflow="fold")
    for e in entries:
        approver = f"{e.approver} {_local(e.approved_at, zone)}" if e.approver else ""
        table.add_row(
            *map(
                escape,
                (
                    str(e.seq),
                    e.action,
                    e.pack_hash,
                    e.version,
                    e.diff_summary,
                    e.ticket,
                    f"{e.proposer} {_local(e.proposed_at, zone)}",
                    approver,
                ),
            )
        )
    console.print(table)


@rules_app.command("verify-history")
def rules_verify_history() -> None:
    """Check the hash chain of the pack approval log; name the first broken entry."""
    entries, broken = _entries()
    if broken is not None:
        plain(
            err,
            f"pack history: the chain breaks at entry {broken}: it was edited, removed or "
            "reordered",
        )
        raise typer.Exit(1)
    plain(console, f"pack history: {len(entries)} entries, chain intact")
