"""``riskmon alerts``: the risk officer's commands over the alert store.

The store URL is read once, here, from ``RISKMON_ALERT_STORE_URL`` (one settings object,
:class:`riskmon.settings.Settings`; default: ``alerts.db`` in the user's data folder, see
:func:`riskmon.settings.default_store_url`); only ``ingest`` and
``silence add`` create a missing store, every other command refuses it with a clear error.
Times are shown in ``RISKMON_TIMEZONE`` (default ``Asia/Shanghai``) and messages in
``RISKMON_LANGUAGE``. ``RISKMON_ALERT_STORE_ALLOW_UNMASKED=true`` stores account ids
as given; ``RISKMON_ALERT_SILENCE_APPROVAL=false`` turns off maker-checker on silences;
Every change names the user of the API token in ``RISKMON_TOKEN`` (or the file
``RISKMON_TOKEN_FILE``); with ``RISKMON_API_URL`` the decision commands go to that server instead
of the store (see :mod:`riskmon.identity_cli`). ``RISKMON_ALERT_API_TOKENS`` (JSON ``{"<token>":
{"owner": ..., "scope": "read"|"read-write"}}``) is still honoured by ``riskmon alerts serve``
for owners who are users; prefer ``riskmon users token NAME``.
Mount with ``app.add_typer(alerts_app, name="alerts")``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alerts.errors import AlertsError
from alerts.identity import Identity
from alerts.idprefix import resolve_alert_id
from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.silences import Silence, SilenceMatchers
from alerts.sinks import StoreSink
from alerts.store import AlertStore, HistoryEntry, Status, StoredAlert
from alerts.store.records import Revealed
from monitor.alerts import Alert, Category, Language, Severity
from monitor.i18n import format_datetime, localise_times
from monitor.rules.schema import parse_duration
from riskmon.identity_cli import cli_identity, remote
from riskmon.settings import Settings, prepare_store, sqlite_path

__all__ = ["AlertsCliSettings", "alerts_app"]

alerts_app = typer.Typer(
    help="Review, acknowledge and close alerts; manage silences.", no_args_is_help=True
)
silence_app = typer.Typer(help="Suppress matching alerts for a while, with a reason.")
alerts_app.add_typer(silence_app, name="silence")

console = Console()
err = Console(stderr=True, soft_wrap=True)  # one line per error, however narrow
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why (recorded in the history).")]
OutcomeChoice = Literal["confirmed", "false_positive", "duplicate"]
INGEST_ROUTES = {
    "routes": [{"name": "ingest", "sinks": ["store"], "ignore_silences": True, "group": False}]
}


AlertsCliSettings = Settings
"""What ``riskmon alerts`` reads from the environment: the one settings object."""


def _settings() -> AlertsCliSettings:
    try:
        settings = AlertsCliSettings()
        ZoneInfo(settings.timezone)
    except ValidationError as exc:
        error = exc.errors()[0]
        err.print(f"[bold red]error[/]: RISKMON_{str(error['loc'][0]).upper()}: {error['msg']}")
        raise typer.Exit(2) from None
    except (ZoneInfoNotFoundError, ValueError):
        err.print(f"[bold red]error[/]: RISKMON_TIMEZONE: unknown time zone {settings.timezone!r}")
        raise typer.Exit(2) from None
    return settings


@contextmanager
def _store(create: bool = False) -> Iterator[AlertStore]:
    """The configured store. Unless ``create``, a missing SQLite file is an error, not a new
    empty store (a typo in the URL, or the wrong machine, must not look like an empty inbox)."""
    settings = _settings()
    path = sqlite_path(settings.alert_store_url)
    if create:
        prepare_store(settings.alert_store_url)
    elif path is not None and not path.is_file():
        err.print(
            f"[bold red]error[/]: no alert store at {path}; `riskmon demo`, `riskmon dispatch` "
            "or `riskmon alerts ingest FILE` create it, or set RISKMON_ALERT_STORE_URL"
        )
        raise typer.Exit(1)
    try:
        with AlertStore.open(
            settings.alert_store_url,
            allow_unmasked=settings.alert_store_allow_unmasked,
            require_silence_approval=settings.alert_silence_approval,
        ) as store:
            yield store
    except AlertsError as exc:
        err.print(f"[bold red]error[/]: {escape(str(exc))}")
        raise typer.Exit(1) from None


def _when(value: str | None, timezone: str) -> datetime | None:
    """An ISO date or datetime; a naive one is in the bank's time zone (a date: its midnight)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"not an ISO date or datetime: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))


