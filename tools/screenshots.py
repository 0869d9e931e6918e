"""Take the README's screenshots of the web workspace, in English and Chinese.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots]

It simulates a small bank (2 days, 5 branches), stores the alerts with their evidence in a
temporary SQLite store, works a few of them (acknowledged, assigned, confirmed, a false-positive
close waiting for approval, a risk event with its follow-ups), serves the workspace on a free
port of 127.0.0.1 and photographs the inbox, one alert and a risk event with Debian's headless
chromium (`tools/services.py install` installs it). Chinese pages need a CJK font
(`apt-get install fonts-wqy-microhei`); the script warns without one.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
USERS = {
    "li.wei": ("officer", "Li Wei"),
    "wang.fang": ("officer", "Wang Fang"),
    "zhang.min": ("supervisor", "Zhang Min"),
}


def _fill(store: Any, workdir: Path) -> dict[str, str]:
    """A simulated run, stored with evidence and partly worked; return the ids to photograph."""
    from alerts.register import RiskRegister
    from monitor.simulator import SimConfig, simulate
    from riskmon.cli import _replay
    from riskmon.rules_cli import load_or_exit
    from riskmon.serve_cli import evidence_events
    from riskmon.settings import Settings
    from streams.simfile import write_simulation

    sim = simulate(SimConfig(seed=7, days=2, branches=5, inject_rate=1.0, start=date(2026, 3, 2)))
    events = workdir / "events.jsonl"
    write_simulation(sim, events, workdir / "labels.jsonl")
    settings = Settings(language="en")
    _, alerts = _replay([str(events)], load_or_exit(None, settings), settings, None, None)
    store.upsert_many(alerts, events=evidence_events(alerts, events))

    officer = store.users.identity("li.wei")
    other = store.users.identity("wang.fang")
    listed = store.list_alerts(limit=100)
    high = [s.alert.alert_id for s in listed if s.alert.severity == "high"]
    rest = [s.alert.alert_id for s in listed if s.alert.severity != "high"]
    confirmed = rest[0]
    store.acknowledge(confirmed, by=officer)
    store.assign(confirmed, "li.wei", by=officer)
    store.comment(confirmed, "Called the branch: the customer confirms the transfer.", by=officer)
    store.resolve(confirmed, "confirmed", by=officer, comment="Reported to compliance.")
    store.acknowledge(high[0], by=other)
    store.assign(high[0], "wang.fang", by=other)
    store.resolve(high[0], "false_positive", by=other, comment="Test transfer, own accounts.")
    store.acknowledge(high[1], by=officer)
    store.assign(high[1], "li.wei", by=officer)

    register = RiskRegister(store)
    event = register.open_event(
        [confirmed], owner="li.wei", title="Large transfer without a second review", by=officer
    )
    register.set_root_cause(
        event.event_id, "control_failure", "The counter limit was not enforced.", by=officer
    )
    register.set_people_dealt_with(
        event.event_id, "The teller was warned; the branch manager briefed.", by=officer
    )
    today = register.today(store.clock())
    register.add_action(
        event.event_id,
        description="Enforce the counter limit in the core system",
        owner="wang.fang",
        due=today + timedelta(days=14),
        proposal_id="RCP-2026-007",
        by=officer,
    )
    register.add_action(
        event.event_id,
        description="Review every large transfer of the last quarter",
        owner="li.wei",
        due=today - timedelta(days=3),
        by=officer,
    )
    return {"alert": high[1], "event": event.event_id}


def _serve(store: Any) -> tuple[str, Any, threading.Thread]:
    import socket

    import uvicorn

    from alerts.web import WorkspaceConfig, create_workspace

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_workspace(store, WorkspaceConfig(secret_key=secrets.token_urlsafe(48)))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit("error: the workspace did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def _shoot(driver: Any, url: str, path: Path) -> None:
    driver.get(url)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 700), 1800))
    time.sleep(0.3)
    driver.save_screenshot(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            print(f"error: {binary} missing; run `python3 tools/services.py install` as root")
            return 1
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    if not fonts.stdout.strip():
        print("warning: no CJK font; Chinese shows as boxes (apt-get install fonts-wqy-microhei)")

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from alerts.store import AlertStore

    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="riskmon-screens-"))
    passwords = {name: secrets.token_urlsafe(12) for name in USERS}
    try:
        with AlertStore.open(f"sqlite:///{workdir / 'alerts.db'}") as store:
            for name, (role, display) in USERS.items():
                store.users.add_user(name, role, passwords[name], display_name=display)  # type: ignore[arg-type]
            ids = _fill(store, workdir)
            base, server, thread = _serve(store)
            for language in ("en", "zh-CN"):
                options = webdriver.ChromeOptions()
                options.binary_location = CHROMIUM
                profile = workdir / f"profile-{language}"
                for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1400,900"):
                    options.add_argument(flag)
                driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
                try:
                    driver.get(base + "/login")
                    if language == "zh-CN":
                        driver.find_element(By.ID, "switch-language").click()
                    driver.find_element(By.ID, "username").send_keys("li.wei")
                    driver.find_element(By.ID, "password").send_keys(passwords["li.wei"])
                    driver.find_element(By.ID, "login").click()
                    time.sleep(0.5)
                    _shoot(driver, base + "/inbox", args.out / f"inbox-{language}.png")
                    _shoot(
                        driver, f"{base}/alerts/{ids['alert']}", args.out / f"alert-{language}.png"
                    )
                    _shoot(
                        driver,
                        f"{base}/register/{ids['event']}",
                        args.out / f"register-{language}.png",
                    )
                finally:
                    driver.quit()
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
