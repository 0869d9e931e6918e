"""The alert pipeline: route, silence, group, rate-limit, then hand notifications to sinks.

Quix-streams style: ``add(alert)`` per record, ``flush()`` at commit. A sink that fails never
stops the other sinks; the :class:`FlushReport` says which failed, so the caller commits its
input offsets only when ``report.ok`` (at-least-once: redelivered alerts are stored once and
Alertmanager de-duplicates them).

>>> from prometheus_client import CollectorRegistry
>>> from alerts.routing import parse_routes
>>> from alerts.sinks import MemorySink
>>> config = parse_routes({"routes": [{"name": "all", "sinks": ["memory"]}]})
>>> pipeline = AlertPipeline(config, {"memory": MemorySink()}, registry=CollectorRegistry())
>>> pipeline.flush().ok
True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry

from alerts.errors import SinkDeliveryError
from alerts.grouping import group_alerts
from alerts.metrics import PipelineMetrics
from alerts.notification import Notification
from alerts.ratelimit import TokenBucket
from alerts.routing import Route, RouteConfig
from alerts.shadow import RECORDING_SINKS, ShadowGate
from alerts.silences import Silence, is_silenced
from alerts.sinks.base import AlertSink
from alerts.store.store import Clock, utc_now
from monitor.alerts import Alert, mask_alert

__all__ = ["AlertPipeline", "FlushReport", "SilenceSource"]

SilenceSource = Callable[[datetime], Sequence[Silence]]


def no_silences(at: datetime) -> Sequence[Silence]:
    """The default silence source: nothing is silenced."""
    return ()


@dataclass
class FlushReport:
    """What one flush did. ``failed`` maps a sink name to its error message."""

    alerts: int = 0
    suppressed: int = 0
    unrouted: int = 0
    notifications: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every sink took everything it was given (deferred ones wait their turn)."""
        return not self.failed


class AlertPipeline:
    """Routes alerts to named sinks.

    Parameters
    ----------
    config
        The validated route file; every sink it names must be in ``sinks``.
    sinks
        Sinks by name. The caller owns them and closes them.
    registry
        Where the pipeline's counters are registered.
    clock
        The current aware time: for silences and rate limits.
    silences
        Returns the silences active at a time:
        ``lambda at: store.list_silences(active_at=at)``.
    unmasked_sinks
        Sinks that may see full account numbers (the alert store, when a setting allows it).
        Every other sink gets alerts with account numbers masked, whatever the engine rendered.
    recording_sinks
        The only sinks that take alerts of shadow rules (:mod:`alerts.shadow`).
    """

    def __init__(
        self,
        config: RouteConfig,
        sinks: Mapping[str, AlertSink],
        *,
        registry: CollectorRegistry,
        clock: Clock = utc_now,
        silences: SilenceSource = no_silences,
        route_file: str = "<routes>",
        unmasked_sinks: frozenset[str] = frozenset(),
        recording_sinks: frozenset[str] = RECORDING_SINKS,
    ) -> None:
        config.check_sinks(sinks, file=route_file)
        self.config = config
        self.sinks = dict(sinks)
        self.clock = clock
        self.silences = silences
        self.unmasked_sinks = unmasked_sinks
        self.metrics = PipelineMetrics(registry)
        self.shadow = ShadowGate(registry, recording_sinks)
        self._pending: dict[str, Alert] = {}
        self._backlog: dict[str, deque[Notification]] = {name: deque() for name in sinks}
        start = clock().timestamp()
        self._buckets = {
            name: TokenBucket(limit.rate_per_second, limit.burst, now=start)
            for name, limit in config.rate_limits.items()
        }

    def add(self, alert: Alert) -> None:
        """Take one alert for the next :meth:`flush`. Repeats within a batch collapse."""
        self._pending.setdefault(alert.alert_id, alert)

    def pending(self) -> int:
        """Alerts added and notifications held back by rate limits, not yet handed to sinks."""
        return len(self._pending) + sum(len(queue) for queue in self._backlog.values())

    def _route(self, alerts: Sequence[Alert], now: datetime, report: FlushReport) -> None:
        active = list(self.silences(now))
        per_sink: dict[str, dict[str, tuple[Route, list[Alert]]]] = {}
        for alert in alerts:
            self.shadow.count(alert)
            routes = self.config.routes_for(alert)
            if not routes:
                report.unrouted += 1
                self.metrics.unrouted.labels(alert.rule_id).inc()
                continue
            silenced = is_silenced(alert, active, now) is not None
            if silenced and not all(route.ignore_silences for route in routes):
                report.suppressed += 1
                self.metrics.suppressed.labels(alert.rule_id).inc()
            taken: set[str] = set()
            for route in routes:
                if silenced and not route.ignore_silences:
                    continue
                for sink in route.sinks:
                    if sink not in taken and self.shadow.allows(alert, sink):
                        taken.add(sink)
                        per_sink.setdefault(sink, {}).setdefault(route.name, (route, []))[1].append(
                            alert
                        )
        window = timedelta(seconds=self.config.group_window_seconds)
        for sink, by_route in per_sink.items():
            for route, as_routed in by_route.values():
                routed = (
                    [a.in_language(route.language) for a in as_routed]
                    if route.language
                    else as_routed
                )
                if sink not in self.unmasked_sinks:
                    routed = [mask_alert(a) for a in routed]
                if route.group:
                    self._backlog[sink].extend(group_alerts(route.name, routed, window))
                else:
                    self._backlog[sink].extend(group_alerts(route.name, routed, timedelta(0)))

    def _hand_over(self, name: str, now: float, report: FlushReport) -> None:
        queue, bucket = self._backlog[name], self._buckets.get(name)
        sink, handed = self.sinks[name], 0
        while queue and (bucket is None or bucket.try_take(now)):
            sink.add(queue.popleft())
            handed += 1
        if queue:
            report.deferred[name] = len(queue)
            self.metrics.rate_limited.labels(name).inc(len(queue))
        if handed:
            report.notifications[name] = handed
            self.metrics.notifications.labels(name).inc(handed)

    def flush(self) -> FlushReport:
        """Route every added alert and flush every sink; one failing sink never stops another."""
        now = self.clock()
        report = FlushReport(alerts=len(self._pending))
        batch, self._pending = list(self._pending.values()), {}
        self._route(batch, now, report)
        for name, sink in self.sinks.items():
            self._hand_over(name, now.timestamp(), report)
            try:
                sink.flush()
            except SinkDeliveryError as exc:
                report.failed[name] = str(exc)
            # The isolation boundary: even a bug in one sink must not block the others.
            except Exception as exc:
                report.failed[name] = f"{type(exc).__name__}: {exc}"
        return report