def _choice(name: str, allowed: tuple[str, ...], value: str | None) -> str | None:
    """``value`` if it is one of ``allowed``; otherwise an error listing them (exit 2)."""
    if value is None or value in allowed:
        return value
    raise typer.BadParameter(
        f"{value!r} is not one of {', '.join(allowed)}", param_hint=f"'--{name}'"
    )


STATUSES: tuple[str, ...] = get_args(Status)
CATEGORIES: tuple[str, ...] = get_args(Category)
SEVERITIES: tuple[str, ...] = get_args(Severity)


def _json(data: Any, timezone: str) -> None:
    """Print ``data`` (models, dicts, lists) as JSON, times in the bank's time zone."""
    text = json.dumps(
        localise_times(_plain(data), timezone), ensure_ascii=False, indent=2, default=_iso
    )
    sys.stdout.write(text + "\n")


LABELS_ZH = {
    "alert_id": "预警编号", "event time": "事件时间", "severity": "级别", "category": "类别",
    "reason": "原因", "rule": "规则", "entity": "对象", "status": "状态", "message": "内容",
    "branch": "网点", "occurred at": "发生时间", "detected at": "发现时间", "language": "语言",
    "tags": "标签", "pack": "规则包", "deliveries": "投递次数", "Explanation": "触发依据",
    "Events": "事件", "History": "处理记录", "at": "时间", "action": "操作", "from": "原状态",
    "to": "新状态", "by": "操作人", "comment": "备注",
}  # fmt: skip


class _Words:
    """Labels and codes for people. In English the codes stay as the filters take them; with
    RISKMON_LANGUAGE=zh-CN they are shown in Chinese, in the web workspace's words."""

    def __init__(self, language: Language) -> None:
        self.zh = language == "zh-CN"
        if self.zh:
            from alerts.web.i18n import Texts  # only for Chinese: it imports the web app

            self._texts = Texts("zh-CN")

    def label(self, english: str) -> str:
        return LABELS_ZH.get(english, english) if self.zh else english

    def value(self, kind: str, code: str | None) -> str:
        if code is None:
            return ""
        return self._texts.value(kind, code) if self.zh else code


