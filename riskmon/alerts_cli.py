"""``riskmon alerts``: the risk officer's commands over the alert store.

The store URL is read once, here, from ``RISKMON_ALERT_STORE_URL`` (default
``sqlite:///riskmon-alerts.db``); ``RISKMON_ALERT_STORE_ALLOW_UNMASKED=true`` stores account ids
as given; ``RISKMON_ALERT_SILENCE_APPROVAL=false`` turns off maker-checker on silences;
``RISKMON_ALERT_API_TOKENS`` (JSON ``{"<token>": {"owner": ..., "scope": "read"|"read-write"}}``)
holds the bearer tokens of ``riskmon alerts serve``.
Mount with ``app.add_typer(alerts_app, name="alerts")``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from alerts.errors import AlertsError
from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.silences import SilenceMatchers
from alerts.sinks import StoreSink
from alerts.store import AlertStore, Status, StoredAlert
from monitor.alerts import Alert
from monitor.rules.schema import parse_duration

__all__ = ["AlertsCliSettings", "alerts_app"]

alerts_app = typer.Typer(
    help="Review, acknowledge and close alerts; manage silences.", no_args_is_help=True
)
silence_app = typer.Typer(help="Suppress matching alerts for a while, with a reason.")
alerts_app.add_typer(silence_app, name="silence")

console = Console()
err = Console(stderr=True)
By = Annotated[str, typer.Option("--by", help="Who is doing this (recorded in the history).")]
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why (recorded in the history).")]
INGEST_ROUTES = {
    "routes": [{"name": "ingest", "sinks": ["store"], "ignore_silences": True, "group": False}]
}


class AlertsCliSettings(BaseSettings):
    """What ``riskmon alerts`` reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="RISKMON_", extra="ignore")

    alert_store_url: str = "sqlite:///riskmon-alerts.db"
    alert_store_allow_unmasked: bool = False
    alert_silence_approval: bool = True
    # JSON: {"<token>": {"owner": "li.wei", "scope": "read-write"}, ...}
    alert_api_tokens: dict[str, dict[str, str]] = {}


@contextmanager
def _store() -> Iterator[AlertStore]:
    settings = AlertsCliSettings()
    try:
        with AlertStore.open(
            settings.alert_store_url,
            allow_unmasked=settings.alert_store_allow_unmasked,
            require_silence_approval=settings.alert_silence_approval,
        ) as store:
            yield store
    except AlertsError as exc:
        err.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(1) from None


def _when(value: str | None) -> datetime | None:
    """An ISO date or datetime; a naive one is taken as UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or datetime: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _duration(value: str) -> timedelta:
    """``90m``, ``2h``, ``1d``: the rule files' duration type."""
    try:
        return parse_duration(value)
    except ValueError:
        raise typer.BadParameter(f"use a number and m, h or d (e.g. 2h), not {value!r}") from None


def _entity(alert: Alert) -> str:
    return f"{alert.entity_type}:{alert.entity_id}"


