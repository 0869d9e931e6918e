"""A real HTTP webhook receiver on 127.0.0.1, in a thread of the test process.

It checks the ``X-Riskmon-Signature`` HMAC of every request, answers 503 to the first
``fail_first`` requests, and records the bodies it accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    """State shared with the request handler."""

    def __init__(self, secret: bytes | None, fail_first: int) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.requests = 0
        self.bad_signatures = 0
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.url = ""

    def handle(self, body: bytes, signature: str | None) -> int:
        with self.lock:
            self.requests += 1
            if self.secret is not None:
                expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
                if signature is None or not hmac.compare_digest(signature, expected):
                    self.bad_signatures += 1
                    return 401
            if self.requests <= self.fail_first:
                return 503
            self.accepted.append(json.loads(body))
            return 200

    def accepted_alert_ids(self) -> list[str]:
        with self.lock:
            return [a["alert_id"] for body in self.accepted for a in body["alerts"]]


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver.handle(body, self.headers.get("X-Riskmon-Signature"))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def webhook_receiver(
    secret: bytes | None = None, fail_first: int = 0, port: int = 0
) -> Iterator[WebhookReceiver]:
    """Serve a :class:`WebhookReceiver` on 127.0.0.1 until the block ends."""
    receiver = WebhookReceiver(secret, fail_first)
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A port nothing listens on (bound and released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
