"""Exposing the metric catalogue: an HTTP ``/metrics`` server, a Pushgateway push, engine gauges.

The catalogue (:mod:`monitor.metrics`) only holds collectors; this module does the I/O. Servers
bind to ``127.0.0.1`` unless told otherwise, and always serve the registry they are given.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, push_to_gateway, start_http_server

from monitor.engine import Engine
from monitor.metrics import RiskmonMetrics

__all__ = ["EngineGauges", "MetricsServer", "push_metrics", "serve_metrics"]


@dataclass(frozen=True)
class MetricsServer:
    """A running ``/metrics`` server; ``port`` is the bound port (useful when 0 was asked)."""

    addr: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.addr}:{self.port}/metrics"


@contextmanager
def serve_metrics(
    port: int, registry: CollectorRegistry, addr: str = "127.0.0.1"
) -> Iterator[MetricsServer]:
    """Serve ``registry`` on ``addr:port`` while the block runs; the socket is closed after."""
    server, thread = start_http_server(port, addr=addr, registry=registry)
    try:
        yield MetricsServer(addr, int(server.server_port))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def push_metrics(
    gateway: str, registry: CollectorRegistry, *, job: str = "riskmon", instance: str | None = None
) -> str:
    """Push ``registry`` to a Pushgateway under ``{job, instance}``; returns the instance used.

    ``instance`` defaults to the host name, so two replays on two hosts never overwrite each other.
    """
    name = instance or socket.gethostname()
    push_to_gateway(gateway, job=job, registry=registry, grouping_key={"instance": name})
    return name


class EngineGauges:
    """Refresh the state gauges of an in-process :class:`Engine`, at most every ``interval`` s.

    An update walks the whole state, so the interval stretches to keep it under ``budget`` (a
    share of the wall time): about 2% by default, however large the state grows.
    """

    def __init__(
        self, engine: Engine, metrics: RiskmonMetrics, interval: float = 1.0, budget: float = 0.02
    ) -> None:
        self.engine = engine
        self.metrics = metrics
        self.base = self.interval = interval
        self.budget = budget
        self._last = float("-inf")
        metrics.init_stages(stage.name for stage in engine.stages)

    def maybe_update(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self.update()
            self._last = time.monotonic()
            self.interval = max(self.base, (self._last - now) / self.budget)

    def update(self) -> None:
        """Entries, pending deadlines and watermark lag of every stage."""
        marks = self.engine.watermarks
        wall = time.time()
        pending = self.engine.pending_deadlines()
        for stage in self.engine.stages:
            mapping = self.engine.state[stage.name]
            self.metrics.state_entries.labels(stage.name).set(len(mapping))
            self.metrics.deadlines_pending.labels(stage.name).set(pending[stage.name])
            if stage.name in marks:
                self.metrics.watermark_lag.labels(stage.name).set(wall - marks[stage.name])
