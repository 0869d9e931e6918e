"""Judge the series detector the way the Numenta Anomaly Benchmark (NAB) does, on NAB's own data.

Run from the repository root, with a copy of the NAB repository's ``data/`` and ``labels/``
folders fetched by you (they are never vendored into this repository)::

    .venv/bin/python -m bench.nab --data /path/to/NAB [--only realTraffic] [--out results.md]

Every detector sees each file's rows one at a time, strictly online, and gives each row a score.
The scoring is our own implementation of NAB's (standard profile):

- *windows*: ``labels/combined_windows.json`` gives, per file, the anomaly windows (first and
  last timestamp, inclusive);
- *probation*: the first ``min(floor(0.15 * rows), 750)`` rows of a file are not scored;
- *scaled sigmoid*: a row at relative position ``y`` is worth ``2 / (1 + exp(5 y)) - 1``. Inside a
  window ``y = -(right - i + 1) / width`` (the first row of a window is worth exactly 1 after
  NAB's rescaling by the window's maximum, its last row about 0.1). A flagged row outside every
  window costs ``fp_weight * sigmoid(y)``, with ``y`` its distance past the previous window's
  right edge in units of that window's width less one (``y >= 3``, or no previous window, is -1):
  flags just after a window cost little, flags far from any window cost the full 0.11;
- *one detection per window*: only the best (earliest) flagged row of a window counts, a window
  with no flagged row costs ``fn_weight``;
- *threshold*: one threshold for the whole corpus, chosen, as NAB's optimiser does, to maximise
  the total raw score (every distinct score value is tried: rows with ``score >= threshold`` are
  flagged);
- *normalisation*: ``100 * (raw - null) / (perfect - null)`` where ``null`` is a detector that
  never flags (every window missed) and ``perfect`` one that flags each window's first row only.
  The total is normalised on corpus sums, as NAB reports it; each file is also shown normalised on
  its own.

Detectors, compared in the same run: ``SeriesDetector`` (its raw score, exactly what ``riskmon
detect-series`` writes), ``SeriesDetector`` through its incident layer (the score at an
incident's onset, else 0), NAB's windowed Gaussian, and an EWMA z-score with one hour of alarm
suppression (its ``k`` chosen on the corpus like the thresholds).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from bench.series_bench import Detector, EwmaZ, WindowedGaussian
from monitor.models.series import SeriesDetector
from monitor.models.series.incidents import IncidentTracker

__all__ = [
    "STANDARD",
    "NabFile",
    "Profile",
    "Scored",
    "corpus_score",
    "load_corpus",
    "optimise_threshold",
    "probation_length",
    "row_weights",
    "scaled_sigmoid",
    "score_at",
]


@dataclass(frozen=True)
class Profile:
    """NAB cost matrix: reward of a detected window, cost of a flagged row outside, of a miss."""

    tp_weight: float = 1.0
    fp_weight: float = 0.11
    fn_weight: float = 1.0


STANDARD = Profile()
PROBATION_PERCENT = 0.15


def scaled_sigmoid(position: float) -> float:
    """NAB's row worth at relative position ``position`` (-1 at a window's start, 0 at its end)."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(rows: int) -> int:
    """Rows at the start of a file that are not scored."""
    return int(min(math.floor(PROBATION_PERCENT * rows), PROBATION_PERCENT * 5000))


@dataclass
class NabFile:
    """One NAB data file: its name (``category/file.csv``), rows and labelled windows."""

    name: str
    timestamps: list[datetime]
    values: list[float | None]
    windows: list[tuple[datetime, datetime]]


@dataclass
class Scored:
    """A file's per-row weights (what flagging each row would be worth) and a detector's scores.

    ``window`` holds the window index of each row (-1 outside every window); probationary rows are
    dropped, so windows that lie wholly in probation do not count.
    """

    name: str
    weight: np.ndarray
    window: np.ndarray
    scores: np.ndarray
    windows: int = field(init=False)

    def __post_init__(self) -> None:
        self.windows = len(set(self.window[self.window >= 0].tolist()))


