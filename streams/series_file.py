"""Score a ``timestamp,value`` CSV file with :class:`monitor.models.series.SeriesDetector`.

The file is read and written one row at a time, so its size does not matter and each score is
exactly what the detector would give in a live stream. The output has the input's columns, in
order and as written, plus ``anomaly_score`` (replaced if the input already had one). Timestamps
may be ISO 8601 or NAB's ``YYYY-MM-DD HH:MM:SS``.

A row whose value is blank or not a finite number gets score 0 and is not learned; a row whose
timestamp cannot be read is scored without a timestamp. Either is reported to ``on_bad_row``
(by default a warning on this module's logger) and never stops the run.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.errors import MonitorError
from monitor.models.series import SeriesDetector

__all__ = [
    "SCORE_COLUMN",
    "BadRow",
    "SeriesFileHeaderError",
    "detect_csv",
    "format_score",
    "parse_timestamp",
    "parse_value",
]

logger = logging.getLogger(__name__)

SCORE_COLUMN = "anomaly_score"


class SeriesFileHeaderError(MonitorError, ValueError):
    """The input has no header, or its header lacks a ``timestamp`` or ``value`` column."""


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read in full: ``line`` is 1-based and counts the header."""

    line: int
    column: str
    text: str


def parse_value(text: str) -> float | None:
    """The value as a finite float, or None when it is blank or unreadable."""
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 (``T`` or space separated, optional offset or ``Z``), or None."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def format_score(score: float) -> str:
    """Shortest text that reads back as exactly ``score``."""
    return repr(score)


def _log_bad_row(bad: BadRow) -> None:
    logger.warning("line %d: unreadable %s %r", bad.line, bad.column, bad.text)


def detect_csv(
    input_path: str | Path,
    output_path: str | Path,
    *,
    detector: SeriesDetector | None = None,
    on_bad_row: Callable[[BadRow], None] | None = None,
) -> int:
    """Score every row of ``input_path`` into ``output_path``; returns the rows written.

    Parameters
    ----------
    input_path, output_path
        CSV files; the output is overwritten.
    detector
        The detector to use, e.g. one restored with ``SeriesDetector.from_state``; a fresh
        ``SeriesDetector()`` by default. It is updated in place.
    on_bad_row
        Called once per unreadable value or timestamp.
    """
    det = detector if detector is not None else SeriesDetector()
    report = on_bad_row if on_bad_row is not None else _log_bad_row
    rows = 0
    with (
        open(input_path, newline="", encoding="utf-8") as src,
        open(output_path, "w", newline="", encoding="utf-8") as dst,
    ):
        reader = csv.reader(src)
        writer = csv.writer(dst, lineterminator="\n")
        header = next(reader, None)
        if header is None:
            raise SeriesFileHeaderError(f"{input_path}: empty file, expected a header")
        names = [h.strip() for h in header]
        if names and names[0].startswith("\ufeff"):
            names[0] = names[0][1:]
        for required in ("timestamp", "value"):
            if required not in names:
                raise SeriesFileHeaderError(f"{input_path}: no {required!r} column in {header}")
        t_col, v_col = names.index("timestamp"), names.index("value")
        s_col = names.index(SCORE_COLUMN) if SCORE_COLUMN in names else None
        writer.writerow(header if s_col is not None else [*header, SCORE_COLUMN])
        width = len(header)
        for row in reader:
            line = reader.line_num
            if not row:
                continue  # a blank line is not a row
            cells = row + [""] * (width - len(row))
            value = parse_value(cells[v_col])
            if value is None:
                report(BadRow(line, "value", cells[v_col]))
            stamp = parse_timestamp(cells[t_col])
            if stamp is None:
                report(BadRow(line, "timestamp", cells[t_col]))
            score = det.update(value, stamp) if value is not None else 0.0
            if s_col is None:
                cells.append(format_score(score))
            else:
                cells[s_col] = format_score(score)
            writer.writerow(cells)
            rows += 1
    return rows
