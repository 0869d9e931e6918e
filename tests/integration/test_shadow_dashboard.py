"""Shadow vs live on the risk dashboard: a replay with a shadow rule, scraped by a real Prometheus,
answers the dashboard's shadow panels with both modes and the right counts (issue 13 item 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from monitor.events import encode_event
from monitor.rule_examples import example_events
from monitor.rules.schema import Example
from tests.fixtures_services import PrometheusFactory
from tests.integration.prom_harness import REPO, dashboard_exprs, query, value, wait_for
from tools import services

pytestmark = [pytest.mark.services]

SHADOW = """\
- rule: Single cash transaction above a lower trial threshold
  id: trial_cash
  desc: Tries CNY 40,000 on live traffic before it replaces the CNY 50,000 line.
  kind: condition
  category: large_transfer
  entity: transaction
  mode: shadow
  condition: {macro: is_cash}
  threshold: {CNY: 40000, USD: 8000}
  output:
    en: "Trial: cash {amount} {currency}"
    zh-CN: "试行：现金 {amount} {currency}"
  severity: medium
"""


def cash_lines(*amounts: str) -> str:
    events = example_events(
        Example(
            events=[
                {
                    "event_id": f"ev-{n}",
                    "txn_id": f"TX-{n}",
                    "txn_type": "deposit",
                    "channel": "counter",
                    "amount": amount,
                }
                for n, amount in enumerate(amounts)
            ],
            expect=[],
        )
    )
    return "".join(encode_event(event) + "\n" for event in events)


def test_shadow_panels_compare_a_shadow_rule_with_live_ones(
    prometheus_factory: PrometheusFactory, tmp_path: Path
) -> None:
    rules = tmp_path / "shadow.yaml"
    rules.write_text(SHADOW, encoding="utf-8")
    events, alerts_out = tmp_path / "events.jsonl", tmp_path / "alerts.jsonl"
    events.write_text(cash_lines("45000", "60000", "41000", "1000"), encoding="utf-8")
    port = services.free_port()
    argv = [sys.executable, "-m", "riskmon.cli", "replay", str(events), "--rules", str(rules)]
    argv += ["--alerts-out", str(alerts_out), "--metrics-port", str(port)]
    argv += ["--metrics-linger", "120"]
    log = tmp_path / "replay.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("the replay summary", lambda: b"Replay summary" in log.read_bytes(), 60)
        alerts = [json.loads(line) for line in alerts_out.read_text().splitlines()]
        by_rule = Counter(a["rule_id"] for a in alerts)
        assert (by_rule["trial_cash"], by_rule["large_cash_single"]) == (3, 1)
        prom = prometheus_factory([f"127.0.0.1:{port}"], []).url
        wait_for("the first scrape", lambda: query(prom, 'up{job="riskmon"} == 1'), 60)
        mode = 'riskmon_rule_info{rule_id="trial_cash", category="large_transfer"}'
        assert query(prom, f'{mode.rstrip("}")}, mode="shadow"}}')
        panels = {
            where.split(": ", 1)[1].rsplit(" [", 1)[0]: expr
            for where, expr in dashboard_exprs()
            if "Shadow vs live" in where
        }
        assert set(panels) == {
            "Shadow vs live: alerts per hour by category",
            "Shadow vs live: alerts per rule (in range)",
        }
        per_rule = panels["Shadow vs live: alerts per rule (in range)"]
        # The scrape saw the final counts; compare the totals the panel joins (not the
        # extrapolated increase) with what the replay wrote.
        totals = per_rule.replace("increase(", "max_over_time(")
        rows = wait_for(
            "both modes on the per-rule panel",
            lambda: {
                (r["metric"]["rule_id"], r["metric"]["mode"]): float(r["value"][1])
                for r in query(prom, totals)
            },
            30,
        )
        assert rows[("trial_cash", "shadow")] == 3
        assert rows[("large_cash_single", "live")] == 1
        assert {m for _, m in rows} == {"live", "shadow"}
        hourly = panels["Shadow vs live: alerts per hour by category"]
        modes = wait_for(  # a rate needs two scrapes in its window
            "both modes on the hourly panel",
            lambda: {r["metric"]["mode"] for r in query(prom, hourly)} or None,
            30,
        )
        assert modes == {"live", "shadow"}
        assert value(prom, f"count({mode})") == 1
    finally:
        process.terminate()
        process.wait(timeout=30)
