"""Per-rule quality telemetry from the alert store, collected when Prometheus scrapes.

- ``riskmon_alert_store_alerts{rule_id, pack_version, status}``: alerts by lifecycle status.
  Precision per rule is ``resolved / (resolved + false_positive)`` in PromQL.
- ``riskmon_alert_disposition_seconds{rule_id, label}``: a summary (count and sum) of the time
  from first storing an alert to closing it, by tuning label.

Labels are rule ids, pack versions, statuses and labels only: never an alert or account id.
Register on the caller's registry: ``registry.register(AlertStoreCollector(store))``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from alerts.store.lifecycle import label_for
from alerts.store.store import AlertStore
from alerts.store.tables import alerts

__all__ = ["AlertStoreCollector"]


class AlertStoreCollector(Collector):
    """Reads counts and disposition times from the store at each scrape."""

    def __init__(self, store: AlertStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        counts_query = sa.select(
            alerts.c.rule_id, alerts.c.pack_version, alerts.c.status, sa.func.count()
        ).group_by(alerts.c.rule_id, alerts.c.pack_version, alerts.c.status)
        closed_query = sa.select(
            alerts.c.rule_id, alerts.c.status, alerts.c.first_seen_at, alerts.c.status_changed_at
        ).where(alerts.c.status.in_(("resolved", "false_positive")))
        with self.store.engine.connect() as connection:
            counts = connection.execute(counts_query).all()
            closed = connection.execute(closed_query).all()

        stored = GaugeMetricFamily(
            "riskmon_alert_store_alerts",
            "Alerts in the alert store by rule, pack version and lifecycle status.",
            labels=["rule_id", "pack_version", "status"],
        )
        for rule_id, pack_version, status, count in counts:
            stored.add_metric([rule_id, pack_version, status], float(count))
        yield stored

        seconds: dict[tuple[str, str], float] = defaultdict(float)
        closed_count: Counter[tuple[str, str]] = Counter()
        for rule_id, status, first_seen_at, closed_at in closed:
            key = (rule_id, label_for(status) or status)
            seconds[key] += max(0.0, (closed_at - first_seen_at).total_seconds())
            closed_count[key] += 1
        disposition = SummaryMetricFamily(
            "riskmon_alert_disposition_seconds",
            "Time from storing an alert to closing it, by rule and tuning label.",
            labels=["rule_id", "label"],
        )
        for key in sorted(closed_count):
            disposition.add_metric(list(key), closed_count[key], seconds[key])
        yield disposition
