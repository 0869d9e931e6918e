"""``riskmon register``: the risk-event register (四不放过) from the command line.

A risk event is opened from confirmed alerts and closes only when the root cause, the people
dealt with, the staff education and every remediation action are done. Changes name the user of
``RISKMON_TOKEN`` / ``RISKMON_TOKEN_FILE``; with ``RISKMON_API_URL`` every command goes to that
server instead of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from alerts.identity import Identity
from alerts.register import ACTION_STATUSES, ROOT_CAUSE_CATEGORIES, ActionStatus, RiskRegister
from riskmon.alerts_cli import _store
from riskmon.identity_cli import cli_identity, remote

__all__ = ["register_app"]

register_app = typer.Typer(
    help="The risk-event register (四不放过): open, follow up, close, export.",
    no_args_is_help=True,
)
console = Console()
Reading = Callable[[RiskRegister], Any]
Writing = Callable[[RiskRegister, Identity], Any]


def _plain(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [_plain(item) for item in result]
    return result


def _read(path: str, local: Reading) -> Any:
    """GET ``path`` with RISKMON_API_URL, else read the store."""
    api = remote()
    if api is not None:
        return api.call("GET", path)
    with _store() as store:
        return _plain(local(store.register))


def _write(path: str, body: dict[str, Any], local: Writing) -> Any:
    """POST ``path`` with RISKMON_API_URL, else change the store as the token's user."""
    api = remote()
    if api is not None:
        return api.call("POST", path, body)
    with _store() as store:
        return _plain(local(store.register, cli_identity(store)))


def _summary(event: dict[str, Any]) -> None:
    missing = event.get("missing")
    if missing is None:
        missing = _missing(event)
    left = f"; still missing: {', '.join(missing)}" if missing else "; nothing missing"
    line = f"{event['event_id']} [{event['status']}] owner {event['owner']}: {event['title']}"
    console.print(line + (left if event["status"] == "open" else ""), markup=False)


def _missing(event: dict[str, Any]) -> list[str]:
    gaps = []
    if not (event.get("root_cause_category") and event.get("root_cause")):
        gaps.append("root_cause")
    for field in ("people_dealt_with", "staff_education"):
        if not event.get(field):
            gaps.append(field)
    actions = event.get("actions") or []
    if not actions:
        gaps.append("remediation_actions")
    gaps.extend(f"action {a['action_id']} not done" for a in actions if a["status"] != "done")
    return gaps


@register_app.command("list")
def list_events(
    status: Annotated[str | None, typer.Option(help="open or closed.")] = None,
) -> None:
    """List risk events, newest first."""
    if status not in (None, "open", "closed"):
        raise typer.BadParameter("use open or closed", param_hint="--status")
    chosen: Literal["open", "closed"] | None = status  # type: ignore[assignment]
    query = f"?status={status}" if status else ""
    events = _read(f"/risk-events{query}", lambda register: register.list_events(status=chosen))
    table = Table(title="Risk events")
    for column in ("event", "status", "owner", "title", "still missing"):
        table.add_column(column, overflow="fold")
    for event in events:
        missing = ", ".join(_missing(event)) if event["status"] == "open" else ""
        table.add_row(event["event_id"], event["status"], event["owner"], event["title"], missing)
    console.print(table, markup=False)
    console.print(f"{len(events)} risk event(s)")


@register_app.command()
def show(event_id: str) -> None:
    """One risk event: alerts, follow-ups, actions and history."""

    def local(register: RiskRegister) -> dict[str, Any]:
        event = register.get(event_id)
        return {
            "event": event.model_dump(mode="json"),
            "missing": event.missing(),
            "history": [e.model_dump(mode="json") for e in register.history(event_id)],
        }

    detail = _read(f"/risk-events/{event_id}", local)
    event = detail["event"]
    _summary(dict(event, missing=detail["missing"]))
    console.print(f"  alerts: {' '.join(event['alert_ids'])}", markup=False)
    for field in ("root_cause_category", "root_cause", "people_dealt_with", "staff_education"):
        console.print(f"  {field}: {event.get(field) or '-'}", markup=False)
    for action in event["actions"]:
        link = f" (rule change {action['proposal_id']})" if action.get("proposal_id") else ""
        console.print(
            f"  action {action['action_id']} [{action['status']}] {action['description']} -> "
            f"{action['owner']} by {action['due_date']}{link}",
            markup=False,
        )
    for entry in detail["history"]:
        console.print(
            f"  {entry['at']} {entry['action']} {entry['actor']}: {entry['comment']}", markup=False
        )


@register_app.command("open")
def open_event(
    alert_ids: Annotated[list[str], typer.Argument(help="Confirmed alert ids.")],
    owner: Annotated[str, typer.Option(help="Who follows it up (a user).")],
    title: Annotated[str, typer.Option(help="What happened.")],
) -> None:
    """Open a risk event from one or more confirmed alerts."""
    body = {"alert_ids": alert_ids, "owner": owner, "title": title}
    event = _write(
        "/risk-events",
        body,
        lambda register, me: register.open_event(alert_ids, owner=owner, title=title, by=me),
    )
    _summary(event)


