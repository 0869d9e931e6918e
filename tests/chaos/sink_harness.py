"""Helpers for the sink chaos scenarios: a TCP proxy that can cut a service off, and a dispatcher
run in a thread of the test process on the real alerts topic.

The proxy is how PostgreSQL and Alertmanager "go down" without losing their data: ``down()``
closes its listening socket and every open connection (clients see a reset or a refused
connection, as when the server dies), ``up()`` listens again on the same port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from prometheus_client import CollectorRegistry

from alerts.pipeline import AlertPipeline
from alerts.store import AlertStore
from streams.dispatch import DispatchConfig, DispatchStats, dispatch, open_pipeline


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target`` until :meth:`down`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            listener.close()
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


class DispatcherThread:
    """``streams.dispatch.dispatch`` on the alerts ``topic``, in a thread, until :meth:`stop`.

    ``on_poll`` is called before each poll with the stats and the pipeline (to sample figures).
    """

    def __init__(
        self,
        config: DispatchConfig,
        bootstrap: str,
        group: str,
        on_poll: Callable[[DispatchStats, AlertPipeline], None] | None = None,
    ) -> None:
        self.config, self.bootstrap, self.group = config, bootstrap, group
        self.on_poll = on_poll
        self.stats: DispatchStats | None = None
        self.error: BaseException | None = None
        self.pipeline: AlertPipeline | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def _run(self) -> None:
        try:
            with open_pipeline(self.config, CollectorRegistry()) as (pipeline, _store):
                self.pipeline = pipeline
                consumer = KafkaConsumer(
                    self.config.alerts_topic,
                    bootstrap_servers=self.bootstrap,
                    group_id=self.group,
                    enable_auto_commit=False,
                    auto_offset_reset="earliest",
                    session_timeout_ms=6000,
                    heartbeat_interval_ms=2000,
                )
                try:
                    self._ready.set()

                    def stop(stats: DispatchStats) -> bool:
                        if self.on_poll is not None:
                            self.on_poll(stats, pipeline)
                        return self._stopping.is_set()

                    self.stats = dispatch(consumer, pipeline, should_stop=stop, backoff=0.5)
                finally:
                    consumer.close()
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self._ready.set()

    def start(self) -> DispatcherThread:
        self._thread.start()
        self._ready.wait(60)
        return self

    def stop(self) -> DispatchStats:
        self._stopping.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the dispatcher did not stop"
        if self.error is not None:
            raise AssertionError(f"dispatcher failed: {self.error!r}") from self.error
        assert self.stats is not None
        return self.stats


@contextmanager
def running(dispatcher: DispatcherThread) -> Iterator[DispatcherThread]:
    dispatcher.start()
    try:
        yield dispatcher
    finally:
        if dispatcher._thread.is_alive():
            dispatcher._stopping.set()
            dispatcher._thread.join(timeout=120)


def send(bootstrap: str, topic: str, alerts: list[str], rate: float = 0.0) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for raw in alerts:
            producer.send(topic, value=raw.encode())
            if rate:
                time.sleep(1 / rate)
    finally:
        producer.flush()
        producer.close()


def alert_id_of(raw: str) -> str:
    return raw.split('"alert_id":"')[1][:32]


def store_ids(url: str, wanted: set[str]) -> list[str]:
    """Our alert ids in the store (the store may hold other tests' alerts)."""
    with AlertStore.open(url) as store:
        return [
            s.alert.alert_id
            for s in store.list_alerts(limit=1_000_000)
            if s.alert.alert_id in wanted
        ]


def dead_lettered_ids(path: Path) -> list[str]:
    import json

    if not path.exists():
        return []
    return [
        a["alert_id"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
        for a in json.loads(line)["notification"]["alerts"]
    ]


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
