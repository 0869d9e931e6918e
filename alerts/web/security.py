"""Secure headers, CSRF tokens and the session's signed-in identity for the web workspace.

- Sessions live in a signed cookie (Starlette's ``SessionMiddleware``, itsdangerous): the cookie
  holds the canonical user id, the CSRF token and the chosen language, nothing secret.
- Every state-changing request (any method but GET/HEAD/OPTIONS) must carry the session's CSRF
  token, as the form field ``csrf_token`` or the header ``X-CSRF-Token``; otherwise 403.
- Every response gets a strict Content-Security-Policy (scripts and styles only from ``/static``,
  no inline script, no framing), ``X-Frame-Options: DENY``, ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: same-origin``; pages are ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SECURE_HEADERS",
    "SecureHeadersMiddleware",
    "check_csrf",
    "csrf_token",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)
SECURE_HEADERS: dict[str, str] = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecureHeadersMiddleware:
    """Add :data:`SECURE_HEADERS` to every HTTP response (pure ASGI, streams untouched)."""

    def __init__(self, app: ASGIApp, *, no_store_prefixes: tuple[str, ...] = ("/",)) -> None:
        self.app = app
        self.no_store_prefixes = no_store_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode("latin-1").lower() not in SECURE_HEADERS
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURE_HEADERS.items()]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    session: dict[str, Any] = request.session
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> None:
    """403 unless a state-changing request carries the session's CSRF token (constant time)."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    if (
        not isinstance(expected, str)
        or not given
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")
