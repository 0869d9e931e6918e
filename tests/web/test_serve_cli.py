"""``riskmon serve`` refuses bad settings with one clear line, before it serves anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("RISKMON_WEB_SECRET", "RISKMON_WEB_SECRET_FILE", "RISKMON_LANGUAGE"):
        monkeypatch.delenv(name, raising=False)
    store = tmp_path / "alerts.db"
    monkeypatch.setenv("RISKMON_ALERT_STORE_URL", f"sqlite:///{store}")
    return store


def _serve(*env: tuple[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["serve", "--port", "1"], env=dict(env))
    return result.exit_code, result.output


def test_a_short_secret_or_an_unknown_language_is_refused(env: Path, tmp_path: Path) -> None:
    code, output = _serve(("RISKMON_WEB_SECRET", "too-short"))
    assert code == 2 and "at least 32 characters" in output and "Traceback" not in output
    code, output = _serve(("RISKMON_LANGUAGE", "fr"))
    assert code == 2 and "RISKMON_LANGUAGE" in output
    missing = tmp_path / "nope.key"
    code, output = _serve(("RISKMON_WEB_SECRET_FILE", str(missing)))
    assert code == 2 and "nope.key" in output


def test_a_missing_store_is_an_error_not_a_new_empty_store(env: Path) -> None:
    code, output = _serve(("RISKMON_WEB_SECRET", "s" * 40))
    assert code == 1 and "no alert store" in output
    assert not env.exists()
