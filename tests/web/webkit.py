"""Helpers for the web workspace tests: a store filled by a small simulated run, its users, a live
uvicorn server on a free port, and headless Debian chromium driven through /usr/bin/chromedriver.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import uvicorn

from alerts.store import AlertStore
from alerts.web import WorkspaceConfig, create_workspace

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "test-secret-" + "k" * 40
PASSWORDS = {
    "li.wei": ("officer", "Li Wei", "officer-pass-1"),
    "wang.fang": ("officer", "Wang Fang", "officer-pass-2"),
    "zhang.min": ("supervisor", "Zhang Min", "supervisor-pass-1"),
    "chen.jie": ("supervisor", "Chen Jie", "supervisor-pass-2"),
    "zhao.lei": ("auditor", "Zhao Lei", "auditor-pass-1"),
}
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def add_users(store: AlertStore) -> None:
    for name, (role, display, password) in PASSWORDS.items():
        store.users.add_user(name, role, password, display_name=display)  # type: ignore[arg-type]


def fill_from_simulation(
    store: AlertStore, workdir: Path, *, days: int = 2, branches: int = 5
) -> int:
    """Simulate a small bank, replay it through the shipped rules (as ``riskmon demo`` does) and
    store the alerts with their evidence events. Return how many alerts were stored."""
    from monitor.simulator import SimConfig, simulate
    from riskmon.cli import _replay
    from riskmon.rules_cli import load_or_exit
    from riskmon.serve_cli import evidence_events
    from riskmon.settings import Settings
    from streams.simfile import write_simulation

    config = SimConfig(
        seed=7, days=days, branches=branches, inject_rate=1.0, start=date(2026, 3, 2)
    )
    sim = simulate(config)
    events = workdir / "events.jsonl"
    write_simulation(sim, events, workdir / "labels.jsonl")
    settings = Settings(language="en")
    _, alerts = _replay([str(events)], load_or_exit(None, settings), settings, None, None)
    return store.upsert_many(alerts, events=evidence_events(alerts, events))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(store: AlertStore, *, poll_seconds: int = 1, language: str = "en") -> Iterator[str]:
    """Run the workspace over ``store`` in a uvicorn server on 127.0.0.1; yield its base URL."""
    config = WorkspaceConfig(
        secret_key=SECRET,
        timezone="Asia/Shanghai",
        language="zh-CN" if language == "zh-CN" else "en",
        poll_seconds=poll_seconds,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_workspace(store, config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, name="workspace-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the workspace server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when chromium and chromedriver are present)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        return f"{', '.join(missing)} missing: run `python3 tools/services.py install` as root"
    return None


class Browsers:
    """Start headless chromium sessions, each with a fresh profile; quit them all at close."""

    def __init__(self) -> None:
        self._drivers: list[object] = []
        self._dirs: list[str] = []

    def new(self) -> object:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        profile = tempfile.mkdtemp(prefix="riskmon-chromium-")
        self._dirs.append(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console errors, CSP
        # The driver is given explicitly, so Selenium Manager never tries to download one.
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        self._drivers.append(driver)
        return driver

    def close(self) -> None:
        for driver in self._drivers:
            with contextlib.suppress(Exception):  # a dead browser must not hide the test's result
                driver.quit()  # type: ignore[attr-defined]
        for profile in self._dirs:
            shutil.rmtree(profile, ignore_errors=True)