@alerts_app.command("list")
def list_alerts(
    status: Annotated[str | None, typer.Option(help="open, acknowledged, resolved, ...")] = None,
    category: Annotated[str | None, typer.Option(help="e.g. large_transfer")] = None,
    severity: Annotated[str | None, typer.Option(help="info, low, medium, high, critical")] = None,
    since: Annotated[str | None, typer.Option(help="Event time from (ISO, UTC if naive).")] = None,
    until: Annotated[str | None, typer.Option(help="Event time before (ISO).")] = None,
    page: Annotated[int, typer.Option(min=1, help="Page number, from 1.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List alerts, newest event first."""
    with _store() as store:
        found = store.list_alerts(
            status=status, category=category, severity=severity, since=_when(since),
            until=_when(until), limit=page_size, offset=(page - 1) * page_size,
        )  # fmt: skip
    table = Table(title=f"Alerts, page {page}", show_lines=False)
    table.add_column("alert_id", no_wrap=True)  # kept whole: officers copy it into ack/show
    for column in ("event time (UTC)", "severity", "category", "rule", "entity"):
        table.add_column(column, overflow="fold")
    table.add_column("status")
    for stored in found:
        alert = stored.alert
        table.add_row(
            alert.alert_id, alert.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            alert.severity, alert.category, alert.rule_id, _entity(alert), stored.status,
        )  # fmt: skip
    console.print(table)
    more = f"; more on --page {page + 1}" if len(found) == page_size else ""
    console.print(f"{len(found)} alert(s){more}")


def _print_alert(stored: StoredAlert) -> None:
    alert = stored.alert
    console.print(f"[bold]{alert.title}[/]  ({alert.alert_id})")
    console.print(alert.message)
    fields: dict[str, object] = {
        "status": stored.status, "severity": alert.severity, "category": alert.category,
        "reason": alert.reason, "rule": alert.rule_id, "entity": _entity(alert),
        "branch": alert.branch_id, "occurred at": alert.occurred_at.isoformat(),
        "detected at": alert.detected_at.isoformat() if alert.detected_at else None,
        "language": alert.language, "tags": ", ".join(alert.tags),
        "pack": f"{alert.pack_version} ({alert.pack_hash})",
        "deliveries": str(stored.delivery_count),
    }  # fmt: skip
    for name, value in fields.items():
        if value:
            console.print(f"  {name:12} {value}")
    console.print("[bold]Explanation[/]")
    for key, value in alert.explanation.items():
        console.print(f"  {key:20} {value}")
    console.print("[bold]Events[/]")
    for event_id in alert.event_ids:
        console.print(f"  {event_id}")


@alerts_app.command()
def show(alert_id: str) -> None:
    """Show one alert: explanation, event ids and its history."""
    with _store() as store:
        stored = store.get(alert_id)
        entries = store.history(alert_id)
    _print_alert(stored)
    table = Table(title="History")
    for column in ("at (UTC)", "action", "from", "to", "by", "comment"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            entry.at.strftime("%Y-%m-%d %H:%M:%S"), entry.action, entry.from_status or "",
            entry.to_status or "", entry.actor, entry.comment,
        )  # fmt: skip
    console.print(table)


def _move(alert_id: str, to: Status, by: str, comment: str) -> None:
    with _store() as store:
        stored = store.transition(alert_id, to, actor=by, comment=comment)
    console.print(f"{alert_id}: {stored.status} (by {by})")


@alerts_app.command()
def ack(alert_id: str, by: By, comment: Comment = "") -> None:
    """Acknowledge an open alert: you are looking at it."""
    _move(alert_id, "acknowledged", by, comment)


@alerts_app.command()
def resolve(alert_id: str, by: By, comment: Comment = "") -> None:
    """Close an acknowledged alert as a true positive."""
    _move(alert_id, "resolved", by, comment)


@alerts_app.command("false-positive")
def false_positive(alert_id: str, by: By, comment: Comment = "") -> None:
    """Close an acknowledged alert as a false positive (feeds rule and model tuning)."""
    _move(alert_id, "false_positive", by, comment)


@alerts_app.command("export-labels")
def export_labels(
    out: Annotated[Path | None, typer.Option(help="Write JSONL here (default: stdout).")] = None,
) -> None:
    """Export true/false-positive labels of closed alerts as JSONL."""
    with _store() as store:
        labels = store.export_labels()
    lines = "".join(label.model_dump_json() + "\n" for label in labels)
    if out is None:
        sys.stdout.write(lines)
    else:
        out.write_text(lines, encoding="utf-8")
        err.print(f"{len(labels)} label(s) written to {out}")


@alerts_app.command()
def ingest(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Load an alerts JSONL file (e.g. from ``riskmon replay --alerts-out``) into the store."""
    batch: list[Alert] = []
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                batch.append(Alert.from_json(line))
            except ValidationError as exc:
                err.print(f"[bold red]{file}:{number}[/]: not an alert: {exc.errors()[0]['msg']}")
                raise typer.Exit(2) from None
    registry = CollectorRegistry()
    with _store() as store:
        before = store.count()
        sink = StoreSink(store, metrics=SinkMetrics(registry))
        pipeline = AlertPipeline(parse_routes(INGEST_ROUTES), {"store": sink}, registry=registry)
        for alert in batch:
            pipeline.add(alert)
        report = pipeline.flush()
        added = store.count() - before
    if not report.ok:
        err.print(f"[bold red]store failed[/]: {report.failed['store']}")
        raise typer.Exit(1)
    console.print(f"{len(batch)} alert(s) read, {added} new, {len(batch) - added} already stored")


@silence_app.command("add")
def silence_add(
    by: By,
    reason: Annotated[str, typer.Option(help="Why these alerts may be ignored.")],
    ticket: Annotated[str, typer.Option(help="The change or incident ticket.")],
    duration: Annotated[str, typer.Option(help="How long: 90m, 2h, 1d.")] = "2h",
    category: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    severity: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    rule: Annotated[list[str] | None, typer.Option(help="Rule id; repeatable.")] = None,
    branch: Annotated[list[str] | None, typer.Option(help="Branch id; repeatable.")] = None,
    entity_type: Annotated[list[str] | None, typer.Option(help="Repeatable.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="All listed tags must be present.")] = None,
) -> None:
    """Silence matching alerts from now for --duration."""
    try:
        matchers = SilenceMatchers.model_validate(
            {
                "category": category or (),
                "severity": severity or (),
                "rule_id": rule or (),
                "branch_id": branch or (),
                "entity_type": entity_type or (),
                "tags": tag or (),
            }
        )
    except ValidationError as exc:
        error = exc.errors()[0]
        raise typer.BadParameter(f"{error['loc'][0]}: {error['msg']}") from None
    length = _duration(duration)
    with _store() as store:
        now = store.clock()
        silence = store.add_silence(
            matchers, ends_at=now + length, author=by, reason=reason, ticket=ticket
        )
    pending = "" if silence.approved else "; pending approval by someone else"
    until = f"{silence.ends_at:%Y-%m-%d %H:%M} UTC"
    console.print(f"silence {silence.silence_id} until {until}{pending}")


@silence_app.command("list")
def silence_list(
    show: Annotated[Literal["active", "all"], typer.Option(help="active or all")] = "active",
) -> None:
    """List silences."""
    with _store() as store:
        now = store.clock()
        found = store.list_silences(active_at=now if show == "active" else None)
    table = Table(title=f"Silences ({show})")
    table.add_column("silence_id", no_wrap=True)
    for column in ("matchers", "until (UTC)", "author", "ticket", "reason", "state"):
        table.add_column(column, overflow="fold")
    for silence in found:
        state = "active" if silence.is_active(now) else "ended"
        if not silence.approved and silence.ends_at > now and silence.expired_at is None:
            state = "pending approval"
        table.add_row(
            silence.silence_id, json.dumps(silence.matchers.model_dump(exclude_defaults=True)),
            f"{silence.ends_at:%Y-%m-%d %H:%M}", silence.author, silence.ticket, silence.reason,
            state,
        )  # fmt: skip
    console.print(table)


@silence_app.command("approve")
def silence_approve(silence_id: str, by: By, comment: Comment = "") -> None:
    """Approve someone else's silence (maker-checker); it is in force from now."""
    with _store() as store:
        store.approve_silence(silence_id, approver=by, comment=comment)
    console.print(f"silence {silence_id} approved (by {by})")


@silence_app.command("expire")
def silence_expire(silence_id: str, by: By, comment: Comment = "") -> None:
    """End a silence now."""
    with _store() as store:
        store.expire_silence(silence_id, actor=by, comment=comment)
    console.print(f"silence {silence_id} expired (by {by})")


@alerts_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8087,
) -> None:
    """Serve the HTTP API (bearer tokens from RISKMON_ALERT_API_TOKENS)."""
    import uvicorn  # imported here so the other commands start fast

    from alerts.api import ApiToken, create_app

    settings = AlertsCliSettings()
    try:
        tokens = {t: ApiToken.model_validate(v) for t, v in settings.alert_api_tokens.items()}
    except ValidationError as exc:
        err.print(f"[bold red]RISKMON_ALERT_API_TOKENS[/]: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    if not tokens:
        err.print("[bold red]no API tokens[/]: set RISKMON_ALERT_API_TOKENS")
        raise typer.Exit(2)
    with _store() as store:
        uvicorn.run(create_app(store, tokens), host=host, port=port, log_level="warning")
