"""The SRE alerting rules and the compose configs, checked and unit-tested with real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.services

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
RULES = DEPLOY / "prometheus" / "riskmon-alerts.yml"
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done


def test_rules_check(promtool: str) -> None:
    out = run(promtool, "check", "rules", str(RULES)).stdout
    assert "SUCCESS" in out


@pytest.mark.parametrize("tests", RULE_TESTS, ids=lambda p: p.name)
def test_rules_unit_tests(promtool: str, tests: Path) -> None:
    run(promtool, "test", "rules", str(tests))


def test_every_alert_has_a_unit_test() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested, f"alerts without a firing test: {sorted(alerts - tested)}"
    assert len(alerts) >= 8


def test_compose_prometheus_config(promtool: str) -> None:
    run(promtool, "check", "config", "--syntax-only", str(DEPLOY / "prometheus" / "prometheus.yml"))


def test_alertmanager_config(promtool: str) -> None:
    amtool = shutil.which("amtool", path="/usr/bin:/usr/local/bin")
    if amtool is None:  # Debian ships amtool with prometheus-alertmanager
        from tools import services

        services.install(["alertmanager"])
        amtool = shutil.which("amtool", path="/usr/bin:/usr/local/bin")
    assert amtool is not None, "amtool not installed (prometheus-alertmanager)"
    run(amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
