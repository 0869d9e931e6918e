"""Fixtures of the web workspace tests (see webkit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerts.store import AlertStore
from tests.web.webkit import Browsers, add_users, browser_missing, fill_from_simulation, serving


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertStore]:
    """A SQLite store filled by a small simulated run, with officers, supervisors and an auditor."""
    workdir = tmp_path_factory.mktemp("web-store")
    with AlertStore.open(f"sqlite:///{workdir / 'alerts.db'}") as store:
        add_users(store)
        assert fill_from_simulation(store, workdir) > 5
        yield store


@pytest.fixture(scope="module")
def live_url(sim_store: AlertStore) -> Iterator[str]:
    """The workspace over ``sim_store``, served by uvicorn on a free port of 127.0.0.1."""
    with serving(sim_store, poll_seconds=1) as url:
        yield url


@pytest.fixture(scope="module")
def browsers() -> Iterator[Browsers]:
    """Headless Debian chromium sessions. A missing browser fails the tests, never skips them."""
    if why := browser_missing():
        pytest.fail(f"the browser tests need Debian's chromium: {why}", pytrace=False)
    started = Browsers()
    yield started
    started.close()
