"""Writing a simulation to files: ``events.jsonl`` for replay and ``labels.jsonl`` for scoring.

Events are one :func:`~monitor.events.encode_event` line each, in stream order; labels are one
:class:`~monitor.simulator.labels.Label` JSON object per line. Files are UTF-8 with ``\\n`` line
ends, so the same simulation always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from monitor.events import encode_event
from monitor.simulator import Simulation

__all__ = ["write_simulation"]


def write_simulation(sim: Simulation, events_path: Path | str, labels_path: Path | str) -> None:
    """Write ``sim.events`` to ``events_path`` and ``sim.labels`` to ``labels_path`` (JSONL)."""
    _write_lines(events_path, (encode_event(event) for event in sim.events))
    _write_lines(labels_path, (label.to_json() for label in sim.labels))


def _write_lines(path: Path | str, lines: Iterable[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for line in lines:
            handle.write(line)
            handle.write("\n")
