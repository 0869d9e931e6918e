"""``riskmon replay --follow FILE``: tail one growing JSONL file, hot-reloading the rule folder.

Ends cleanly on Ctrl-C or SIGTERM: the engine is flushed, the alerts written, and the summary
printed like a plain replay. See :mod:`streams.follow` for the tail and the swap point.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType

from alerts.store import AlertStore
from monitor.alerts import Alert, Language
from monitor.engine import Engine
from monitor.metrics import RiskmonMetrics
from monitor.rules.ruleset import RuleSet
from riskmon.rules_cli import check_approved, err, open_approval_store, plain
from riskmon.settings import Settings
from streams.follow import follow_lines, with_swaps
from streams.reload import LiveRules, RuleReloader
from streams.replay import DeadLetter, ReplayStats, load_state, replay, save_state

__all__ = ["follow_replay", "stop_on_signals"]


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT and SIGTERM while the block runs (then restore the handlers)."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def follow_replay(
    path: Path,
    rules: list[Path] | None,
    ruleset: RuleSet,
    settings: Settings,
    *,
    alerts_out: Path | None,
    dead_letter: Path | None,
    state_file: Path | None,
    language: Language | None,
    metrics: RiskmonMetrics | None,
    stop: threading.Event | None = None,
) -> tuple[ReplayStats, list[Alert]]:
    """Process ``path`` as it grows until ``stop`` (or a signal); alerts are written (and
    flushed) as they come, so a reader of ``alerts_out`` sees them at once."""
    store = open_approval_store(settings) if settings.require_pack_approval else None
    try:
        return _follow(
            path,
            rules,
            ruleset,
            settings,
            store,
            alerts_out=alerts_out,
            dead_letter=dead_letter,
            state_file=state_file,
            language=language,
            metrics=metrics,
            stop=stop,
        )
    finally:
        if store is not None:
            store.close()


def _follow(
    path: Path,
    rules: list[Path] | None,
    ruleset: RuleSet,
    settings: Settings,
    store: AlertStore | None,
    *,
    alerts_out: Path | None,
    dead_letter: Path | None,
    state_file: Path | None,
    language: Language | None,
    metrics: RiskmonMetrics | None,
    stop: threading.Event | None,
) -> tuple[ReplayStats, list[Alert]]:
    history = store.pack_history if store is not None else None
    if history is not None:
        check_approved(ruleset, history)
    state = load_state(state_file) if state_file else None
    engine = Engine(
        ruleset,
        state,
        lateness=timedelta(seconds=settings.lateness_seconds),
        language=language or settings.language,
        mask=settings.mask_accounts,
    )
    live = LiveRules(ruleset)
    folders = list(rules or ([] if settings.rules_dir is None else [settings.rules_dir]))
    reloader = None
    if folders:
        reloader = RuleReloader(folders, live, catalogue=metrics, history=history)
        reloader.start()
    stop = stop or threading.Event()
    alerts: list[Alert] = []
    alert_handle = alerts_out.open("a", encoding="utf-8") if alerts_out else None
    dead_handle = dead_letter.open("a", encoding="utf-8") if dead_letter else None

    def on_alert(alert: Alert) -> None:
        alerts.append(alert)
        if alert_handle:
            alert_handle.write(alert.to_json() + "\n")
            alert_handle.flush()
            if metrics is not None:
                metrics.sink_sent.labels("jsonl").inc()

    def on_dead(letter: DeadLetter) -> None:
        if dead_handle:
            dead_handle.write(letter.to_json() + "\n")
            dead_handle.flush()
        else:
            plain(err, f"dead letter {letter.source}:{letter.line}: {letter.reason}")

    plain(err, f"following {path} (Ctrl-C or SIGTERM ends it with a summary)")
    try:
        with stop_on_signals(stop):
            lines = with_swaps(follow_lines(path, stop), engine, live)
            stats = replay(lines, engine, on_alert, on_dead, metrics=metrics)
    finally:
        if reloader is not None:
            reloader.stop()
        for handle in (alert_handle, dead_handle):
            if handle:
                handle.close()
    if state_file:
        save_state(state_file, engine.state)
    return stats, alerts
