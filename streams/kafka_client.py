"""How every riskmon Kafka client connects: plaintext, TLS, SASL (PLAIN, SCRAM) or both.

One :class:`KafkaClientConfig` is built at the entry point from settings and turned into the
keyword arguments of each client library: :meth:`~KafkaClientConfig.kafka_python` for
kafka-python (``riskmon produce``, ``riskmon dispatch``, the admin client), and
:meth:`~KafkaClientConfig.faust_credentials` for the faust worker (aiokafka). The password is
never part of a ``repr``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaClientConfigError(ValueError):
    """The TLS or SASL settings do not fit together (e.g. SASL without a user name)."""


@dataclass(frozen=True)
class KafkaClientConfig:
    """Security settings shared by every Kafka client riskmon builds."""

    security_protocol: Protocol = "PLAINTEXT"
    ssl_cafile: Path | None = None
    """CA bundle that signed the brokers' certificates (default: the system's)."""
    ssl_certfile: Path | None = None
    """Client certificate (PEM), for brokers that require TLS client authentication."""
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True
    sasl_mechanism: Mechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def validate(self) -> KafkaClientConfig:
        """Check that the settings fit together; returns ``self``."""
        if self.uses_sasl:
            if self.sasl_mechanism is None:
                raise KafkaClientConfigError(f"{self.security_protocol} needs a SASL mechanism")
            if not self.sasl_username or self.sasl_password is None:
                raise KafkaClientConfigError(
                    f"{self.security_protocol} needs a SASL user name and password"
                )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise KafkaClientConfigError("a TLS client certificate needs its key, and vice versa")
        if not self.uses_tls and (self.ssl_cafile or self.ssl_certfile):
            raise KafkaClientConfigError(
                f"TLS files are set but the security protocol is {self.security_protocol}"
            )
        for path in (self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile):
            if path is not None and not path.is_file():
                raise KafkaClientConfigError(f"TLS file {path} does not exist")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context (CA, client certificate), or ``None`` without TLS."""
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            context.check_hostname = self.ssl_check_hostname
            if self.ssl_certfile is not None:
                keyfile = str(self.ssl_keyfile) if self.ssl_keyfile else None
                context.load_cert_chain(str(self.ssl_certfile), keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaClientConfigError(f"cannot load the TLS files: {exc}") from exc
        return context

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's ``KafkaProducer``/``KafkaConsumer``/admin."""
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients."""
        kwargs = self.kafka_python()
        kwargs.pop("ssl_check_hostname", None)  # part of the context there
        return kwargs

    def faust_credentials(self) -> Any:
        """``broker_credentials`` for ``faust.App`` (``None``: plaintext)."""
        import faust

        context = self.ssl_context()
        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                ssl_context=context,
                mechanism=self.sasl_mechanism,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None


class KafkaConnectError(RuntimeError):
    """No connection to the brokers; the message names the cause (e.g. authentication)."""


class _Causes(logging.Handler):
    """Collects what kafka-python logs about failed connections while it retries them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def cause(self) -> str | None:
        for message in reversed(self.messages):
            if "uthentication" in message or "uthorization" in message:
                return f"authentication failed ({message.splitlines()[0][:300]})"
        return self.messages[-1].splitlines()[0][:300] if self.messages else None


def preflight(bootstrap: str, client: KafkaClientConfig, timeout: float = 10.0) -> None:
    """Connect once, so a wrong address, certificate or password fails fast, in one line.

    kafka-python retries a failed login until its bootstrap timeout and then reports only
    ``Unable to bootstrap``; aiokafka gives up at once and logs why. So this connects with
    aiokafka: a refused login ends it at once, other failures are retried for ``timeout`` s.
    Raises `KafkaConnectError`.
    """
    causes = _Causes()
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.addHandler(causes)
    logger.setLevel(logging.WARNING)  # faust's setup may have raised it
    logger.propagate, propagate = False, logger.propagate  # the cause is reported once, below
    try:
        asyncio.run(_connect(bootstrap, client, timeout, causes))
    finally:
        logger.removeHandler(causes)
        logger.setLevel(level)
        logger.propagate = propagate


async def _connect(
    bootstrap: str, client: KafkaClientConfig, timeout: float, causes: _Causes
) -> None:
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    while True:
        connection = AIOKafkaClient(bootstrap_servers=bootstrap, **client.aiokafka())
        try:
            await connection.bootstrap()
            return
        except KafkaError as exc:
            cause = causes.cause()
            if (cause and cause.startswith("authentication")) or time.monotonic() > deadline:
                raise KafkaConnectError(f"cannot connect to {bootstrap}: {cause or exc}") from None
        finally:
            await connection.close()
        await asyncio.sleep(0.5)
