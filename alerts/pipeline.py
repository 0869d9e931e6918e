"""The alert pipeline: route, silence, group, rate-limit, then hand notifications to sinks.

Quix-streams style: ``add(alert)`` per record, ``flush()`` at commit. A sink that fails never
stops the other sinks; the :class:`FlushReport` says which failed, so the caller commits its
input offsets only when ``report.ok`` (at-least-once; the argument is in docs/architecture.md,
"Delivery guarantee").

Silences: an alert a silence covers reaches only routes with ``ignore_silences`` (the store's,
by default), and the notification carries which silence covered it, so the store records it on
the alert and in its history. What riskmon groups and silences itself, and what it leaves to
Alertmanager: docs/architecture.md, "Delivery".

>>> import tempfile
>>> from pathlib import Path
>>> from prometheus_client import CollectorRegistry
>>> from alerts.routing import parse_routes
>>> from alerts.sinks import JsonlFileSink, SinkMetrics
>>> registry = CollectorRegistry()
>>> out = Path(tempfile.mkdtemp()) / "alerts.jsonl"
>>> config = parse_routes({"routes": [{"name": "all", "sinks": ["jsonl"]}]})
>>> sinks = {"jsonl": JsonlFileSink(out, metrics=SinkMetrics(registry))}
>>> pipeline = AlertPipeline(config, sinks, registry=registry)
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
from alerts.metrics import PipelineMetrics
from alerts.notification import Notification, group_alerts
from alerts.routing import Route, RouteConfig
from alerts.shadow import RECORDING_SINKS, ShadowGate
from alerts.silences import Silence, is_silenced
from alerts.sinks.base import AlertSink
from alerts.store.store import Clock, utc_now
from monitor.alerts import Alert, delivery_key, mask_alert

__all__ = ["AlertPipeline", "FlushReport", "SilenceSource", "TokenBucket"]

SilenceSource = Callable[[datetime], Sequence[Silence]]


class TokenBucket:
    """Holds up to ``burst`` tokens, refilled at ``rate_per_second``; one token per notification.

    >>> bucket = TokenBucket(rate_per_second=1.0, burst=2, now=0.0)
    >>> [bucket.try_take(0.0), bucket.try_take(0.0), bucket.try_take(0.0)]
    [True, True, False]
    >>> bucket.try_take(1.0)
    True
    """

    def __init__(self, rate_per_second: float, burst: int, *, now: float) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def try_take(self, now: float) -> bool:
        """Take one token at time ``now`` (seconds); False when the bucket is empty."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


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
        """Take one alert for the next :meth:`flush`. Repeats within a batch collapse (an
        incident's resolution is not a repeat of its firing alert)."""
        self._pending.setdefault(delivery_key(alert), alert)

    def pending(self) -> int:
        """Alerts added and notifications held back by rate limits, not yet handed to sinks."""
        return len(self._pending) + sum(len(queue) for queue in self._backlog.values())

    def held(self) -> set[str]:
        """Delivery keys (:func:`monitor.alerts.delivery_key`) of the alerts not yet handed to
        every sink they are routed to: added since the last flush, or in a notification a rate
        limit holds back.

        Whoever commits the source of these alerts must not commit past them: they exist only
        in this process until a later :meth:`flush` hands them over.
        """
        ids = set(self._pending)
        for queue in self._backlog.values():
            for notification in queue:
                ids.update(delivery_key(alert) for alert in notification.alerts)
        return ids

    def _route(self, alerts: Sequence[Alert], now: datetime, report: FlushReport) -> None:
        active = list(self.silences(now))
        per_sink: dict[str, dict[str, tuple[Route, list[Alert]]]] = {}
        silenced_by: dict[str, str] = {}
        for alert in alerts:
            self.shadow.count(alert)
            routes = self.config.routes_for(alert)
            if not routes:
                report.unrouted += 1
                self.metrics.unrouted.labels(alert.rule_id).inc()
                continue
            silence = is_silenced(alert, active, now)
            silenced = silence is not None
            if silence is not None:
                silenced_by[alert.alert_id] = silence.silence_id
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
                within = window if route.group else timedelta(0)
                self._backlog[sink].extend(group_alerts(route.name, routed, within, silenced_by))

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
        try:
            self._route(batch, now, report)
        except Exception as exc:  # the silence source (the store) is down: keep, retry later
            self._pending = {delivery_key(alert): alert for alert in batch}
            report.failed["silences"] = f"{type(exc).__name__}: {exc}"
            return report
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
