"""``riskmon replay --follow``: tail a growing JSONL file like ``tail -f``, with safe hot reload.

Lines are processed as they are appended. A line still being written (no newline yet) waits for
its end; a file truncated or replaced (log rotation) is read again from its start. The loop ends
when ``stop`` is set (Ctrl-C or SIGTERM in the CLI); the caller then flushes and prints its
summary.

With a rule folder, the folder is watched by :class:`streams.reload.RuleReloader`: a changed pack
must load, pass its examples and tests, be approved when approval is on, and fit the running
stages. An accepted pack is swapped into the engine *between two lines* (:func:`swap_rules`), so
each line runs on exactly one pack and later alerts carry the new pack version and hash. A refused
pack changes nothing: the old pack keeps alerting, the refusal is logged and counted in
``riskmon_rule_reloads_total{outcome="refused"}``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from monitor.engine import Engine
from monitor.render import AlertRenderer
from streams.reload import LiveRules, restage
from streams.replay import SourceLine

__all__ = ["follow_lines", "swap_rules", "with_swaps"]


def follow_lines(
    path: Path, stop: threading.Event, *, poll_seconds: float = 0.2
) -> Iterator[SourceLine]:
    """Every complete, non-blank line of ``path``: those there now, then those appended, until
    ``stop`` is set. Yields nothing for a while when idle (the caller's swaps still happen)."""
    number = 0
    pending = b""
    handle = None
    inode: int | None = None
    try:
        while not stop.is_set():
            if handle is None:
                try:
                    handle = path.open("rb")
                except FileNotFoundError:
                    stop.wait(poll_seconds)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                number, pending = 0, b""
            chunk = handle.readline()
            if chunk.endswith(b"\n"):
                number += 1
                text = (pending + chunk).decode("utf-8", errors="surrogateescape")
                pending = b""
                stripped = text.rstrip("\r\n")
                if stripped.strip():
                    yield SourceLine(str(path), number, stripped)
                continue
            pending += chunk  # a partial line: wait for the rest
            try:
                current = path.stat()
            except FileNotFoundError:
                current = None
            position = handle.tell()
            if current is not None and (current.st_ino != inode or current.st_size < position):
                handle.close()  # rotated or truncated: start again at the top
                handle = None
                continue
            stop.wait(poll_seconds)
    finally:
        if handle is not None:
            handle.close()


def swap_rules(engine: Engine, live: LiveRules, generation: int) -> int:
    """Give ``engine`` the newest rule set of ``live`` if it changed since ``generation``: the
    same stages (and their state) with the new rules, and a renderer stamping the new pack hash.
    Returns the generation the engine now runs."""
    newest, ruleset = live.current
    if newest == generation:
        return generation
    old = engine.renderer
    engine.replace_stages(
        [restage(stage, ruleset) for stage in engine.stages],
        ruleset,
        AlertRenderer(ruleset.pack_hash, old.language, old.mask, old.timezone),
    )
    return newest


def with_swaps(
    lines: Iterator[SourceLine], engine: Engine, live: LiveRules
) -> Iterator[SourceLine]:
    """``lines``, taking the newest accepted rule pack before each one (the swap point)."""
    generation = live.current[0]
    for line in lines:
        generation = swap_rules(engine, live, generation)
        yield line