def row_weights(
    timestamps: Sequence[datetime],
    windows: Sequence[tuple[datetime, datetime]],
    profile: Profile = STANDARD,
) -> tuple[np.ndarray, np.ndarray]:
    """``(weight, window index)`` of every row, probation included (window -2 there)."""
    n = len(timestamps)
    inside = np.full(n, -1, dtype=np.int64)
    spans: list[tuple[int, int]] = []
    for k, (start, end) in enumerate(sorted(windows)):
        left = bisect.bisect_left(timestamps, start)
        right = bisect.bisect_right(timestamps, end) - 1
        if left > right:
            continue
        inside[left : right + 1] = k
        spans.append((left, right))
    max_tp = scaled_sigmoid(-1.0)
    weight = np.zeros(n)
    prev: tuple[int, int] | None = None
    for i in range(n):
        k = int(inside[i])
        if k >= 0:
            left, right = next(s for s in spans if s[0] <= i <= s[1])
            width = right - left + 1
            weight[i] = scaled_sigmoid(-(right - i + 1) / width) * profile.tp_weight / max_tp
            if i == right:
                prev = (left, right)
        else:
            if prev is None:
                position = 3.0
            else:
                prev_width = prev[1] - prev[0] + 1
                position = abs(prev[1] - i) / max(prev_width - 1, 1)
            weight[i] = scaled_sigmoid(position) * profile.fp_weight
    inside[: probation_length(n)] = -2
    return weight, inside


def scored(file: NabFile, scores: Sequence[float], profile: Profile = STANDARD) -> Scored:
    """Keep the scorable rows of ``file`` with the detector's ``scores``."""
    weight, window = row_weights(file.timestamps, file.windows, profile)
    keep = window != -2
    return Scored(file.name, weight[keep], window[keep], np.asarray(scores, dtype=float)[keep])


def score_at(s: Scored, threshold: float, profile: Profile = STANDARD) -> float:
    """Raw NAB score of one file when rows with ``score >= threshold`` are flagged."""
    flagged = s.scores >= threshold
    total = float(s.weight[flagged & (s.window < 0)].sum())
    for k in set(s.window[s.window >= 0].tolist()):
        hits = flagged & (s.window == k)
        total += float(s.weight[hits].max()) if hits.any() else -profile.fn_weight
    return total


def optimise_threshold(files: Sequence[Scored], profile: Profile = STANDARD) -> tuple[float, float]:
    """``(threshold, total raw score)`` maximising the corpus total, as NAB's sweeper does.

    Rows are taken from the highest score down; after each distinct score value the total is what
    flagging every row at or above it would earn.
    """
    scores = np.concatenate([f.scores for f in files]) if files else np.zeros(0)
    weights = np.concatenate([f.weight for f in files]) if files else np.zeros(0)
    keys: list[int] = []
    offset = 0
    for f in files:
        # A corpus-wide window id per row (-1 outside).
        keys.extend(np.where(f.window >= 0, f.window + offset, -1).tolist())
        offset += int(f.window.max()) + 1 if f.window.size and f.window.max() >= 0 else 0
    window_ids = np.asarray(keys, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    best_part = {int(k): -profile.fn_weight for k in set(window_ids[window_ids >= 0].tolist())}
    total = -profile.fn_weight * len(best_part)
    best = (math.inf, total)  # flag nothing
    i = 0
    n = order.size
    while i < n:
        threshold = scores[order[i]]
        while i < n and scores[order[i]] == threshold:
            j = order[i]
            k = int(window_ids[j])
            if k < 0:
                total += float(weights[j])
            elif weights[j] > best_part[k]:
                total += float(weights[j]) - best_part[k]
                best_part[k] = float(weights[j])
            i += 1
        if total > best[1]:
            best = (float(threshold), total)
    return best


@dataclass
class Result:
    name: str
    threshold: float
    raw: float
    null: float
    perfect: float
    per_file: dict[str, tuple[float, float, float]]  # raw, null, perfect

    @property
    def score(self) -> float:
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else 0.0


def corpus_score(
    name: str, files: Sequence[Scored], threshold: float | None = None, profile: Profile = STANDARD
) -> Result:
    """Normalised NAB score of a detector on ``files``, at ``threshold`` or the optimal one."""
    if threshold is None:
        threshold, _ = optimise_threshold(files, profile)
    per_file: dict[str, tuple[float, float, float]] = {}
    raw = null = perfect = 0.0
    for f in files:
        r = score_at(f, threshold, profile)
        nl, pf = -profile.fn_weight * f.windows, profile.tp_weight * f.windows
        per_file[f.name] = (r, nl, pf)
        raw, null, perfect = raw + r, null + nl, perfect + pf
    return Result(name, threshold, raw, null, perfect, per_file)


# ---------------------------------------------------------------------------- data


class NabDataError(Exception):
    """The NAB folder is missing or not laid out as NAB's repository."""


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())


