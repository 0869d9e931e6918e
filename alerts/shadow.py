"""Shadow alerts: stored and counted, never delivered to a risk officer.

A rule in ``mode: shadow`` runs on live traffic; its alerts carry the ``shadow`` tag. The
pipeline hands them only to the sinks that keep a record (the alert store), counts them in
``riskmon_shadow_alerts_total{rule_id}``, and never gives them to Alertmanager, a webhook or any
other notifying sink, whatever the routes say.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from monitor.alerts import Alert, is_shadow

__all__ = ["RECORDING_SINKS", "ShadowGate"]

RECORDING_SINKS = frozenset({"store"})
"""Sinks that keep a record without notifying anyone."""


class ShadowGate:
    def __init__(
        self, registry: CollectorRegistry, recording_sinks: frozenset[str] = RECORDING_SINKS
    ) -> None:
        self.recording_sinks = recording_sinks
        self.counted = Counter(
            "riskmon_shadow_alerts",
            "Alerts of shadow rules: stored, never delivered to a risk officer.",
            ["rule_id"],
            registry=registry,
        )

    def count(self, alert: Alert) -> None:
        if is_shadow(alert):
            self.counted.labels(alert.rule_id).inc()

    def allows(self, alert: Alert, sink: str) -> bool:
        """A live alert goes wherever it is routed; a shadow alert only to recording sinks."""
        return not is_shadow(alert) or sink in self.recording_sinks
