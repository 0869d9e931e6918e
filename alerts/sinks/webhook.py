"""A webhook sink: one JSON POST per notification, optionally signed with HMAC-SHA256.

The signature header is ``X-Riskmon-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body
bytes under the shared secret; receivers compare it with :func:`hmac.compare_digest`.
Transport errors, 408, 429 and 5xx are retried; other 4xx answers are not (the request itself is
wrong) and go straight to the dead-letter file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from alerts.metrics import SinkMetrics
from alerts.notification import Notification
from alerts.sinks.base import BufferedSink, DeliveryAttemptError, RetryPolicy

__all__ = ["SIGNATURE_HEADER", "WebhookSink", "sign"]

SIGNATURE_HEADER = "X-Riskmon-Signature"
RETRYABLE_STATUS = frozenset({408, 429})


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value for ``body``.

    >>> sign(b"k", b"{}")[:7]
    'sha256='
    """
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def is_retryable(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


class WebhookSink(BufferedSink):
    """POSTs ``Notification.to_dict()`` as JSON to ``url`` with the caller's ``httpx.Client``."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.Client,
        metrics: SinkMetrics,
        name: str = "webhook",
        secret: bytes | None = None,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        dead_letter: Path | None = None,
    ) -> None:
        super().__init__(name, metrics=metrics, retry=retry, sleep=sleep, dead_letter=dead_letter)
        self.url = url
        self.client = client
        self.secret = secret
        self.timeout = timeout

    def body(self, notification: Notification) -> bytes:
        """The exact bytes POSTed (and signed)."""
        payload = notification.to_dict()
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    def deliver(self, notification: Notification) -> None:
        body = self.body(notification)
        headers = {"Content-Type": "application/json"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        try:
            response = self.client.post(
                self.url, content=body, headers=headers, timeout=self.timeout
            )
        except httpx.TransportError as exc:
            raise DeliveryAttemptError(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise DeliveryAttemptError(
                f"{self.url}: HTTP {response.status_code}",
                retryable=is_retryable(response.status_code),
            )
