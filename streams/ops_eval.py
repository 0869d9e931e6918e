"""A simulated month with labelled operational incidents, replayed and scored for ``operations``.

``riskmon ops-eval`` and the tests call :func:`run_ops_eval`: simulate, inject incidents
(:mod:`monitor.simulator.incidents`), replay the lines (garbage included, so dead letters reach
the KPI stage as they would in production), and score with :func:`monitor.ops.evaluation`.
"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.ops.evaluation import OpsReport, evaluate_ops
from monitor.rules.loader import load_rules
from monitor.simulator import SimConfig, simulate
from monitor.simulator.incidents import inject, plan
from monitor.simulator.workdays import WorkCalendar
from streams.replay import SourceLine, replay

__all__ = ["run_ops_eval"]


def run_ops_eval(
    days: int = 30, branches: int = 8, seed: int = 7, rate: float = 0.15
) -> tuple[OpsReport, list[Alert]]:
    """Simulate ``days`` x ``branches``, inject incidents on ``rate`` of working branch-days
    after the first week, replay, and score the ``operations`` alerts."""
    config = SimConfig(seed=seed, days=days, branches=branches)
    sim = simulate(config)
    zone = ZoneInfo(config.timezone)
    calendar = WorkCalendar(zone, config.business_hours, config.holidays_country)
    names = sorted({e.branch_id for e in sim.events})
    dates = [config.start + timedelta(days=d) for d in range(days)]
    incidents = plan(names, dates, calendar.is_working_day, zone, seed, rate)
    lines, labels = inject(sim.events, incidents, seed)
    alerts: list[Alert] = []
    engine = Engine(load_rules())
    source = (SourceLine("ops-eval", i, text) for i, text in enumerate(lines, start=1))
    replay(source, engine, alerts.append, lambda _letter: None)
    return evaluate_ops(alerts, labels, float(days * len(names))), alerts
