"""The worker's and replay's metrics say which rules are shadow rules, and hot reload updates it."""

from __future__ import annotations

from pathlib import Path

from monitor.rules.loader import load_rules
from riskmon.observability import new_metrics
from streams.reload import ReloadMetrics

TRIAL = """\
- rule: Single cash transaction above a lower trial threshold
  id: trial_cash
  desc: Tries CNY 40,000 on live traffic.
  kind: condition
  category: large_transfer
  entity: transaction
  mode: {mode}
  condition: {{macro: is_cash}}
  threshold: {{CNY: 40000, USD: 8000}}
  output:
    en: "Trial: cash {{amount}} {{currency}}"
    zh-CN: "试行：现金 {{amount}} {{currency}}"
  severity: medium
"""


def mode_of(metrics: object, rule_id: str, mode: str) -> float | None:
    registry = getattr(metrics, "registry")  # noqa: B009
    labels = {"rule_id": rule_id, "category": "large_transfer", "mode": mode}
    value: float | None = registry.get_sample_value("riskmon_rule_info", labels)
    return value


def test_rule_modes_are_exposed_and_follow_a_reload(tmp_path: Path) -> None:
    trial = tmp_path / "trial.yaml"
    trial.write_text(TRIAL.format(mode="shadow"), encoding="utf-8")
    metrics = new_metrics(load_rules([trial]))
    assert mode_of(metrics, "trial_cash", "shadow") == 1
    assert mode_of(metrics, "large_cash_single", "live") == 1
    assert mode_of(metrics, "trial_cash", "live") is None

    trial.write_text(TRIAL.format(mode="live"), encoding="utf-8")  # switched on
    ReloadMetrics(metrics.registry, metrics).running(load_rules([trial]))
    assert mode_of(metrics, "trial_cash", "live") == 1
    assert mode_of(metrics, "trial_cash", "shadow") is None  # the old mode is gone
