"""Prometheus metrics of the alerts package, registered on a registry the caller passes in.

Labels stay low-cardinality: a sink name, a route name, a rule id. Never an alert or account id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from monitor.metrics import RiskmonMetrics, SinkCounters, sink_counters

__all__ = ["PipelineMetrics", "SinkMetrics"]


class SinkMetrics:
    """Counters every sink reports to, labelled by ``sink``.

    The counters are defined once, in the metric catalogue (:func:`monitor.metrics.sink_counters`).
    Make one ``SinkMetrics`` per registry, or share a catalogue's with :meth:`from_catalogue`.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, counters: SinkCounters | None = None
    ) -> None:
        if counters is None:
            if registry is None:
                raise TypeError("SinkMetrics needs a registry or the catalogue's counters")
            counters = sink_counters(registry)
        self.sent, self.failed, self.retried, self.dead_lettered = counters

    def declare(self, sink: str) -> None:
        """Start ``sink``'s series at zero, so that ``increase()`` sees its first failure."""
        for counter in (self.sent, self.failed, self.retried, self.dead_lettered):
            counter.labels(sink)

    @classmethod
    def from_catalogue(cls, metrics: RiskmonMetrics) -> SinkMetrics:
        """Report to the sink counters of an existing catalogue (same registry, no duplicates)."""
        return cls(
            counters=SinkCounters(
                metrics.sink_sent, metrics.sink_failed, metrics.sink_retried,
                metrics.sink_dead_lettered,
            )
        )  # fmt: skip


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
