"""Keeping credentials out of logs: URLs with a password are shown as ``user:***@host``.

httpx logs every request at INFO with its full URL, so an Alertmanager URL with basic-auth
credentials (``http://riskmon:pw@am:9093``) would write the password into every log line.
:func:`redact_http_logs` installs a filter on httpx's logger that redacts them; the dispatch
pipeline calls it when it opens its HTTP client.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["RedactCredentials", "redact_http_logs", "redact_text", "redact_url"]

_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]*@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``.

    >>> redact_url("postgresql://riskmon:s3cret@db:5432/riskmon")
    'postgresql://riskmon:***@db:5432/riskmon'
    >>> redact_url("sqlite:///riskmon-alerts.db")
    'sqlite:///riskmon-alerts.db'
    """
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
    except ValueError:
        return "<unparseable URL>"


def redact_text(text: str) -> str:
    """Every ``scheme://user:password@`` in ``text`` with the password replaced.

    >>> redact_text('POST http://am:pw@127.0.0.1:9093/api/v2/alerts "HTTP/1.1 200 OK"')
    'POST http://am:***@127.0.0.1:9093/api/v2/alerts "HTTP/1.1 200 OK"'
    """
    return _USERINFO.sub(r"\1***@", text)


class RedactCredentials(logging.Filter):
    """Rewrites a record's message when it carries a URL with a password."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "@" in message:
            cleaned = redact_text(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return True


def redact_http_logs() -> None:
    """Install :class:`RedactCredentials` on the HTTP client loggers (idempotent)."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
