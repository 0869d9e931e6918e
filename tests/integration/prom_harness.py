"""Helpers for the observability tests: Prometheus's HTTP API, the dashboards' and rules' PromQL.

PromQL is checked by the real Prometheus: an expression it cannot parse is a 400 ``bad_data``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "riskmon-alerts.yml"
DASHBOARDS = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
# Grafana's variables, as a test scrape window sees them.
GRAFANA_VARS = {"$__rate_interval": "20s", "$__range": "5m", "$instance": ".*", "$branch": ".*"}
METRIC = re.compile(r"(?<![:\w])(riskmon_[a-z_]+|up|process_[a-z_]+)(?![:\w(])")
T = TypeVar("T")


class PromQLError(AssertionError):
    pass


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            raise PromQLError(f"{params}: {exc.code} {exc.read().decode()}") from None
    assert body["status"] == "success", body
    return body["data"]


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """Instant query; raises :class:`PromQLError` when Prometheus rejects the expression."""
    data = api(base, "query", query=expr)
    result: list[dict[str, Any]] = data["result"]
    return result


def value(base: str, expr: str) -> float:
    result = query(base, expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    """``(where, expr)`` of every panel target of every dashboard, with variables filled in."""
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for name, replacement in GRAFANA_VARS.items():
                    expr = expr.replace(name, replacement)
                yield f"{path.name}: {panel['title']} [{target['refId']}]", expr


def rule_exprs(rules: Path = RULES) -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(rules.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            yield rule.get("alert") or rule["record"], rule["expr"]


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def fast_rules(target: Path, window: str = "20s", hold: str = "2s") -> Path:
    """A copy of the SRE rules for a test: short windows and ``for:``, always business hours."""
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for group in data["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == "riskmon:business_hours":
                rule["expr"] = "vector(1)"
            rule["expr"] = re.sub(r"\[(5m|10m|15m)\]", f"[{window}]", rule["expr"])
            if "for" in rule:
                rule["for"] = hold
    target.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def firing(base: str, alertname: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = api(base, "alerts")["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]
