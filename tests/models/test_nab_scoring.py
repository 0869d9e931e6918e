"""Our NAB scorer (bench/nab.py) on tiny hand-made files whose scores are worked out by hand."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from bench.nab import (
    NabFile,
    corpus_score,
    load_corpus,
    main,
    optimise_threshold,
    probation_length,
    row_weights,
    scaled_sigmoid,
    score_at,
    scored,
)

T0 = datetime(2024, 3, 4)
MAX_TP = 2.0 / (1.0 + math.exp(-5.0)) - 1.0


def _file(rows: int = 20, window: tuple[int, int] = (10, 13)) -> NabFile:
    ts = [T0 + timedelta(minutes=i) for i in range(rows)]
    return NabFile("cat/f.csv", ts, [0.0] * rows, [(ts[window[0]], ts[window[1]])])


def _flags(rows: int, *flagged: int) -> list[float]:
    return [1.0 if i in flagged else 0.0 for i in range(rows)]


def test_scaled_sigmoid_anchors() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(-0.5) == pytest.approx(0.84828, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0


def test_probation_is_fifteen_percent_capped_at_750_rows() -> None:
    assert probation_length(20) == 3
    assert probation_length(4032) == 604
    assert probation_length(22695) == 750


def test_window_rows_weights_by_hand() -> None:
    f = _file()
    weight, window = row_weights(f.timestamps, f.windows)
    assert window[:3].tolist() == [-2, -2, -2]  # probation
    assert window[10:14].tolist() == [0, 0, 0, 0]
    assert weight[10] == pytest.approx(1.0)  # first row of the window: full reward
    assert weight[12] == pytest.approx(scaled_sigmoid(-0.5) / MAX_TP)
    assert weight[5] == pytest.approx(-0.11)  # no window before it: the full false-positive cost
    # After the window: distance past its right edge over (width - 1) = 2 / 3.
    assert weight[15] == pytest.approx(0.11 * scaled_sigmoid(2.0 / 3.0))


def test_file_scores_by_hand() -> None:
    f = _file()
    assert score_at(scored(f, _flags(20)), 0.5) == -1.0  # the window missed
    assert score_at(scored(f, _flags(20, 10)), 0.5) == pytest.approx(1.0)
    assert score_at(scored(f, _flags(20, 5)), 0.5) == pytest.approx(-1.11)
    # Only the best flag of a window counts; every flag outside costs.
    both = score_at(scored(f, _flags(20, 10, 11, 12, 15)), 0.5)
    assert both == pytest.approx(1.0 + 0.11 * scaled_sigmoid(2.0 / 3.0))
    # Flags in probation are not scored at all.
    assert score_at(scored(f, _flags(20, 0, 1, 2, 10)), 0.5) == pytest.approx(1.0)


def test_null_is_zero_and_perfect_is_one_hundred() -> None:
    files = [_file(), _file(40, (20, 29))]
    null = corpus_score("null", [scored(f, _flags(len(f.values))) for f in files], 0.5)
    perfect = corpus_score(
        "perfect",
        [scored(files[0], _flags(20, 10)), scored(files[1], _flags(40, 20))],
        0.5,
    )
    assert null.score == 0.0
    assert perfect.score == pytest.approx(100.0)
    assert (null.null, null.perfect) == (-2.0, 2.0)


def test_threshold_is_optimised_over_the_corpus() -> None:
    f = _file()
    scores = [0.0] * 20
    scores[5], scores[10] = 0.95, 0.9
    threshold, total = optimise_threshold([scored(f, scores)])
    assert threshold == 0.9
    assert total == pytest.approx(1.0 - 0.11)


def test_sweep_matches_brute_force_on_random_scores() -> None:
    rng = random.Random(3)
    files = [_file(60, (30, 39)), _file(50, (10, 14)), _file(30, (25, 29))]
    runs = [scored(f, [round(rng.random(), 2) for _ in f.values]) for f in files]
    threshold, total = optimise_threshold(runs)
    candidates = [*sorted({float(s) for r in runs for s in r.scores}), math.inf]
    brute = max(sum(score_at(r, th) for r in runs) for th in candidates)
    assert total == pytest.approx(brute)
    assert sum(score_at(r, threshold) for r in runs) == pytest.approx(total)


def test_load_corpus_and_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "absent")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "labels").mkdir()
    (tmp_path / "data" / "cat").mkdir(parents=True)
    f = _file(200, (100, 120))
    (tmp_path / "labels" / "combined_windows.json").write_text(
        json.dumps({f.name: [[str(f.windows[0][0]) + ".000000", str(f.windows[0][1])]]})
    )
    rng = np.random.default_rng(1)
    lines = [f"{t},{v:.3f}" for t, v in zip(f.timestamps, rng.normal(10, 1, 200), strict=True)]
    (tmp_path / "data" / f.name).write_text("timestamp,value\n" + "\n".join(lines) + "\n")
    loaded = load_corpus(tmp_path)
    assert [x.name for x in loaded] == [f.name]
    assert len(loaded[0].values) == 200 and loaded[0].windows == f.windows
    assert main(["--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "null (never flags) | 0.0" in out
