"""The Grafana dashboards are code: tools/dashboards.py (grafana-foundation-sdk) regenerates them,
and the committed JSON must be exactly its output (issue 15 item 4)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "deploy" / "grafana" / "dashboards"


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "riskmon_dashboards", REPO / "tools" / "dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_committed_dashboards_are_the_generators_output(
    generator: ModuleType, tmp_path: Path
) -> None:
    assert generator.main(["--out", str(tmp_path)]) == 0
    built = sorted(p.name for p in tmp_path.glob("*.json"))
    assert built == sorted(p.name for p in COMMITTED.glob("*.json")), "a dashboard is not generated"
    for name in built:
        assert (tmp_path / name).read_text(encoding="utf-8") == (COMMITTED / name).read_text(
            encoding="utf-8"
        ), f"{name} differs from the generator: run .venv/bin/python tools/dashboards.py"


def test_check_mode_catches_a_hand_edit(generator: ModuleType, tmp_path: Path) -> None:
    generator.main(["--out", str(tmp_path)])
    assert generator.main(["--check", "--out", str(tmp_path)]) == 0
    path = tmp_path / "riskmon-risk.json"
    board = json.loads(path.read_text(encoding="utf-8"))
    board["panels"][1]["title"] = "edited by hand"
    path.write_text(json.dumps(board), encoding="utf-8")
    assert generator.main(["--check", "--out", str(tmp_path)]) == 1


def test_every_panel_has_a_unique_id_and_prometheus_targets(generator: ModuleType) -> None:
    for board in generator.BOARDS:
        model = generator.build(board)
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids)), board.uid
        for panel in model["panels"]:
            assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}
                assert target["expr"].strip(), panel["title"]
