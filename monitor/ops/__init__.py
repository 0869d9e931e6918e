"""Operations monitoring: per-branch KPIs kept in event time and ``operations`` alerts.

:class:`~monitor.ops.kpi.OpsStage` is a keyed stage (key: the branch) run by replay and the worker
like the rule stages; see its module for the KPIs, the business calendar and the incidents.
"""

from monitor.ops.kpi import OPS_META, OpsStage, default_calendar, ruleset_calendar

__all__ = ["OPS_META", "OpsStage", "default_calendar", "ruleset_calendar"]