def _parse_value(text: str) -> float | None:
    try:
        x = float(text)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def load_corpus(root: Path, only: Sequence[str] = ()) -> list[NabFile]:
    """Every file named in ``labels/combined_windows.json`` that exists under ``data/``."""
    labels = root / "labels" / "combined_windows.json"
    if not root.is_dir():
        raise NabDataError(f"{root}: no such folder (fetch NAB's data/ and labels/ there first)")
    if not labels.is_file():
        raise NabDataError(f"{labels}: missing (expected NAB's labels/combined_windows.json)")
    try:
        table = json.loads(labels.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise NabDataError(f"{labels}: not JSON ({exc})") from None
    files: list[NabFile] = []
    for name in sorted(table):
        path = root / "data" / name
        if not path.is_file() or (only and not any(o in name for o in only)):
            continue
        timestamps: list[datetime] = []
        values: list[float | None] = []
        with path.open(encoding="utf-8") as fh:
            header = fh.readline().strip().split(",")
            if "timestamp" not in header or "value" not in header:
                raise NabDataError(f"{path}: header has no timestamp and value columns")
            t_col, v_col = header.index("timestamp"), header.index("value")
            for line in fh:
                cells = line.rstrip("\n").split(",")
                if len(cells) <= max(t_col, v_col):
                    continue
                timestamps.append(_parse_time(cells[t_col]))
                values.append(_parse_value(cells[v_col]))
        windows = [(_parse_time(a), _parse_time(b)) for a, b in table[name]]
        files.append(NabFile(name, timestamps, values, windows))
    if not files:
        raise NabDataError(f"{root}/data: none of the labelled NAB files is there")
    return files


# ---------------------------------------------------------------------------- detectors


def _run(make: Callable[[], Detector], f: NabFile) -> list[float]:
    update = make().update
    return [update(v, t) for v, t in zip(f.values, f.timestamps, strict=True)]


def _rows_per_hour(f: NabFile) -> int:
    gaps = sorted(
        (b - a).total_seconds() for a, b in zip(f.timestamps, f.timestamps[1:], strict=False)
    )
    gap = gaps[len(gaps) // 2] if gaps else 300.0
    return max(1, round(3600.0 / max(gap, 1.0)))


DETECTORS: dict[str, Callable[[NabFile], Callable[[], Detector]]] = {
    "SeriesDetector (riskmon detect-series score)": lambda f: SeriesDetector,
    "SeriesDetector + IncidentTracker (onset score)": lambda f: IncidentTracker,
    "windowed Gaussian": lambda f: WindowedGaussian,
}
EWMA_GRID = (3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def evaluate(files: Sequence[NabFile], profile: Profile = STANDARD) -> list[Result]:
    """Score every detector on ``files``; thresholds (and the EWMA's ``k``) optimised on them."""
    results: list[Result] = []
    for name, factory in DETECTORS.items():
        runs = [scored(f, _run(factory(f), f), profile) for f in files]
        results.append(corpus_score(name, runs, profile=profile))
    ewma: Result | None = None
    for k in EWMA_GRID:
        runs = [
            scored(f, _run(lambda f=f, k=k: EwmaZ(k, _rows_per_hour(f)), f), profile) for f in files
        ]
        r = corpus_score(f"EWMA z-score, 1 h suppression (k={k:g})", runs, 0.5, profile)
        if ewma is None or r.score > ewma.score:
            ewma = r
    if ewma is not None:
        results.append(ewma)
    null = [scored(f, [0.0] * len(f.values), profile) for f in files]
    results.append(corpus_score("null (never flags)", null, 1.0, profile))
    return results


def report(results: Sequence[Result], files: Sequence[NabFile], seconds: float, cmd: str) -> str:
    lines = [
        "# NAB standard profile",
        "",
        f"Command: `{cmd}` ({seconds:.0f} s). {len(files)} files, "
        f"{sum(len(f.values) for f in files):,} rows, "
        f"{sum(len(f.windows) for f in files)} windows.",
        "",
        "| detector | NAB score (0 = null, 100 = perfect) | threshold |",
        "|---|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.score:.1f} | {r.threshold:.6g} |")
    lines += ["", "Per file (normalised on its own null and perfect; raw if unlabelled):", ""]
    lines.append("| file | " + " | ".join(r.name for r in results) + " |")
    lines.append("|---" * (len(results) + 1) + "|")
    for f in files:
        cells = []
        for r in results:
            raw, nl, pf = r.per_file[f.name]
            cells.append(f"{100.0 * (raw - nl) / (pf - nl):.1f}" if pf > nl else f"{raw:.2f}")
        lines.append(f"| {f.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="NAB root (data/, labels/)")
    parser.add_argument("--only", action="append", default=[], help="keep files containing this")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    try:
        files = load_corpus(args.data, args.only)
    except NabDataError as exc:
        print(f"bench.nab: {exc}", file=sys.stderr)
        return 2
    t0 = time.process_time()
    results = evaluate(files)
    cmd = ".venv/bin/python -m bench.nab --data NAB" + "".join(f" --only {o}" for o in args.only)
    text = report(results, files, time.process_time() - t0, cmd)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
