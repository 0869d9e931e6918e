"""Prometheus metrics of the alerts package, registered on a registry the caller passes in.

Labels stay low-cardinality: a sink name, a route name, a rule id. Never an alert or account id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["PipelineMetrics", "SinkMetrics"]


class SinkMetrics:
    """Counters every sink reports to, labelled by ``sink``. Make one per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "riskmon_sink_sent", "Notifications a sink delivered.", ["sink"], registry=registry
        )
        self.failed = Counter(
            "riskmon_sink_failed",
            "Notifications a sink could not deliver after all its attempts.",
            ["sink"],
            registry=registry,
        )
        self.retried = Counter(
            "riskmon_sink_retried",
            "Delivery attempts a sink repeated.",
            ["sink"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "riskmon_sink_dead_lettered",
            "Notifications a sink wrote to its dead-letter file.",
            ["sink"],
            registry=registry,
        )


class PipelineMetrics:
    """Counters of the alert pipeline: suppressed by silences, unrouted, deferred by rate limits."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.suppressed = Counter(
            "riskmon_alerts_suppressed",
            "Alerts a silence kept from at least one route.",
            ["rule_id"],
            registry=registry,
        )
        self.unrouted = Counter(
            "riskmon_alerts_unrouted", "Alerts no route matched.", ["rule_id"], registry=registry
        )
        self.rate_limited = Counter(
            "riskmon_sink_rate_limited",
            "Notifications held back to a later flush by a sink's rate limit.",
            ["sink"],
            registry=registry,
        )
        self.notifications = Counter(
            "riskmon_notifications",
            "Notifications the pipeline handed to a sink.",
            ["sink"],
            registry=registry,
        )
