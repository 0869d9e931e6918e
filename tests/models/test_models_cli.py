"""``riskmon models train`` and ``riskmon models eval`` end to end, on files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.events import encode_event
from monitor.models.artifact import ArtifactError, loads
from riskmon.models_cli import models_app
from tests.models.modelkit import WEEK, simulated


@pytest.fixture(scope="module")
def week_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    events, labels = simulated(WEEK)
    folder = tmp_path_factory.mktemp("week")
    (folder / "events.jsonl").write_text(
        "".join(encode_event(e) + "\n" for e in events), encoding="utf-8"
    )
    (folder / "labels.jsonl").write_text(
        "".join(json.dumps(lb) + "\n" for lb in labels), encoding="utf-8"
    )
    return folder / "events.jsonl", folder / "labels.jsonl"


@pytest.mark.slow
def test_train_writes_a_versioned_artefact_and_its_checksum(
    week_files: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "model.skops"
    result = CliRunner().invoke(models_app, ["train", str(week_files[0]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    checksum = (tmp_path / "model.skops.sha256").read_text(encoding="utf-8")
    assert checksum == f"{hashlib.sha256(data).hexdigest()}  model.skops\n"
    artifact = loads(data, checksum)
    assert artifact.version == 1 and set(artifact.forests) == {"account", "operator"}
    with pytest.raises(ArtifactError):
        loads(data + b"x", checksum)


@pytest.mark.slow
def test_eval_prints_the_tables_and_writes_the_plots(
    week_files: tuple[Path, Path], tmp_path: Path
) -> None:
    png, figures = tmp_path / "eval.png", tmp_path / "eval.json"
    args = ["eval", *map(str, week_files), "--png", str(png), "--json", str(figures)]
    result = CliRunner().invoke(models_app, args)
    assert result.exit_code == 0, result.output
    assert "rules+models" in result.output and "PR-AUC" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(figures.read_text(encoding="utf-8"))
    assert set(data) == {"models", "rules+models", "events_per_s", "expected_per_day"}
    assert set(data["expected_per_day"]) == {"account", "operator"}
    assert "expected model alerts per day at this traffic" in result.output
    assert data["rules+models"]["recall"] > 0.5  # the rules find their own cases


@pytest.mark.slow
def test_demo_with_models_reports_the_cases_they_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskmon.cli import app

    monkeypatch.setenv("RISKMON_ALERT_STORE_URL", f"sqlite:///{tmp_path / 'alerts.db'}")
    out = tmp_path / "demo"
    args = ["demo", "--models", "--days", "16", "--branches", "2", "--out-dir", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Injected rule-less cases found by the models" in result.output
    cases = [
        json.loads(line)
        for line in (out / "labels.jsonl").read_text(encoding="utf-8").splitlines()
        if '"model_anomaly"' in line
    ]
    for reason in {c["reason"] for c in cases}:
        assert reason in result.output
