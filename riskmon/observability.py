"""Metrics for the CLI commands: one registry per run, served and/or pushed as the options say."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime

import typer
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from monitor.alerts import SHADOW_TAG
from monitor.metrics import RiskmonMetrics
from monitor.ops import ruleset_calendar
from monitor.rules.kinds.schedule import BusinessCalendar
from monitor.rules.ruleset import RuleSet
from streams.exposition import push_metrics, serve_metrics


@dataclass(frozen=True)
class Exposure:
    """How a command exposes its metrics (all off by default)."""

    port: int | None = None
    addr: str = "127.0.0.1"
    linger: float = 0.0
    pushgateway: str | None = None
    instance: str | None = None

    @property
    def enabled(self) -> bool:
        return self.port is not None or self.pushgateway is not None


def new_metrics(ruleset: RuleSet, stages: tuple[str, ...] = ()) -> RiskmonMetrics:
    """A fresh registry with the catalogue, the rule pack recorded and its rules' zero series."""
    metrics = RiskmonMetrics(CollectorRegistry(), stages=stages)
    rules = [(rule.id, rule.meta.category) for rule in ruleset.rules]
    metrics.set_rule_pack(ruleset.version, ruleset.pack_hash, rules)
    metrics.set_rule_modes(rule_modes(ruleset))
    metrics.registry.register(CalendarCollector(ruleset_calendar(ruleset.rules)))
    metrics.set_calendar(ruleset_calendar(ruleset.rules))
    return metrics


def rule_modes(ruleset: RuleSet) -> list[tuple[str, str, str]]:
    """``(rule_id, category, mode)`` of every loaded rule (``riskmon_rule_info``)."""
    return [
        (rule.id, rule.meta.category, "shadow" if SHADOW_TAG in rule.meta.tags else "live")
        for rule in ruleset.rules
    ]


class CalendarCollector(Collector):
    """``riskmon_business_calendar_working_day``: 1 if today (wall clock, in the calendar's time
    zone) is a working day on the after-hours rule's calendar (CN public holidays off, official
    make-up working days on), else 0. Prometheus's business-hours rule reads it."""

    def __init__(self, calendar: BusinessCalendar) -> None:
        self.calendar = calendar

    def collect(self) -> Iterator[GaugeMetricFamily]:
        today = datetime.now(self.calendar.zone).date()
        family = GaugeMetricFamily(
            "riskmon_business_calendar_working_day",
            "1 if today is a working day on the business calendar, else 0.",
        )
        family.add_metric([], 1.0 if self.calendar.is_working_day(today) else 0.0)
        yield family


@contextmanager
def exposed(
    exposure: Exposure, ruleset: RuleSet, stages: tuple[str, ...] = ()
) -> Iterator[RiskmonMetrics | None]:
    """Serve metrics while the block runs, then push them and keep serving for ``linger`` s."""
    if not exposure.enabled:
        yield None
        return
    metrics = new_metrics(ruleset, stages)
    with ExitStack() as stack:
        if exposure.port is not None:
            server = stack.enter_context(
                serve_metrics(exposure.port, metrics.registry, exposure.addr)
            )
            typer.echo(f"metrics: {server.url}", err=True)
        yield metrics
        if exposure.pushgateway:
            name = push_metrics(exposure.pushgateway, metrics.registry, instance=exposure.instance)
            typer.echo(f"metrics pushed to {exposure.pushgateway} as instance={name}", err=True)
        if exposure.port is not None and exposure.linger > 0:
            time.sleep(exposure.linger)
