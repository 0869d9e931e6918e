"""Tests for monitor.models.series (SeriesDetector) and streams.series_file (detect_csv)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import MonitorError
from monitor.models.series import STATE_VERSION, SeriesDetector, SeriesStateError
from streams.series_file import (
    BadRow,
    SeriesFileHeaderError,
    detect_csv,
    format_score,
    parse_timestamp,
)

START = datetime(2024, 3, 4)  # a Monday
DAY = 288  # rows per day at 5-minute resolution


def seasonal(seed: int, days: int = 4, noise: float = 2.0) -> tuple[list[datetime], list[float]]:
    """A clean daily sinusoid at 5-minute resolution plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    n = days * DAY
    stamps = [START + timedelta(minutes=5 * i) for i in range(n)]
    phase = 2 * math.pi * (np.arange(n) % DAY) / DAY
    values = 100.0 + 20.0 * np.sin(phase) + rng.normal(0.0, noise, n)
    return stamps, [float(v) for v in values]


def sparse_counts(seed: int, days: int = 3) -> tuple[list[datetime], list[float]]:
    """Per-minute counts of a low-volume branch: mostly zeros at night."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    stamps = [START + timedelta(minutes=i) for i in range(n)]
    hours = (np.arange(n) % 1440) / 60.0
    lam = 0.05 + 3.0 * np.exp(-(((hours - 13.0) / 3.5) ** 2))
    return stamps, [float(v) for v in rng.poisson(lam)]


def run(
    values: list[float | None], stamps: list[datetime | None] | None = None, **config: Any
) -> list[float]:
    det = SeriesDetector(**config)
    stamps = stamps if stamps is not None else [None] * len(values)
    return [det.update(v, t) for v, t in zip(values, stamps, strict=True)]


SHAPES = {
    "seasonal": lambda: seasonal(1),
    "sparse_counts": lambda: sparse_counts(2, days=1),
    "random_walk": lambda: (
        None,
        [float(v) for v in np.cumsum(np.random.default_rng(3).normal(0, 1, 1500))],
    ),
    "constant": lambda: (None, [5.0] * 500),
    "huge_values": lambda: (
        None,
        [float(v) for v in 1e12 + np.random.default_rng(4).normal(0, 1e9, 800)],
    ),
    "steps": lambda: (None, [float(v) for v in np.repeat([0.0, 50.0, -20.0, 1e4], 200)]),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_scores_are_finite_and_in_unit_interval(shape: str) -> None:
    stamps, values = SHAPES[shape]()
    scores = run(list(values), stamps)
    assert len(scores) == len(values)
    assert all(math.isfinite(s) and 0.0 <= s <= 1.0 for s in scores)


def test_constant_series_never_alarms() -> None:
    assert max(run([5.0] * 600)) == 0.0


def test_warmup_scores_are_zero() -> None:
    stamps, values = seasonal(0, days=1)
    values[50] += 1000.0
    assert run(list(values), stamps, warmup=100)[:100] == [0.0] * 100


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_seasonal_series_does_not_alarm_after_warmup(seed: int) -> None:
    stamps, values = seasonal(seed)
    scores = run(values, stamps)
    assert max(scores[100:]) < 0.5


def test_clean_sparse_counts_do_not_alarm_after_first_day() -> None:
    stamps, values = sparse_counts(5)
    assert max(run(values, stamps)[1440:]) < 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detects_an_obvious_spike(seed: int) -> None:
    stamps, values = seasonal(seed)
    values[700] += 30.0  # 15 noise sd
    scores = run(values, stamps)
    assert scores[700] >= 0.5
    assert max(scores[701:720]) < scores[700]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detects_a_level_shift_early_and_then_adopts_it(seed: int) -> None:
    stamps, values = seasonal(seed)
    values[800:] = [v + 12.0 for v in values[800:]]  # 6 noise sd, for good
    scores = run(values, stamps)
    assert max(scores[800:810]) >= 0.5
    assert max(scores[900:]) < 0.5  # the new level has become the normal


def test_detects_a_stuck_feed() -> None:
    stamps, values = seasonal(3)
    values[700:760] = [values[699]] * 60
    scores = run(values, stamps)
    assert max(scores[700:760]) >= 0.5


def test_works_without_timestamps() -> None:
    _, values = seasonal(4)
    values[700] += 30.0
    scores = run(values)
    assert scores[700] >= 0.5
    assert max(scores[100:700]) < 0.5


def test_prefix_invariance_on_a_long_series() -> None:
    stamps, values = seasonal(5, days=3)
    values[500] += 25.0
    full = run(values, stamps)
    for k in (1, 99, 100, 333, 700):
        assert run(values[:k], stamps[:k]) == full[:k]


@settings(max_examples=20, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
            st.none(),
            st.just(math.nan),
            st.sampled_from([0.0, 1.0, 2.0]),
        ),
        min_size=1,
        max_size=250,
    ),
    k=st.integers(min_value=0, max_value=250),
)
def test_prefix_invariance_and_range_on_arbitrary_input(values: list[float | None], k: int) -> None:
    stamps: list[datetime | None] = [START + timedelta(minutes=i) for i in range(len(values))]
    full = run(values, stamps, warmup=10)
    assert run(values[:k], stamps[:k], warmup=10) == full[:k]
    assert all(0.0 <= s <= 1.0 for s in full)


def test_missing_values_score_zero_and_are_not_learned() -> None:
    stamps, values = seasonal(6, days=2)
    clean = run(values, stamps)
    holes: list[float | None] = []
    hole_stamps: list[datetime | None] = []
    for i, (v, t) in enumerate(zip(values, stamps, strict=True)):
        holes.append(v)
        hole_stamps.append(t)
        if i % 50 == 7:
            holes += [None, math.nan, math.inf, -math.inf]
            hole_stamps += [t, t, None, t]
    gappy = run(holes, hole_stamps)
    assert [s for s, v in zip(gappy, holes, strict=True) if v is None or not math.isfinite(v)] == [
        0.0
    ] * (len(holes) - len(values))
    assert [s for s, v in zip(gappy, holes, strict=True) if v is not None and math.isfinite(v)] == (
        clean
    )


def test_seeded_runs_repeat() -> None:
    stamps, values = seasonal(7)
    assert run(values, stamps) == run(values, stamps)


def test_update_is_score_then_learn_and_learn_returns_none() -> None:
    stamps, values = seasonal(8, days=1)
    a, b = SeriesDetector(), SeriesDetector()
    for v, t in zip(values, stamps, strict=True):
        score = a.score_one(v, t)
        assert a.score_one(v, t) == score  # scoring alone learns nothing
        assert a.learn_one(v, t) is None
        assert b.update(v, t) == score


def test_learn_one_without_score_one_matches_update() -> None:
    stamps, values = seasonal(9, days=1)
    a, b = SeriesDetector(), SeriesDetector()
    for v, t in zip(values, stamps, strict=True):
        a.learn_one(v, t)
        b.update(v, t)
    assert a.to_state() == b.to_state()


@pytest.mark.parametrize("cut", [1, 50, 400, 700])
def test_snapshot_restore_mid_stream_scores_the_same(cut: int) -> None:
    stamps, values = seasonal(10, days=3)
    values[800] += 30.0
    live = SeriesDetector()
    for v, t in zip(values[:cut], stamps[:cut], strict=True):
        live.update(v, t)
    state = live.to_state()
    assert state["version"] == STATE_VERSION
    restored = SeriesDetector.from_state(json.loads(json.dumps(state, allow_nan=False)))
    rest = list(zip(values[cut:], stamps[cut:], strict=True))
    assert [restored.update(v, t) for v, t in rest] == [live.update(v, t) for v, t in rest]


def test_snapshot_between_score_and_learn() -> None:
    stamps, values = seasonal(11, days=2)
    live = SeriesDetector()
    for v, t in zip(values[:400], stamps[:400], strict=True):
        live.update(v, t)
    live.score_one(values[400], stamps[400])
    restored = SeriesDetector.from_state(json.loads(json.dumps(live.to_state())))
    live.learn_one(values[400], stamps[400])
    restored.learn_one(values[400], stamps[400])
    assert restored.to_state() == live.to_state()


def test_a_snapshot_stays_as_taken_while_learning_goes_on() -> None:
    stamps, values = seasonal(17, days=2)
    det = SeriesDetector()
    for v, t in zip(values[:400], stamps[:400], strict=True):
        det.update(v, t)
    state = det.to_state()
    frozen = json.dumps(state)
    for v, t in zip(values[400:], stamps[400:], strict=True):
        det.update(v, t)
    assert json.dumps(state) == frozen


def test_state_errors_belong_to_the_monitor_error_tree() -> None:
    assert issubclass(SeriesStateError, MonitorError)
    assert issubclass(SeriesFileHeaderError, MonitorError)


def test_from_state_does_not_mutate_its_input() -> None:
    stamps, values = seasonal(12, days=2)
    det = SeriesDetector()
    for v, t in zip(values, stamps, strict=True):
        det.update(v, t)
    state = json.loads(json.dumps(det.to_state()))
    before = copy.deepcopy(state)
    restored = SeriesDetector.from_state(state)
    restored.update(1.0, stamps[-1] + timedelta(minutes=5))
    assert state == before


@pytest.mark.parametrize(
    "change",
    [
        {"version": STATE_VERSION + 1},
        {"kind": "HalfSpaceTreesScorer"},
        {"n": "many"},
        {"experts": [1, 2, 3]},
        {"config": None},
    ],
)
def test_from_state_rejects_foreign_snapshots(change: dict[str, object]) -> None:
    state = SeriesDetector().to_state() | change
    with pytest.raises(SeriesStateError):
        SeriesDetector.from_state(state)


@pytest.mark.parametrize(
    "config",
    [{"warmup": -1}, {"alarm_surprise": 0.0}, {"fast_alpha": 0.0}, {"slow_alpha": 1.5}],
)
def test_rejects_bad_configuration(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SeriesDetector(**config)


def test_explain_names_the_evidence() -> None:
    stamps, values = seasonal(13)
    det = SeriesDetector()
    for v, t in zip(values[:700], stamps[:700], strict=True):
        det.update(v, t)
    det.update(values[700] + 30.0, stamps[700])
    why = det.explain()
    assert max(("point", "level", "variance", "drift", "flat"), key=why.__getitem__) == "point"
    assert abs(why["expected"] - values[700]) < 3 * why["scale"]


# ---------------------------------------------------------------- streams.series_file


def write_csv(path: Path, stamps: list[datetime], values: list[str]) -> None:
    lines = ["timestamp,value"]
    lines += [f"{t:%Y-%m-%d %H:%M:%S},{v}" for t, v in zip(stamps, values, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_detect_csv_equals_an_in_memory_run_byte_for_byte(tmp_path: Path) -> None:
    stamps, values = seasonal(14, days=2)
    values[400] += 30.0
    texts = [repr(v) for v in values]
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, stamps, texts)
    assert detect_csv(src, dst) == len(values)

    scores = run(
        [float(t) for t in texts], [parse_timestamp(f"{t:%Y-%m-%d %H:%M:%S}") for t in stamps]
    )
    expected = ["timestamp,value,anomaly_score"]
    expected += [
        f"{t:%Y-%m-%d %H:%M:%S},{v},{format_score(s)}"
        for t, v, s in zip(stamps, texts, scores, strict=True)
    ]
    assert dst.read_bytes() == ("\n".join(expected) + "\n").encode()
    assert [float(line.split(",")[2]) for line in expected[1:]] == scores


def test_detect_csv_does_not_touch_its_input(tmp_path: Path) -> None:
    stamps, values = seasonal(15, days=1)
    src = tmp_path / "in.csv"
    write_csv(src, stamps, [repr(v) for v in values])
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    detect_csv(src, tmp_path / "out.csv")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == digest


def test_detect_csv_reports_bad_rows_and_keeps_going(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text(
        "timestamp,value\n"
        "2024-03-04T00:00:00,1.5\n"
        "2024-03-04T00:05:00,\n"
        "2024-03-04T00:10:00,n/a\n"
        "yesterday,2.0\n"
        "\n"
        "2024-03-04T00:20:00+01:00,nan\n"
        "2024-03-04T00:25:00Z\n",
        encoding="utf-8",
    )
    bad: list[BadRow] = []
    assert detect_csv(src, dst, on_bad_row=bad.append) == 6
    assert [(b.line, b.column) for b in bad] == [
        (3, "value"),
        (4, "value"),
        (5, "timestamp"),
        (7, "value"),
        (8, "value"),
    ]
    rows = dst.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "timestamp,value,anomaly_score"
    assert [r.split(",")[-1] for r in rows[1:]] == ["0.0"] * 6


def test_detect_csv_logs_bad_rows_by_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("timestamp,value\n2024-03-04 00:00:00,oops\n", encoding="utf-8")
    detect_csv(src, tmp_path / "out.csv")
    assert "unreadable value 'oops'" in caplog.text


def test_detect_csv_passes_extra_columns_through(tmp_path: Path) -> None:
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    src.write_text("branch,timestamp,value\nb1,2024-03-04 00:00:00,3\n", encoding="utf-8")
    detect_csv(src, dst)
    assert (
        dst.read_text(encoding="utf-8")
        == "branch,timestamp,value,anomaly_score\nb1,2024-03-04 00:00:00,3,0.0\n"
    )


@pytest.mark.parametrize("text", ["", "time,value\n1,2\n", "timestamp,v\n1,2\n"])
def test_detect_csv_rejects_a_file_without_the_columns(tmp_path: Path, text: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(text, encoding="utf-8")
    with pytest.raises(SeriesFileHeaderError):
        detect_csv(src, tmp_path / "out.csv")


def test_detect_csv_continues_a_restored_detector(tmp_path: Path) -> None:
    stamps, values = seasonal(16, days=2)
    texts = [repr(v) for v in values]
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_csv(first, stamps[:300], texts[:300])
    write_csv(second, stamps[300:], texts[300:])
    det = SeriesDetector()
    detect_csv(first, tmp_path / "a.out", detector=det)
    resumed = SeriesDetector.from_state(json.loads(json.dumps(det.to_state())))
    detect_csv(second, tmp_path / "b.out", detector=resumed)
    whole = tmp_path / "whole.csv"
    write_csv(whole, stamps, texts)
    detect_csv(whole, tmp_path / "whole.out")
    parts = (tmp_path / "a.out").read_text().splitlines() + (
        tmp_path / "b.out"
    ).read_text().splitlines()[1:]
    assert parts == (tmp_path / "whole.out").read_text().splitlines()
