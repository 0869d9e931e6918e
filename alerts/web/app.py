"""The risk officers' web workspace: inbox, one alert, decisions, approvals, risk-event register.

``create_workspace(store, config, api=None)`` builds a FastAPI app rendered on the server with
Jinja2 templates and the vendored htmx (``/static``); ``api`` (the JSON API) is mounted under
``/api``. Identity comes from the store's user directory: a signed session cookie holds the user
id, and every change is made as that user, so the history names an authenticated identity.
Auditors read; officers decide; supervisors also approve false-positive closes and reveal full
account numbers (with a reason); admins may do everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from alerts.errors import AlertNotFoundError, AlertsError
from alerts.identity import Identity
from alerts.register import ROOT_CAUSE_CATEGORIES, RiskRegister
from alerts.store import AlertStore
from alerts.store.tables import history
from alerts.web.i18n import LANGUAGES, Texts, local_time
from alerts.web.inbox import FACETS, SORTS, WINDOW, Filters, query_inbox
from alerts.web.security import CSRF_FIELD, SecureHeadersMiddleware, check_csrf, csrf_token
from monitor.alerts import Language
from monitor.i18n import action_name, role_name, value_name

__all__ = ["WorkspaceConfig", "create_workspace"]

HERE = Path(__file__).parent
SESSION_COOKIE = "riskmon_session"
OUTCOMES = ("confirmed", "false_positive", "duplicate")
ACTION_STATUSES = ("open", "in_progress", "done")
BULK_ACTIONS = ("acknowledge", "assign", "comment", "resolve")


@dataclass(frozen=True)
class WorkspaceConfig:
    """How the workspace runs.

    secret_key
        Signs the session cookie; at least 32 characters, kept secret, the same on every replica.
    timezone
        The bank's time zone: every time on every page is shown in it.
    language
        The default page language; a user switches with the button in the header.
    https_only
        Mark the session cookie ``Secure`` (set it behind TLS).
    poll_seconds
        How often the inbox asks for new alerts.
    """

    secret_key: str
    timezone: str = "Asia/Shanghai"
    language: Language = "en"
    https_only: bool = False
    poll_seconds: int = 5
    session_hours: int = 8

    def __post_init__(self) -> None:
        if len(self.secret_key) < 32:
            raise ValueError("the workspace secret key must have at least 32 characters")


class LoginThrottle:
    """After ``limit`` wrong passwords for one user name within ``window``, refuse its logins
    until ``window`` has passed since the last failure (per process; argon2 slows each guess)."""

    def __init__(self, limit: int = 5, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.window = window.total_seconds()
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, who: str, now: float) -> list[float]:
        recent = [t for t in self._failures.get(who, []) if now - t < self.window]
        if recent:
            self._failures[who] = recent
        else:
            self._failures.pop(who, None)
        return recent

    def blocked(self, who: str) -> bool:
        with self._lock:
            return len(self._recent(who, time.monotonic())) >= self.limit

    def failed(self, who: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._failures[who] = [*self._recent(who, now), now]

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failures.pop(who, None)


class _LoginRequired(Exception):
    """No valid session: the browser goes to the login page."""


def _current(request: Request) -> Identity:
    """The signed-in user's identity as stored now (role changes apply at once)."""
    user_id = request.session.get("user")
    if not isinstance(user_id, str):
        raise _LoginRequired
    store: AlertStore = request.app.state.store
    try:
        return store.users.identity(user_id)
    except AlertsError:
        request.session.pop("user", None)
        raise _LoginRequired from None


def _writer(identity: Annotated[Identity, Depends(_current)]) -> Identity:
    if not identity.can_write:
        raise HTTPException(403, f"{identity.user_id} ({identity.role}) may only read")
    return identity