@register_app.command("root-cause")
def root_cause(
    event_id: str,
    category: Annotated[str, typer.Option(help=", ".join(ROOT_CAUSE_CATEGORIES))],
    text: Annotated[str, typer.Option(help="The analysis.")],
) -> None:
    """Record the root cause (四不放过 1)."""
    event = _write(
        f"/risk-events/{event_id}/root-cause",
        {"category": category, "text": text},
        lambda register, me: register.set_root_cause(event_id, category, text, by=me),
    )
    _summary(event)


@register_app.command()
def people(event_id: str, text: str) -> None:
    """Record how the people responsible were dealt with (四不放过 2)."""
    event = _write(
        f"/risk-events/{event_id}/people",
        {"text": text},
        lambda register, me: register.set_people_dealt_with(event_id, text, by=me),
    )
    _summary(event)


@register_app.command()
def education(event_id: str, text: str) -> None:
    """Record the staff education given (四不放过 3)."""
    event = _write(
        f"/risk-events/{event_id}/education",
        {"text": text},
        lambda register, me: register.set_staff_education(event_id, text, by=me),
    )
    _summary(event)


@register_app.command("action-add")
def action_add(
    event_id: str,
    description: Annotated[str, typer.Option(help="The remedy.")],
    owner: Annotated[str, typer.Option(help="Who does it (a user).")],
    due: Annotated[str, typer.Option(help="Due date, YYYY-MM-DD.")],
    proposal: Annotated[str | None, typer.Option(help="A rule-change proposal id.")] = None,
) -> None:
    """Add a remediation action (四不放过 4)."""
    try:
        due_date = date.fromisoformat(due)
    except ValueError:
        raise typer.BadParameter(f"not a date: {due!r}", param_hint="--due") from None
    body = {"description": description, "owner": owner, "due": due, "proposal_id": proposal}
    action = _write(
        f"/risk-events/{event_id}/actions",
        body,
        lambda register, me: register.add_action(
            event_id,
            description=description,
            owner=owner,
            due=due_date,
            proposal_id=proposal,
            by=me,
        ),
    )
    console.print(f"action {action['action_id']} added to {event_id}", markup=False)


@register_app.command()
def action(
    event_id: str,
    action_id: int,
    status: Annotated[str, typer.Option(help=", ".join(ACTION_STATUSES))],
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
) -> None:
    """Set a remediation action's status."""
    if status not in ACTION_STATUSES:
        raise typer.BadParameter(f"use one of {', '.join(ACTION_STATUSES)}", param_hint="--status")
    chosen: ActionStatus = status
    body = {"status": status, "comment": comment}
    done = _write(
        f"/risk-events/{event_id}/actions/{action_id}",
        body,
        lambda register, me: register.set_action_status(
            event_id, action_id, chosen, by=me, comment=comment
        ),
    )
    console.print(f"action {done['action_id']}: {done['status']}", markup=False)


@register_app.command()
def close(event_id: str, comment: Annotated[str, typer.Option("--comment", "-m")] = "") -> None:
    """Close a risk event; refused while a follow-up is missing."""
    event = _write(
        f"/risk-events/{event_id}/close",
        {"comment": comment},
        lambda register, me: register.close(event_id, by=me, comment=comment),
    )
    _summary(event)


@register_app.command()
def overdue(
    now: Annotated[str | None, typer.Option(help="ISO time with offset (default: now).")] = None,
) -> None:
    """Remediation actions past their due date and not done."""
    when = datetime.fromisoformat(now) if now else datetime.now(UTC)
    if when.tzinfo is None:
        raise typer.BadParameter("give a time zone offset", param_hint="--now")
    query = f"?now={when.isoformat()}".replace("+", "%2B")
    found = _read(f"/risk-events/overdue{query}", lambda register: register.overdue(when))
    for item in found:
        console.print(
            f"{item['event_id']} action {item['action_id']} due {item['due_date']} "
            f"({item['owner']}): {item['description']}",
            markup=False,
        )
    console.print(f"{len(found)} overdue action(s)")


@register_app.command()
def export(
    out: Annotated[Path | None, typer.Option(help="Write CSV here (default: stdout).")] = None,
) -> None:
    """Export the register as CSV (one row per remediation action)."""
    api = remote()
    if api is not None:
        text = api.call_text("/risk-events.csv")
    else:
        with _store() as store:
            text = store.register.export_csv()
    if out is None:
        print(text, end="")
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"register written to {out}", markup=False)


@register_app.command()
def verify() -> None:
    """Check the hash chains of the alert history and of the register (exit 1 if broken)."""
    with _store() as store:
        broken = {
            "alert history": store.verify_history(),
            "register history": store.register.verify_history(),
        }
    for name, entry_id in broken.items():
        state = "intact" if entry_id is None else f"BROKEN at entry {entry_id}"
        console.print(f"{name}: {state}", markup=False)
    if any(entry_id is not None for entry_id in broken.values()):
        raise typer.Exit(1)
