"""Fixtures for the real Prometheus, Alertmanager and PostgreSQL servers of tools/services.py.

Each fixture installs what is missing (apt-get, as root) and starts the server on 127.0.0.1. A
server that cannot be installed or started fails the test with the reason: it never skips, as CI
treats a missing service as a failure. Servers live for the session and are stopped at its end.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn, Protocol

import pytest

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # tools/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from tools import services  # noqa: E402  (needs the sys.path entry above)

ServerHandle = services.ServerHandle


class PrometheusFactory(Protocol):
    """Start a Prometheus scraping `targets` (``host:port``) every `scrape_interval`."""

    def __call__(
        self,
        targets: Sequence[str],
        rule_files: Sequence[str | os.PathLike[str]] = (),
        *,
        alertmanager: str | None = None,
        scrape_interval: str = "1s",
    ) -> ServerHandle: ...


def _ensure_installed(service: str) -> None:
    try:
        services.install([service])
    except services.ServiceError as exc:
        _fail(service, exc)


def _fail(service: str, exc: services.ServiceError) -> NoReturn:
    # `from None`: the message already holds the server's log; its traceback adds nothing.
    raise pytest.fail.Exception(
        f"{service} could not be installed or started: {exc}", pytrace=False
    ) from None


@pytest.fixture(scope="session")
def prometheus_factory() -> Iterator[PrometheusFactory]:
    """Start Prometheus servers on demand; all of them stop at the end of the session."""
    handles: list[ServerHandle] = []

    def start(
        targets: Sequence[str],
        rule_files: Sequence[str | os.PathLike[str]] = (),
        *,
        alertmanager: str | None = None,
        scrape_interval: str = "1s",
    ) -> ServerHandle:
        _ensure_installed("prometheus")
        try:
            handle = services.start_prometheus(
                targets, rule_files, alertmanager=alertmanager, scrape_interval=scrape_interval
            )
        except services.ServiceError as exc:
            _fail("prometheus", exc)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture(scope="session")
def alertmanager() -> Iterator[ServerHandle]:
    """A running Alertmanager: route grouped by alertname and category, one silent receiver."""
    _ensure_installed("alertmanager")
    try:
        handle = services.start_alertmanager()
    except services.ServiceError as exc:
        _fail("alertmanager", exc)
    with handle:
        yield handle


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database: ``postgresql://riskmon@127.0.0.1:PORT/riskmon_test``."""
    _ensure_installed("postgres")
    try:
        handle = services.start_postgres()
    except services.ServiceError as exc:
        _fail("postgres", exc)
    with handle:
        yield handle.url


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of the `promtool` binary (check rules, test rules, check metrics)."""
    _ensure_installed("prometheus")
    try:
        return services.promtool_path()
    except services.ServiceError as exc:
        _fail("promtool", exc)