User = Annotated[Identity, Depends(_current)]
Writer = Annotated[Identity, Depends(_writer)]


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def create_workspace(
    store: AlertStore, config: WorkspaceConfig, *, api: FastAPI | None = None
) -> FastAPI:
    """The web workspace over ``store``; ``api`` (if given) is served under ``/api``."""
    app = FastAPI(title="riskmon workspace", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["getattr_"] = getattr
    templates.env.globals["evidence_columns"] = evidence_columns
    app.add_middleware(
        SessionMiddleware,
        secret_key=config.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=config.session_hours * 3600,
        same_site="strict",
        https_only=config.https_only,
    )
    app.add_middleware(SecureHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    if api is not None:
        app.mount("/api", api)

    users = store.users
    throttle = LoginThrottle()

    register = RiskRegister(store, timezone=ZoneInfo(config.timezone))

    def reg() -> RiskRegister:
        return register

    # -- sessions and page context ------------------------------------------------------------

    def language_of(request: Request) -> Language:
        chosen = request.session.get("lang")
        return chosen if chosen in LANGUAGES else config.language

    @app.exception_handler(_LoginRequired)
    async def to_login(request: Request, exc: _LoginRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return _redirect("/login?next=" + quote(request.url.path))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.headers and "Location" in exc.headers:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return page(
            request, "error.html", None, exc.status_code, status=exc.status_code, detail=exc.detail
        )

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'][1:]) or 'input'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        return page(request, "error.html", None, 422, status=422, detail=problems)

    def time_of(request: Request) -> Callable[..., str]:
        language = language_of(request)

        def fmt(when: Any, seconds: bool = False) -> str:
            return local_time(when, config.timezone, language, seconds=seconds)

        return fmt

    def page(
        request: Request,
        template: str,
        identity: Identity | None,
        status_code: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        language = language_of(request)
        context = {
            "t": Texts(language),
            "lang": language,
            "user": identity,
            "csrf": csrf_token(request),
            "csrf_field": CSRF_FIELD,
            "flash": request.session.pop("flash", None),
            "when": time_of(request),
            "timezone": config.timezone,
            "message_of": lambda alert: alert.messages.get(language) or alert.message,
            "cell": lambda event, column: _cell(event, column, config.timezone, language),
            "explained": lambda value: _explained(value, language, config.timezone),
            **values,
        }
        return templates.TemplateResponse(request, template, context, status_code=status_code)

    def flash(request: Request, kind: str, text: str) -> None:
        request.session["flash"] = {"kind": kind, "text": text}

    def act(request: Request, back: str, change: Callable[[], object], done: str = "") -> Response:
        """Run ``change``; on a refused change show why on the page it came from."""
        try:
            change()
        except AlertsError as exc:
            flash(request, "error", str(exc))
        else:
            if done:
                flash(request, "ok", done)
        return _redirect(back)

    # -- login ---------------------------------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/inbox") -> HTMLResponse:
        return page(request, "login.html", None, next=_safe_next(next), failed=False)

    posting = APIRouter(dependencies=[Depends(check_csrf)])

    @posting.post("/login", response_model=None)
    def login(
        request: Request,
        username: Annotated[str, Form(max_length=128)],
        password: Annotated[str, Form(max_length=1024)],
        next: Annotated[str, Form()] = "/inbox",
    ) -> Response:
        who = username.strip().casefold()
        if throttle.blocked(who):
            return page(
                request, "login.html", None, 429, next=_safe_next(next), failed=True, locked=True
            )
        try:
            identity = users.authenticate(username, password)
        except AlertsError:
            throttle.failed(who)
            return page(request, "login.html", None, 401, next=_safe_next(next), failed=True)
        throttle.succeeded(who)
        language = request.session.get("lang")
        request.session.clear()  # a new session on login: no fixation
        request.session["user"] = identity.user_id
        if language in LANGUAGES:
            request.session["lang"] = language
        csrf_token(request)
        return _redirect(_safe_next(next))

    @posting.post("/logout")
    def logout(request: Request) -> RedirectResponse:
        request.session.clear()
        return _redirect("/login")

    @posting.post("/language")
    def switch_language(
        request: Request, lang: Annotated[str, Form()], next: Annotated[str, Form()] = "/inbox"
    ) -> RedirectResponse:
        if lang in LANGUAGES:
            request.session["lang"] = lang
        return _redirect(_safe_next(next))

    # -- inbox ---------------------------------------------------------------------------------

    def inbox_data(request: Request) -> dict[str, Any]:
        filters = Filters.from_query(request.query_params)
        since, until = filters.window(config.timezone)
        window = store.list_alerts(since=since, until=until, limit=WINDOW)
        return {
            "version": _store_version(store),
            "filters": filters,
            "result": query_inbox(window, filters),
            "facets": FACETS,
            "sorts": SORTS,
            "poll": config.poll_seconds,
            "assignees": [u for u in users.list_users() if u.active],
        }

    @app.get("/", response_model=None)
    def home(identity: User) -> RedirectResponse:
        return _redirect("/inbox")

    @app.get("/inbox", response_class=HTMLResponse)
    def inbox(request: Request, identity: User) -> HTMLResponse:
        return page(request, "inbox.html", identity, **inbox_data(request))

    @app.get("/inbox/rows", response_model=None)
    def inbox_rows(request: Request, identity: User, v: str = "") -> Response:
        if v and v == _store_version(store):
            return Response(status_code=204)  # nothing changed: htmx keeps the rows it has
        return page(request, "_rows.html", identity, **inbox_data(request))

    @posting.post("/alerts/bulk")
    async def bulk(request: Request, identity: Writer) -> Response:
        form = await request.form()
        ids = [str(v) for v in form.getlist("alert_id")][:500]
        action = str(form.get("action", ""))
        back = _safe_next(str(form.get("next", "/inbox")))
        if not ids:
            flash(request, "error", "select at least one alert")
            return _redirect(back)
        if action == "open_event":
            query = "&".join("alert_id=" + quote(i) for i in ids)
            return _redirect(f"/register/new?{query}")
        items = store.bulk(
            ids,
            _choice(action, BULK_ACTIONS),
            by=identity,
            comment=str(form.get("comment", ""))[:2000],
            outcome=_choice(str(form.get("outcome", "confirmed")), OUTCOMES),
            assignee=str(form.get("assignee", "")) or None,
        )
        failed = [i for i in items if not i.ok]
        done = len(items) - len(failed)
        text = f"{done} of {len(items)} done" + "".join(
            f"; {i.alert_id[:12]}: {i.error}" for i in failed[:5]
        )
        flash(request, "error" if failed else "ok", text)
        return _redirect(back)

    # -- one alert -----------------------------------------------------------------------------

    def alert_page(
        request: Request, identity: Identity | None, alert_id: str, **extra: Any
    ) -> HTMLResponse:
        try:
            stored = store.get(alert_id)
        except AlertNotFoundError:
            raise HTTPException(404, f"no alert {alert_id}") from None
        alert = stored.alert
        related = [
            s
            for s in store.list_alerts(
                since=alert.occurred_at - timedelta(days=30),
                until=alert.occurred_at + timedelta(days=30),
                limit=WINDOW,
            )
            if s.alert.entity_id == alert.entity_id and s.alert.alert_id != alert.alert_id
        ]
        activity: list[dict[str, Any]] = []
        for other in related[:20]:
            activity.extend(store.evidence(other.alert.alert_id))
        activity.sort(key=lambda e: str(e.get("occurred_at", "")), reverse=True)
        return page(
            request,
            "alert.html",
            identity,
            stored=stored,
            alert=alert,
            evidence=extra["revealed"].events
            if extra.get("revealed")
            else store.evidence(alert_id),
            related=related[:50],
            activity=activity[:30],
            history=store.history(alert_id),
            outcomes=OUTCOMES,
            assignees=[u for u in users.list_users() if u.active],
            **extra,
        )

    @app.get("/alerts/{alert_id}", response_class=HTMLResponse)
    def show_alert(request: Request, alert_id: str, identity: User) -> HTMLResponse:
        return alert_page(request, identity, alert_id)

    def back_to(alert_id: str) -> str:
        return "/alerts/" + quote(alert_id, safe="")

    @posting.post("/alerts/{alert_id}/ack")
    def ack(
        request: Request, alert_id: str, identity: Writer, comment: Annotated[str, Form()] = ""
    ) -> Response:
        return act(
            request,
            back_to(alert_id),
            lambda: store.acknowledge(alert_id, by=identity, comment=comment[:2000]),
        )

    @posting.post("/alerts/{alert_id}/assign")
    def assign(
        request: Request,
        alert_id: str,
        identity: Writer,
        assignee: Annotated[str, Form()] = "",
        comment: Annotated[str, Form()] = "",
    ) -> Response:
        return act(
            request,
            back_to(alert_id),
            lambda: store.assign(alert_id, assignee or None, by=identity, comment=comment[:2000]),
        )

    @posting.post("/alerts/{alert_id}/comment")
    def comment(
        request: Request,
        alert_id: str,
        identity: Writer,
        text: Annotated[str, Form(min_length=1, max_length=2000)],
    ) -> Response:
        return act(request, back_to(alert_id), lambda: store.comment(alert_id, text, by=identity))

    @posting.post("/alerts/{alert_id}/resolve")
    def resolve(
        request: Request,
        alert_id: str,
        identity: Writer,
        outcome: Annotated[str, Form()],
        comment: Annotated[str, Form()] = "",
    ) -> Response:
        chosen = _choice(outcome, OUTCOMES)
        return act(
            request,
            back_to(alert_id),
            lambda: store.resolve(alert_id, chosen, by=identity, comment=comment[:2000]),
        )

    @posting.post("/alerts/{alert_id}/reopen")
    def reopen(
        request: Request,
        alert_id: str,
        identity: Writer,
        reason: Annotated[str, Form(min_length=1, max_length=2000)],
    ) -> Response:
        return act(
            request, back_to(alert_id), lambda: store.reopen(alert_id, by=identity, reason=reason)
        )

    @posting.post("/alerts/{alert_id}/approve")
    def approve(
        request: Request, alert_id: str, identity: Writer, comment: Annotated[str, Form()] = ""
    ) -> Response:
        return act(
            request,
            back_to(alert_id),
            lambda: store.approve_close(alert_id, by=identity, comment=comment[:2000]),
        )

    @posting.post("/alerts/{alert_id}/reject")
    def reject(
        request: Request,
        alert_id: str,
        identity: Writer,
        comment: Annotated[str, Form(min_length=1, max_length=2000)],
    ) -> Response:
        return act(
            request,
            back_to(alert_id),
            lambda: store.reject_close(alert_id, by=identity, comment=comment),
        )

    @posting.post("/alerts/{alert_id}/reveal", response_model=None)
    def reveal(
        request: Request,
        alert_id: str,
        identity: Writer,
        reason: Annotated[str, Form(min_length=1, max_length=2000)],
    ) -> Response:
        try:
            revealed = store.reveal(alert_id, by=identity, reason=reason)
        except AlertsError as exc:
            flash(request, "error", str(exc))
            return _redirect(back_to(alert_id))
        return alert_page(request, identity, alert_id, revealed=revealed)

    # -- risk-event register -------------------------------------------------------------------

    @app.get("/register", response_class=HTMLResponse)
    def register_list(request: Request, identity: User, status: str = "") -> HTMLResponse:
        events = reg().list_events(
            status="open" if status == "open" else "closed" if status == "closed" else None
        )
        overdue = reg().overdue(store.clock())
        return page(
            request,
            "register.html",
            identity,
            events=events,
            overdue=overdue,
            overdue_events={a.event_id for a in overdue},
            status=status,
        )

    @app.get("/register/new", response_class=HTMLResponse)
    def register_new(request: Request, identity: Writer) -> HTMLResponse:
        ids = [v for v in request.query_params.getlist("alert_id")][:100]
        chosen = []
        for alert_id in ids:
            try:
                chosen.append(store.get(alert_id))
            except AlertNotFoundError:
                continue
        confirmed = store.list_alerts(status="resolved", limit=200)
        return page(
            request,
            "register_new.html",
            identity,
            chosen=chosen,
            confirmed=confirmed,
            owners=[u for u in users.list_users() if u.active],
        )

    @posting.post("/register", response_model=None)
    async def register_open(request: Request, identity: Writer) -> Response:
        form = await request.form()
        ids = [str(v) for v in form.getlist("alert_id")][:100]
        try:
            event = reg().open_event(
                ids,
                owner=str(form.get("owner", "")),
                title=str(form.get("title", ""))[:300],
                by=identity,
            )
        except AlertsError as exc:
            flash(request, "error", str(exc))
            query = "&".join("alert_id=" + quote(i) for i in ids)
            return _redirect(f"/register/new?{query}")
        return _redirect(f"/register/{event.event_id}")

    def event_url(event_id: str) -> str:
        return "/register/" + quote(event_id, safe="")

    def event_view(
        request: Request, identity: Identity | None, event_id: str, template: str
    ) -> HTMLResponse:
        try:
            event = reg().get(event_id)
        except AlertsError:
            raise HTTPException(404, f"no risk event {event_id}") from None
        now = store.clock()
        return page(
            request,
            template,
            identity,
            event=event,
            missing=reg().missing(event_id),
            history=reg().history(event_id),
            categories=_root_cause_categories(),
            action_statuses=ACTION_STATUSES,
            today=reg().today(now),
            now=now,
            owners=[u for u in users.list_users() if u.active],
        )

    @app.get("/register/export.csv", response_model=None)
    def register_csv(identity: User) -> Response:
        return PlainTextResponse(
            reg().export_csv(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="risk-events.csv"'},
        )

    @app.get("/register/{event_id}", response_class=HTMLResponse)
    def register_event(request: Request, event_id: str, identity: User) -> HTMLResponse:
        return event_view(request, identity, event_id, "event.html")

    @app.get("/register/{event_id}/print", response_class=HTMLResponse)
    def register_print(request: Request, event_id: str, identity: User) -> HTMLResponse:
        return event_view(request, identity, event_id, "event_print.html")

    @posting.post("/register/{event_id}/root-cause")
    def root_cause(
        request: Request,
        event_id: str,
        identity: Writer,
        category: Annotated[str, Form()],
        text: Annotated[str, Form(min_length=1, max_length=4000)],
    ) -> Response:
        return act(
            request,
            event_url(event_id),
            lambda: reg().set_root_cause(event_id, category, text, by=identity),
        )

    @posting.post("/register/{event_id}/people")
    def people(
        request: Request,
        event_id: str,
        identity: Writer,
        text: Annotated[str, Form(min_length=1, max_length=4000)],
    ) -> Response:
        return act(
            request,
            event_url(event_id),
            lambda: reg().set_people_dealt_with(event_id, text, by=identity),
        )

    @posting.post("/register/{event_id}/education")
    def education(
        request: Request,
        event_id: str,
        identity: Writer,
        text: Annotated[str, Form(min_length=1, max_length=4000)],
    ) -> Response:
        return act(
            request,
            event_url(event_id),
            lambda: reg().set_staff_education(event_id, text, by=identity),
        )

    @posting.post("/register/{event_id}/actions")
    def add_action(
        request: Request,
        event_id: str,
        identity: Writer,
        description: Annotated[str, Form(min_length=1, max_length=2000)],
        owner: Annotated[str, Form(min_length=1, max_length=128)],
        due: Annotated[date, Form()],
        proposal_id: Annotated[str, Form(max_length=128)] = "",
    ) -> Response:
        return act(
            request,
            event_url(event_id),
            lambda: reg().add_action(
                event_id,
                description=description,
                owner=owner,
                due=due,
                proposal_id=proposal_id or None,
                by=identity,
            ),
        )

    @posting.post("/register/{event_id}/actions/{action_id}")
    def action_status(
        request: Request,
        event_id: str,
        action_id: str,
        identity: Writer,
        status: Annotated[str, Form()],
    ) -> Response:
        chosen = _choice(status, ACTION_STATUSES)
        return act(
            request,
            event_url(event_id),
            lambda: reg().set_action_status(event_id, _int_or(action_id), chosen, by=identity),
        )

    @posting.post("/register/{event_id}/close")
    def close_event(
        request: Request, event_id: str, identity: Writer, comment: Annotated[str, Form()] = ""
    ) -> Response:
        return act(
            request,
            event_url(event_id),
            lambda: reg().close(event_id, by=identity, comment=comment[:2000]),
        )

    app.include_router(posting)
    return app


EVIDENCE_COLUMNS = (
    "event_id", "occurred_at", "kind", "txn_type", "account_id", "amount", "currency",
    "direction", "channel", "counterparty_account", "counterparty_country", "initiator_id",
    "operator_id", "role", "action", "target_txn_id", "target_account_id", "terminal_id",
    "outcome", "status", "branch_id",
)  # fmt: skip


def evidence_columns(events: list[dict[str, Any]]) -> list[str]:
    """The columns of an evidence table: the known event fields that any of ``events`` has."""
    present = {key for event in events for key in event}
    return [column for column in EVIDENCE_COLUMNS if column in present]


def _cell(event: dict[str, Any], column: str, zone: str, language: Language) -> str:
    value = event.get(column)
    if value is None:
        return ""
    if column == "occurred_at":
        try:
            return local_time(datetime.fromisoformat(str(value)), zone, language, seconds=True)
        except ValueError:
            return str(value)
    if language != "zh-CN" or not isinstance(value, str):
        return str(value)
    if column == "kind":
        return Texts(language).value("kind", value)
    if column == "role":
        return role_name(value, language)
    if column == "action":
        return action_name(value, language)
    return value_name(value, language)


def _explained(value: object, language: Language, zone: str) -> str:
    """An explanation value for people: no ``None``, lists joined, times in the bank's zone,
    enumerations localised."""
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(_explained(item, language, zone) for item in value)
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is not None:
                return local_time(moment, zone, language, seconds=True)
    if isinstance(value, str) and language == "zh-CN":
        return role_name(value_name(value, language), language)
    return str(value)


def _store_version(store: AlertStore) -> str:
    """Changes whenever an alert is stored or changed (every change appends to the history)."""
    with store.engine.connect() as connection:
        last = connection.execute(sa.select(sa.func.max(history.c.entry_id))).scalar_one()
    return str(last or 0)


def _safe_next(target: str) -> str:
    """Only same-site paths: never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


def _choice(value: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise HTTPException(422, f"choose one of {', '.join(choices)}")
    return value


def _int_or(value: str) -> Any:
    return int(value) if value.isdigit() else value


def _root_cause_categories() -> tuple[str, ...]:
    return ROOT_CAUSE_CATEGORIES