def _at(moment: datetime, settings: AlertsCliSettings) -> str:
    return format_datetime(moment, settings.language, settings.timezone)


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _plain(item: Any) -> Any:
    if hasattr(item, "model_dump"):
        return item.model_dump()
    if isinstance(item, dict):
        return {key: _plain(value) for key, value in item.items()}
    if isinstance(item, list | tuple):
        return [_plain(value) for value in item]
    return item


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
    status: Annotated[str | None, typer.Option(help=", ".join(STATUSES))] = None,
    category: Annotated[str | None, typer.Option(help=", ".join(CATEGORIES))] = None,
    severity: Annotated[str | None, typer.Option(help=", ".join(SEVERITIES))] = None,
    since: Annotated[
        str | None, typer.Option(help="Event time from (ISO; a date is midnight, bank time).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Event time before (ISO, bank time).")] = None,
    assignee: Annotated[str | None, typer.Option(help="Only alerts assigned to this user.")] = None,
    page: Annotated[int, typer.Option(min=1, help="Page number, from 1.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List alerts, newest event first; times in the bank's time zone (RISKMON_TIMEZONE)."""
    status = _choice("status", STATUSES, status)
    category = _choice("category", CATEGORIES, category)
    severity = _choice("severity", SEVERITIES, severity)
    settings = _settings()
    start, end = _when(since, settings.timezone), _when(until, settings.timezone)
    who = assignee.strip().casefold() if assignee else None
    api = remote()
    if api is not None:  # the server pages the same way: page and page_size
        query = {
            "status": status,
            "category": category,
            "severity": severity,
            "assignee": who,
            "since": start.isoformat() if start else None,
            "until": end.isoformat() if end else None,
            "page": page,
            "page_size": page_size,
        }
        given = urlencode({k: v for k, v in query.items() if v is not None})
        found = [StoredAlert.model_validate(item) for item in api.call("GET", f"/alerts?{given}")]
    else:
        with _store() as store:
            found = store.list_alerts(
                status=status,
                category=category,
                severity=severity,
                since=start,
                until=end,
                limit=page_size,
                offset=(page - 1) * page_size,
                assignee=who,
            )
    found = [s.model_copy(update={"alert": s.alert.in_language(settings.language)}) for s in found]
    if as_json:
        _json(found, settings.timezone)
        return
    words = _Words(settings.language)
    title = f"第 {page} 页预警" if words.zh else f"Alerts, page {page}"
    table = Table(title=title, show_lines=False)
    table.add_column(words.label("alert_id"), no_wrap=True)  # whole: officers copy it
    table.add_column(f"{words.label('event time')} ({settings.timezone})", no_wrap=True)
    for column in ("severity", "category", "reason", "rule", "entity", "status"):
        table.add_column(words.label(column), overflow="fold")
    table.add_column(words.label("message"), overflow="fold", ratio=1, min_width=40)
    for stored in found:
        alert = stored.alert
        table.add_row(
            alert.alert_id, _at(alert.occurred_at, settings),
            words.value("severity", alert.severity), words.value("category", alert.category),
            words.value("reason", alert.reason), alert.rule_id, _entity(alert),
            words.value("status", stored.status), alert.message,
        )  # fmt: skip
    console.print(table, markup=False)
    more = f"; more on --page {page + 1}" if len(found) == page_size else ""
    console.print(f"{len(found)} alert(s){more}")


def _print_alert(stored: StoredAlert, settings: AlertsCliSettings) -> None:
    alert = stored.alert
    language, zone = settings.language, settings.timezone
    console.print(f"[bold]{escape(alert.title)}[/]  ({alert.alert_id})")
    console.print(alert.message, markup=False)
    words = _Words(language)
    fields: dict[str, object] = {
        "status": words.value("status", stored.status),
        "severity": words.value("severity", alert.severity),
        "category": words.value("category", alert.category),
        "reason": words.value("reason", alert.reason), "rule": alert.rule_id,
        "entity": _entity(alert), "branch": alert.branch_id,
        "occurred at": format_datetime(alert.occurred_at, language, zone),
        "detected at": format_datetime(alert.detected_at, language, zone)
        if alert.detected_at else None,
        "language": alert.language, "tags": ", ".join(alert.tags),
        "pack": f"{alert.pack_version} ({alert.pack_hash})",
        "deliveries": str(stored.delivery_count),
    }  # fmt: skip
    for name, value in fields.items():
        if value:
            label = words.label(name)
            padding = " " * max(0, 12 - cell_len(label))  # CJK characters are two cells wide
            console.print(f"  {label}{padding} {value}", markup=False)
    console.print(f"[bold]{words.label('Explanation')}[/]")
    for key, value in alert.explanation.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        console.print(f"  {key:20} {'' if shown is None else shown}", markup=False)
    console.print(f"[bold]{words.label('Events')}[/]")
    for event_id in alert.event_ids:
        console.print(f"  {event_id}", markup=False)


@alerts_app.command()
def show(
    alert_id: Annotated[str, typer.Argument(help="The alert id, or a unique prefix of it.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Show one alert: explanation, event ids and its history (message in RISKMON_LANGUAGE)."""
    settings = _settings()
    api = remote()
    if api is not None:  # the server resolves a prefix too
        detail = api.call("GET", f"/alerts/{quote(alert_id, safe='')}")
        stored = StoredAlert.model_validate(detail["alert"])
        entries = [HistoryEntry.model_validate(entry) for entry in detail["history"]]
    else:
        with _store() as store:
            alert_id = resolve_alert_id(store, alert_id)
            stored = store.get(alert_id)
            entries = store.history(alert_id)
    stored = stored.model_copy(update={"alert": stored.alert.in_language(settings.language)})
    if as_json:
        _json({"alert": stored, "history": entries}, settings.timezone)
        return
    _print_alert(stored, settings)
    words = _Words(settings.language)
    table = Table(title=words.label("History"))
    table.add_column(f"{words.label('at')} ({settings.timezone})", overflow="fold")
    for column in ("action", "from", "to", "by", "comment"):
        table.add_column(words.label(column), overflow="fold")
    for entry in entries:
        table.add_row(
            format_datetime(entry.at, settings.language, settings.timezone),
            words.value("action", entry.action), words.value("status", entry.from_status),
            words.value("status", entry.to_status), entry.actor, entry.comment,
        )  # fmt: skip
    console.print(table, markup=False)


def _remote_id(api: Any, given: str) -> str:
    """The full id of ``given`` (an id or a unique prefix), asked of the server."""
    detail = api.call("GET", f"/alerts/{quote(given, safe='')}")
    return str(detail["alert"]["alert"]["alert_id"])


def _decide(
    alert_id: str,
    path: str,
    body: dict[str, Any],
    local: Callable[[AlertStore, Identity, str], StoredAlert],
) -> None:
    """One decision as the token's user: over the API with RISKMON_API_URL, else on the store."""
    api = remote()
    if api is not None:
        user = api.call("GET", "/me")["user_id"]
        alert_id = _remote_id(api, alert_id)
        status = api.call("POST", f"/alerts/{alert_id}{path}", body)["status"]
    else:
        with _store() as store:
            identity = cli_identity(store)
            alert_id = resolve_alert_id(store, alert_id)
            status, user = local(store, identity, alert_id).status, identity.user_id
    console.print(f"{alert_id}: {status} (by {user})", markup=False)


@alerts_app.command()
def ack(alert_id: str, comment: Comment = "") -> None:
    """Acknowledge an open alert: you are looking at it."""
    _decide(alert_id, "/ack", {"comment": comment},
            lambda store, me, aid: store.acknowledge(aid, by=me, comment=comment))  # fmt: skip


@alerts_app.command()
def resolve(
    alert_id: str,
    outcome: Annotated[
        OutcomeChoice, typer.Option(help="confirmed, false_positive or duplicate.")
    ] = "confirmed",
    comment: Comment = "",
) -> None:
    """Close an acknowledged alert with an outcome (default: confirmed, a true positive).

    A false-positive close of a high or critical alert waits for a supervisor's approval."""
    _decide(alert_id, "/close", {"outcome": outcome, "comment": comment},
            lambda store, me, aid: store.resolve(aid, outcome, by=me, comment=comment))  # fmt: skip


@alerts_app.command("false-positive")
def false_positive(alert_id: str, comment: Comment = "") -> None:
    """Close an acknowledged alert as a false positive (feeds rule and model tuning)."""
    resolve(alert_id, "false_positive", comment)


@alerts_app.command("approve-close")
def approve_close(alert_id: str, comment: Comment = "") -> None:
    """Supervisors: approve someone else's false-positive close of a high/critical alert."""
    _decide(alert_id, "/approve-close", {"comment": comment},
            lambda store, me, aid: store.approve_close(aid, by=me, comment=comment))  # fmt: skip


@alerts_app.command("reject-close")
def reject_close(
    alert_id: str,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why not (required).")],
) -> None:
    """Supervisors: turn down a pending false-positive close (back to acknowledged)."""
    _decide(alert_id, "/reject-close", {"comment": comment},
            lambda store, me, aid: store.reject_close(aid, by=me, comment=comment))  # fmt: skip


@alerts_app.command()
def reopen(
    alert_id: str,
    reason: Annotated[str, typer.Option(help="Why the closed alert is reopened (required).")],
) -> None:
    """Reopen a closed alert to correct its outcome (back to acknowledged)."""
    _decide(alert_id, "/reopen", {"reason": reason},
            lambda store, me, aid: store.reopen(aid, by=me, reason=reason))  # fmt: skip


@alerts_app.command()
def assign(
    alert_id: str,
    assignee: Annotated[str | None, typer.Argument(help="A user; leave out to unassign.")] = None,
    comment: Comment = "",
) -> None:
    """Assign an alert to a user (or unassign it); no status change."""
    _decide(alert_id, "/assign", {"assignee": assignee, "comment": comment},
            lambda store, me, aid: store.assign(aid, assignee, by=me, comment=comment))  # fmt: skip


@alerts_app.command()
def comment(alert_id: str, text: Annotated[str, typer.Argument(help="The comment.")]) -> None:
    """Add a comment to an alert's history, without a status change."""
    _decide(alert_id, "/comment", {"comment": text},
            lambda store, me, aid: store.comment(aid, text, by=me))  # fmt: skip


@alerts_app.command()
def reveal(
    alert_id: str,
    reason: Annotated[str, typer.Option(help="Why you need the full account (recorded).")],
) -> None:
    """Supervisors: show the full account and evidence of an alert; the reveal is recorded."""
    api = remote()
    if api is not None:
        shown = Revealed.model_validate(
            api.call("POST", f"/alerts/{alert_id}/reveal", {"reason": reason})
        )
    else:
        with _store() as store:
            identity = cli_identity(store)
            alert_id = resolve_alert_id(store, alert_id)
            shown = store.reveal(alert_id, by=identity, reason=reason)
    console.print(f"{shown.alert_id}: account {shown.entity_id}", markup=False)
    for event in shown.events:
        console.print(f"  {json.dumps(event, ensure_ascii=False, sort_keys=True)}", markup=False)


@alerts_app.command("export-labels")
def export_labels(
    out: Annotated[Path | None, typer.Option(help="Write JSONL here (default: stdout).")] = None,
) -> None:
    """Export true/false-positive labels of closed alerts as JSONL (times in the bank's zone)."""
    settings = _settings()
    with _store() as store:
        labels = store.export_labels()
    lines = "".join(
        json.dumps(localise_times(label.model_dump(), settings.timezone), default=_iso) + "\n"
        for label in labels
    )
    if out is None:
        sys.stdout.write(lines)
    else:
        out.write_text(lines, encoding="utf-8")
        err.print(f"{len(labels)} label(s) written to {out}")


@alerts_app.command()
def ingest(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Load an alerts JSONL file (e.g. from ``riskmon replay --alerts-out``) into the store."""
    batch: list[Alert] = []
    number = 0
    try:
        with file.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    batch.append(Alert.from_json(line))
                except ValidationError as exc:
                    problem = exc.errors()[0]["msg"]
                    err.print(f"[bold red]{file}:{number}[/]: not an alert: {problem}")
                    raise typer.Exit(2) from None
    except UnicodeDecodeError:
        err.print(f"{file}:{number + 1}: not UTF-8 text (a binary file?)", markup=False)
        raise typer.Exit(2) from None
    registry = CollectorRegistry()
    with _store(create=True) as store:
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


@alerts_app.command("attach-evidence")
def attach_evidence(
    events: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Events JSONL.")],
) -> None:
    """Keep the triggering events of stored alerts from an events JSONL file (e.g. the one
    replayed or produced), so `show` and the workspace can display the evidence itself."""
    with _store() as store:
        wanted = store.wanted_evidence()
        found: list[dict[str, Any]] = []
        with events.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    event = json.loads(line) if line.strip() else None
                except ValueError:
                    continue  # not an event; the replay sends such lines to the dead letters
                if isinstance(event, dict) and event.get("event_id") in wanted:
                    found.append(event)
        kept = store.attach_evidence(found)
    console.print(f"{kept} evidence event(s) kept; {len(wanted) - len(found)} still missing")


@silence_app.command("add")
def silence_add(
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
    api = remote()
    if api is not None:
        body = {
            "matchers": matchers.model_dump(mode="json", exclude_defaults=True),
            "duration_minutes": int(length.total_seconds() // 60),
            "reason": reason,
            "ticket": ticket,
        }
        silence = Silence.model_validate(api.call("POST", "/silences", body))
    else:
        with _store(create=True) as store:
            now = store.clock()
            silence = store.add_silence(
                matchers, ends_at=now + length, by=cli_identity(store), reason=reason,
                ticket=ticket,
            )  # fmt: skip
    pending = "" if silence.approved else "; pending approval by someone else"
    settings = _settings()
    until = format_datetime(silence.ends_at, settings.language, settings.timezone, weekday=False)
    console.print(f"silence {silence.silence_id} until {until}{pending}")


@silence_app.command("list")
def silence_list(
    show: Annotated[Literal["active", "all"], typer.Option(help="active or all")] = "active",
) -> None:
    """List silences."""
    settings = _settings()
    with _store() as store:
        now = store.clock()
        found = store.list_silences(active_at=now if show == "active" else None)
    table = Table(title=f"Silences ({show})")
    table.add_column("silence_id", no_wrap=True)
    for column in ("matchers", f"until ({settings.timezone})", "author", "ticket", "reason"):
        table.add_column(column, overflow="fold")
    for column in ("state",):
        table.add_column(column, overflow="fold")
    for silence in found:
        state = "active" if silence.is_active(now) else "ended"
        if not silence.approved and silence.ends_at > now and silence.expired_at is None:
            state = "pending approval"
        table.add_row(
            silence.silence_id, json.dumps(silence.matchers.model_dump(exclude_defaults=True)),
            format_datetime(silence.ends_at, settings.language, settings.timezone, weekday=False),
            silence.author, silence.ticket, silence.reason,
            state,
        )  # fmt: skip
    console.print(table)


@silence_app.command("approve")
def silence_approve(silence_id: str, comment: Comment = "") -> None:
    """Approve someone else's silence (maker-checker); it is in force from now."""
    silence = _silence_change(silence_id, "approve", comment)
    console.print(f"silence {silence_id} approved (by {silence.approved_by})", markup=False)


@silence_app.command("expire")
def silence_expire(silence_id: str, comment: Comment = "") -> None:
    """End a silence now."""
    silence = _silence_change(silence_id, "expire", comment)
    console.print(f"silence {silence_id} expired (by {silence.expired_by})", markup=False)


def _silence_change(silence_id: str, change: Literal["approve", "expire"], comment: str) -> Silence:
    """Approve or expire a silence as the token's user, over the API or on the store."""
    api = remote()
    if api is not None:
        answer = api.call("POST", f"/silences/{silence_id}/{change}", {"comment": comment})
        return Silence.model_validate(answer)
    with _store() as store:
        me = cli_identity(store)
        if change == "approve":
            return store.approve_silence(silence_id, by=me, comment=comment)
        return store.expire_silence(silence_id, by=me, comment=comment)


@alerts_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8087,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Also serve Prometheus /metrics (store and register) on this port."),
    ] = None,
) -> None:
    """Serve the HTTP API; callers use users' API tokens (`riskmon users token NAME`)."""
    import uvicorn  # imported here so the other commands start fast

    from alerts.api import ApiToken, create_app

    settings = _settings()
    try:
        tokens = {t: ApiToken.model_validate(v) for t, v in settings.alert_api_tokens.items()}
    except ValidationError as exc:
        err.print(f"[bold red]RISKMON_ALERT_API_TOKENS[/]: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    with _store(create=True) as store:
        if not store.users.list_users():
            err.print(
                "[bold red]no users[/]: add one with `riskmon users add NAME --role officer` and "
                "give it a token with `riskmon users token NAME` (RISKMON_ALERT_API_TOKENS only "
                "works for owners who are users)"
            )
            raise typer.Exit(2)
        if metrics_port is not None:
            from prometheus_client import start_http_server

            from alerts.register import workspace_registry

            start_http_server(metrics_port, addr=host, registry=workspace_registry(store))
        app = create_app(store, tokens, timezone=settings.timezone)
        uvicorn.run(app, host=host, port=port, log_level="warning")
