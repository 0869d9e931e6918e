"""Chaos for the sinks behind `riskmon dispatch`: outage, slow webhook, full disk.

The dispatch loop (``streams.dispatch.dispatch`` with the sinks of ``open_pipeline``) runs in a
thread of the test process on a real alerts topic; the store is a real PostgreSQL, Alertmanager
and the webhook receiver are real servers, and their outages are real (closed ports, reset
connections, a full tmpfs).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.sinks import AlertmanagerSink, BufferedSink, WebhookSink
from alerts.sinks.deadletter import replay_dead_letters
from streams.dispatch import DispatchConfig, DispatchStats
from tests.alerts.receiver import free_port, webhook_receiver
from tests.chaos.chaos_harness import Figures, until
from tests.chaos.sink_harness import (
    DispatcherThread,
    TcpProxy,
    alert_id_of,
    dead_lettered_ids,
    rss_kib,
    running,
    send,
    store_ids,
)
from tests.chaos.test_dispatch_chaos import many_alerts
from tests.fixtures_kafka import broker_tool, unique_topic_name
from tools.services import ServerHandle

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def am_alert_ids(url: str) -> set[str]:
    response = httpx.get(f"{url}/api/v2/alerts", timeout=10)
    response.raise_for_status()
    return {a["labels"]["alert_id"] for a in response.json() if "alert_id" in a["labels"]}


def sink(pipeline: AlertPipeline, name: str) -> BufferedSink:
    found = pipeline.sinks[name]
    assert isinstance(found, BufferedSink)
    return found


@pytest.mark.services
def test_sink_outage(
    kafka_bootstrap: str, tmp_path: Path, postgres_url: str, alertmanager: ServerHandle
) -> None:
    """Webhook, Alertmanager and PostgreSQL down for a while: nothing lost, nothing doubled."""
    alerts = many_alerts(160)
    expected = {alert_id_of(a) for a in alerts}
    topic = unique_topic_name("sink-outage")
    broker_tool.create_topics(kafka_bootstrap, {topic: 2})
    pg_port = int(postgres_url.rsplit(":", 1)[1].split("/")[0])
    pg, am = TcpProxy(pg_port), TcpProxy(alertmanager.port)
    store_url = postgres_url.replace(f":{pg_port}/", f":{pg.port}/")
    hook_port = free_port()
    dl = tmp_path / "dl"
    config = DispatchConfig(
        store_url=store_url,
        alertmanager_url=f"http://127.0.0.1:{am.port}",
        webhook_url=f"http://127.0.0.1:{hook_port}/hook",
        dead_letter_dir=dl,
        alerts_topic=topic,
    )
    held: list[int] = []

    def sample(_stats: DispatchStats, pipeline: AlertPipeline) -> None:
        held.append(max(sink(pipeline, n).pending() for n in pipeline.sinks))
        # Alertmanager merges alerts with equal labels; an alert_id label keeps them apart.
        am_sink = pipeline.sinks["alertmanager"]
        assert isinstance(am_sink, AlertmanagerSink)
        am_sink.id_label = True

    dispatcher = DispatcherThread(config, kafka_bootstrap, unique_topic_name("d"), sample)
    accepted: list[str] = []
    with running(dispatcher):
        with webhook_receiver(port=hook_port) as hook:
            send(kafka_bootstrap, topic, alerts[:40])
            assert until(lambda: len(set(hook.accepted_alert_ids())) >= 40, 60) is not None
            accepted += hook.accepted_alert_ids()
        # The webhook and Alertmanager go, then PostgreSQL too; alerts keep coming.
        am.down()
        send(kafka_bootstrap, topic, alerts[40:100])
        parking = until(lambda: len(dead_lettered_ids(dl / "webhook.jsonl")) >= 10, 60)
        assert parking is not None, "the webhook's outage was not felt"
        pg.down()  # with the store, the silences are gone: every flush fails and is retried
        send(kafka_bootstrap, topic, alerts[100:])
        time.sleep(10)
        down_store = len(store_ids(postgres_url, expected))
        with webhook_receiver(port=hook_port) as hook:
            pg.up()
            am.up()
            recovered = until(lambda: len(store_ids(store_url, expected)) >= len(alerts), 90)
            assert recovered is not None, (
                f"the store did not catch up: {len(store_ids(store_url, expected))} stored, "
                f"held={held[-5:]}, error={dispatcher.error!r}"
            )
            time.sleep(2)  # the webhook is flushed after the store
            accepted += hook.accepted_alert_ids()
        stats = dispatcher.stop()
        # What the webhook and Alertmanager sinks gave up on is in their dead-letter files.
        parked = set(dead_lettered_ids(dl / "webhook.jsonl"))
        parked_am = set(dead_lettered_ids(dl / "alertmanager.jsonl"))
        with webhook_receiver(port=hook_port) as hook, httpx.Client() as client:
            metrics = SinkMetrics(CollectorRegistry())
            webhook = WebhookSink(config.webhook_url or "", client=client, metrics=metrics)
            manager = AlertmanagerSink(
                config.alertmanager_url or "", client=client, metrics=metrics, id_label=True
            )
            replay_dead_letters(dl / "webhook.jsonl", webhook)
            replay_dead_letters(dl / "alertmanager.jsonl", manager)
            accepted += hook.accepted_alert_ids()
    in_store = store_ids(store_url, expected)
    in_am = am_alert_ids(f"http://127.0.0.1:{am.port}")
    pg.down()
    am.down()
    assert len(in_store) == len(set(in_store)), "an alert is doubled in the store"
    assert expected <= set(accepted), "the webhook misses alerts after dead-letter replay"
    assert expected <= in_am, "Alertmanager misses alerts after dead-letter replay"
    assert parked and parked_am, "the outage dead-lettered nothing: it was not felt"
    assert down_store < len(alerts), "the store's outage was not felt"
    note = (
        f"store held {down_store} while down; dead-lettered webhook={len(parked)} "
        f"alertmanager={len(parked_am)}, replayed; max held in a sink={max(held)}; "
        f"{stats.failed_flushes} failed flushes"
    )
    Figures("sink_outage", len(alerts), expected, in_store, recovered, note).report()
    assert max(held) <= len(alerts), "a sink's buffer grew past what was sent"


def test_slow_sink(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A webhook answering in 30 ms: the dispatcher holds at most one poll of alerts at a time."""
    alerts = many_alerts(700)
    expected = {alert_id_of(a) for a in alerts}
    topic = unique_topic_name("slow-sink")
    broker_tool.create_topics(kafka_bootstrap, {topic: 2})
    send(kafka_bootstrap, topic, alerts)  # the whole backlog is there before dispatch starts
    with webhook_receiver() as hook:
        handle = hook.handle

        seen: list[DispatchStats] = []
        in_flight: list[int] = []

        def slow(body: bytes, signature: str | None) -> int:
            # Sampled while the dispatcher waits on the webhook: what it took but did not deliver.
            if seen:
                in_flight.append(seen[0].received - len(set(hook.accepted_alert_ids())))
            time.sleep(0.03)
            return handle(body, signature)

        hook.handle = slow  # type: ignore[method-assign]
        config = DispatchConfig(
            store_url=f"sqlite:///{tmp_path / 'alerts.db'}",
            webhook_url=hook.url,
            dead_letter_dir=tmp_path / "dl",
            alerts_topic=topic,
        )
        rss: list[int] = [rss_kib()]

        def sample(stats: DispatchStats, pipeline: AlertPipeline) -> None:
            seen[:] = [stats]
            rss.append(rss_kib())

        began = time.monotonic()
        with running(DispatcherThread(config, kafka_bootstrap, unique_topic_name("d"), sample)):
            done = until(lambda: expected <= set(hook.accepted_alert_ids()), 120)
        assert done is not None, f"{len(set(hook.accepted_alert_ids()))} of {len(alerts)} came"
        delivered = hook.accepted_alert_ids()
    growth = (max(rss) - rss[0]) / 1024
    note = (
        f"webhook 30 ms a request, {hook.requests} requests; max alerts taken but not yet "
        f"delivered={max(in_flight)} (bound 500, one poll); RSS growth {growth:.1f} MiB"
    )
    Figures("slow_sink", len(alerts), expected, delivered, time.monotonic() - began, note).report()
    assert max(in_flight) <= 500, "the dispatcher consumed ahead of its slow sink"
    assert growth < 64, f"RSS grew by {growth:.1f} MiB"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only), unmounted at the end."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs (the chaos suite runs as root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_dead_letter_disk_full(kafka_bootstrap: str, tmp_path: Path, small_disk: Path) -> None:
    """The dead-letter disk fills while the webhook is down: the dispatcher holds its offsets
    with a clear error; once space returns and it restarts, every alert is there."""
    alerts = many_alerts(200)
    expected = {alert_id_of(a) for a in alerts}
    topic, group = unique_topic_name("disk-full"), unique_topic_name("d")
    broker_tool.create_topics(kafka_bootstrap, {topic: 2})
    filler = small_disk / "filler"
    with filler.open("wb") as out:  # leave about 12 KiB free
        free = lambda: shutil.disk_usage(small_disk).free  # noqa: E731
        out.write(b"\0" * max(0, free() - 12 * 1024))
    dl = small_disk / "dl"
    config = DispatchConfig(
        store_url=f"sqlite:///{tmp_path / 'alerts.db'}",
        webhook_url=f"http://127.0.0.1:{free_port()}/hook",  # nothing listens: the webhook is down
        dead_letter_dir=dl,
        alerts_topic=topic,
    )
    send(kafka_bootstrap, topic, alerts)
    failed: list[int] = []
    dispatcher = DispatcherThread(
        config, kafka_bootstrap, group, lambda s, _p: failed.append(s.failed_flushes)
    )
    with running(dispatcher):
        stuck = until(lambda: bool(failed) and failed[-1] >= 2, 60)
        assert stuck is not None, "the full disk was never felt"
        stats = dispatcher.stop()
    parked_full = dead_lettered_ids(dl / "webhook.jsonl")  # readable: no torn line
    assert set(parked_full) < expected, "everything fit: the disk was not full"
    probe = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        committed = sum(probe.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
    finally:
        probe.close()
    assert committed < len(alerts), "offsets were committed past alerts nobody holds"
    filler.unlink()  # space returns; a new dispatcher takes over the group
    with running(DispatcherThread(config, kafka_bootstrap, group)) as second:
        recovered = until(lambda: expected <= set(dead_lettered_ids(dl / "webhook.jsonl")), 90)
        second.stop()
    parked = dead_lettered_ids(dl / "webhook.jsonl")
    in_store = store_ids(config.store_url, expected)
    assert recovered is not None, f"{len(expected - set(parked))} alerts never dead-lettered"
    assert sorted(in_store) == sorted(expected)
    note = (
        f"1 MiB tmpfs: {len(set(parked_full))} dead-lettered before the disk filled, "
        f"{stats.failed_flushes} failed flushes, {committed} offsets committed; "
        "all in after restart"
    )
    Figures("dead_letter_disk_full", len(alerts), expected, parked, recovered, note).report()
