"""Who runs a command, and where it goes: users, tokens, and the API client of the CLI.

- ``riskmon users add NAME --role officer|supervisor|auditor|admin`` (password from a prompt or
  ``--password-file``), ``users list``, ``users token NAME`` (prints a new API token once), ``users
  role NAME ROLE``, ``users deactivate NAME``. These work on the store directly: whoever can open
  the store's database administers its users.
- Every change made by ``riskmon alerts`` names the user of a token: ``RISKMON_TOKEN``, or the
  first line of the file ``RISKMON_TOKEN_FILE``. There is no free-text ``--by``.
- With ``RISKMON_API_URL`` (e.g. ``http://127.0.0.1:8087``, or ``http://host:8080/api`` behind
  ``riskmon serve``) the decision commands talk to that server over HTTP with the token instead of
  opening the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from alerts.errors import AlertsError
from alerts.identity import ROLES, Identity, Role
from alerts.store import AlertStore
from riskmon.settings import Settings, prepare_store, sqlite_path

__all__ = ["RemoteApi", "cli_identity", "read_token", "remote", "users_app"]

users_app = typer.Typer(
    help="Users, roles and API tokens (on the store directly).", no_args_is_help=True
)
console = Console()
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error[/]: {escape(message)}")
    return typer.Exit(code)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _fail(f"RISKMON_{str(error['loc'][0]).upper()}: {error['msg']}", 2) from None
    except SettingsError as exc:  # e.g. RISKMON_TOKEN_FILE that cannot be read
        from riskmon.cli import _settings_problem

        raise _fail(_settings_problem(exc), 2) from None


def read_token(settings: Settings | None = None) -> str:
    """The token from ``RISKMON_TOKEN`` or the first line of ``RISKMON_TOKEN_FILE`` (read like
    every ``*_FILE`` setting, :mod:`riskmon.secrets`); a clear error without one."""
    settings = settings or _settings()
    lines = (settings.token or "").strip().splitlines()
    token = lines[0].strip() if lines else ""
    if not token:
        raise _fail(
            "who is this? set RISKMON_TOKEN or RISKMON_TOKEN_FILE to your API token "
            "(`riskmon users token NAME` issues one)",
            2,
        )
    return token


def cli_identity(store: AlertStore) -> Identity:
    """The identity of the configured token in ``store``."""
    token = read_token()
    try:
        return store.users.identity_for_token(token)
    except AlertsError as exc:
        raise _fail(f"{exc} (RISKMON_TOKEN / RISKMON_TOKEN_FILE)") from None


class RemoteApi:
    """The riskmon HTTP API at ``base_url``, called with a bearer token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The decoded JSON answer; one clear line and exit 1 on any failure."""
        return self._send(method, path, body).json()

    def call_text(self, path: str) -> str:
        """The text of a GET answer (e.g. CSV)."""
        return self._send("GET", path, None).text

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        url = f"{self.base_url}{path}"
        try:
            response = httpx.request(
                method, url, json=body, headers=self.headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise _fail(f"cannot reach the riskmon API at {self.base_url}: {exc}") from None
        if response.is_success:
            return response
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        if isinstance(detail, list):  # pydantic's 422 details
            detail = "; ".join(str(item.get("msg", item)) for item in detail)
        raise _fail(f"{response.status_code} from {url}: {detail}")


def remote() -> RemoteApi | None:
    """The API client when ``RISKMON_API_URL`` is set, else None (use the store)."""
    settings = _settings()
    if not settings.api_url:
        return None
    return RemoteApi(settings.api_url, read_token(settings))


def _store(create: bool = False) -> AlertStore:
    from riskmon.alerts_cli import AlertsCliSettings  # the store settings live there

    url = AlertsCliSettings().alert_store_url
    path = sqlite_path(url)
    if create:  # `users add` is the first step on a new machine: it may create the store
        prepare_store(url)
    elif path is not None and not path.is_file():
        raise _fail(f"no alert store at {path}; `riskmon users add` or `riskmon demo` create it")
    try:
        return AlertStore.open(url)
    except AlertsError as exc:
        raise _fail(str(exc)) from None


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            lines = password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise _fail(f"cannot read {password_file}: {exc}") from None
        return lines[0] if lines else ""
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Sign-in name; compared trimmed and case-folded.")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    password_file: Annotated[
        Path | None, typer.Option(help="Read the password from this file's first line.")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Shown in the workspace.")] = None,
) -> None:
    """Add a user (password from a prompt, or --password-file)."""
    if role not in ROLES:
        raise _fail(f"--role: use one of {', '.join(ROLES)}, not {role!r}", 2)
    password = _password(password_file)
    with _store(create=True) as store:
        try:
            user = store.users.add_user(name, role, password, display_name=display_name)
        except AlertsError as exc:
            raise _fail(str(exc)) from None
    console.print(f"user {user.user_id} ({user.role}) added", markup=False)


@users_app.command("list")
def users_list() -> None:
    """List users and their roles."""
    with _store() as store:
        found = store.users.list_users()
    table = Table(title="Users")
    for column in ("user", "name", "role", "active"):
        table.add_column(column)
    for user in found:
        table.add_row(user.user_id, user.display_name, user.role, "yes" if user.active else "no")
    console.print(table, markup=False)
    console.print(f"{len(found)} user(s)")


@users_app.command("token")
def users_token(
    name: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Issue an API token for NAME and print it once (only its hash is kept)."""
    with _store() as store:
        try:
            token = store.users.issue_token(name, label=label)
        except AlertsError as exc:
            raise _fail(str(exc)) from None
    print(token)
    err.print("keep it secret: set RISKMON_TOKEN or RISKMON_TOKEN_FILE to it", markup=False)


@users_app.command("role")
def users_role(name: str, role: str) -> None:
    """Change a user's role."""
    if role not in ROLES:
        raise _fail(f"use one of {', '.join(ROLES)}, not {role!r}", 2)
    new_role: Role = role
    with _store() as store:
        try:
            user = store.users.set_role(name, new_role)
        except AlertsError as exc:
            raise _fail(str(exc)) from None
    console.print(f"user {user.user_id} is now {user.role}", markup=False)


@users_app.command("deactivate")
def users_deactivate(name: str) -> None:
    """Stop a user from signing in or acting, and revoke their tokens; history stays."""
    with _store() as store:
        try:
            user = store.users.deactivate(name)
            revoked = store.users.revoke_tokens(name)
        except AlertsError as exc:
            raise _fail(str(exc)) from None
    console.print(f"user {user.user_id} deactivated; {revoked} token(s) revoked", markup=False)
