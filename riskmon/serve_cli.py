"""``riskmon serve``: the risk officers' web workspace, with the JSON API under ``/api``.

Read here, once, from the environment (prefix ``RISKMON_``, :class:`riskmon.settings.Settings`):

- ``WEB_SECRET`` or ``WEB_SECRET_FILE``: the key that signs session cookies (32+ characters; the
  same on every replica). Without one, a random key is made at start: sessions end on restart.
- ``WEB_HTTPS_ONLY=true``: mark the session cookie ``Secure`` (set it behind TLS).
- ``TIMEZONE`` (default ``Asia/Shanghai``) and ``LANGUAGE`` (``en`` or ``zh-CN``): how pages show
  times and which language they start in.
- the alert store and API settings of ``riskmon alerts`` (``ALERT_STORE_URL`` ...).

Users sign in with the passwords set by ``riskmon users add``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from riskmon.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from alerts.store import AlertStore
    from monitor.alerts import Alert

__all__ = ["evidence_events", "serve_command"]

err = Console(stderr=True)


def evidence_events(alerts: Iterable[Alert], events_file: Path) -> dict[str, dict[str, Any]]:
    """The events of ``events_file`` (JSONL) that ``alerts`` name, by event id: their evidence."""
    wanted = {event_id for alert in alerts for event_id in alert.event_ids}
    found: dict[str, dict[str, Any]] = {}
    with events_file.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the replay already sent it to the dead letters
            if isinstance(event, dict) and event.get("event_id") in wanted:
                found[str(event["event_id"])] = event
    return found


def _secret(settings: Settings) -> str:
    secret = (settings.web_secret or "").strip()  # or RISKMON_WEB_SECRET_FILE (riskmon.secrets)
    if not secret:
        err.print("[yellow]no RISKMON_WEB_SECRET: a random one is used; sessions end on restart[/]")
        return secrets.token_urlsafe(48)
    if len(secret) < 32:
        err.print("[bold red]RISKMON_WEB_SECRET[/]: use at least 32 characters")
        raise typer.Exit(2)
    return secret


def _api(store: AlertStore, timezone: str) -> FastAPI:
    """The JSON API over ``store``, as ``riskmon alerts serve`` builds it."""
    from alerts.api import ApiToken, create_app
    from riskmon.alerts_cli import AlertsCliSettings

    configured = AlertsCliSettings().alert_api_tokens
    try:
        tokens = {t: ApiToken.model_validate(v) for t, v in configured.items()}
    except ValidationError as exc:
        err.print(f"[bold red]RISKMON_ALERT_API_TOKENS[/]: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from None
    return create_app(store, tokens, timezone=timezone)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus /metrics (store telemetry, overdue actions) here."),
    ] = None,
) -> None:
    """Serve the web workspace (inbox, alerts, risk-event register) and the JSON API (/api)."""
    import uvicorn  # imported here so the other commands start fast
    from pydantic_settings import SettingsError

    from alerts.web import WorkspaceConfig, create_workspace
    from riskmon.alerts_cli import _store
    from riskmon.cli import _settings_problem

    try:
        settings = Settings()
    except (ValidationError, SettingsError) as exc:
        err.print(f"riskmon: error: {_settings_problem(exc)}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        config = WorkspaceConfig(
            secret_key=_secret(settings),
            timezone=settings.timezone,
            language=settings.language,
            https_only=settings.web_https_only,
            poll_seconds=max(1, settings.web_poll_seconds),
        )
    except ValueError as exc:
        err.print(f"[bold red]error[/]: {exc}")
        raise typer.Exit(2) from None
    with _store() as store:
        if not store.users.list_users():
            err.print(
                "[yellow]no users yet: add one with `riskmon users add NAME --role officer`[/]"
            )
        if metrics_port is not None:
            from prometheus_client import start_http_server

            from alerts.register import workspace_registry

            start_http_server(metrics_port, addr=host, registry=workspace_registry(store))
        app = create_workspace(store, config, api=_api(store, config.timezone))
        err.print(f"riskmon workspace on http://{host}:{port}/ (API under /api)")
        uvicorn.run(app, host=host, port=port, log_level="warning")
