"""The alert pipeline: grouping, silences, rate limits, language routes and sink isolation.

Sinks here are the real store (SQLite), a real webhook receiver and the in-memory sink.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.errors import RouteConfigError
from alerts.metrics import SinkMetrics
from alerts.pipeline import AlertPipeline
from alerts.routing import parse_routes
from alerts.silences import SilenceMatchers
from alerts.sinks import RetryPolicy, StoreSink, WebhookSink
from alerts.store import AlertStore
from tests.alerts.alertkit import T0, MemorySink, SettableClock, SleepRecorder, make_alert, who
from tests.alerts.receiver import free_port

ROUTES = {
    "group_window_seconds": 300,
    "routes": [
        {"name": "record", "sinks": ["store"], "ignore_silences": True, "group": False},
        {"name": "officers", "match": {"severity": ["high", "critical"]}, "language": "en",
         "sinks": ["officers"]},
        {"name": "officers-zh", "language": "zh-CN", "sinks": ["officers_zh"]},
    ],
}  # fmt: skip


@pytest.fixture
def sqlite_store(tmp_path: Path, clock: SettableClock) -> Iterator[AlertStore]:
    with AlertStore.open(f"sqlite:///{tmp_path / 'a.db'}", clock=clock) as store:
        yield store


def build(
    store: AlertStore,
    clock: SettableClock,
    registry: CollectorRegistry,
    routes: dict[str, object] = ROUTES,
) -> tuple[AlertPipeline, MemorySink, MemorySink]:
    officers, officers_zh = MemorySink("officers"), MemorySink("officers_zh")
    sinks = {
        "store": StoreSink(store, metrics=SinkMetrics(registry)),
        "officers": officers,
        "officers_zh": officers_zh,
    }
    pipeline = AlertPipeline(
        parse_routes(routes), sinks, registry=registry, clock=clock,
        silences=lambda at: store.list_silences(active_at=at),
    )  # fmt: skip
    return pipeline, officers, officers_zh


def test_a_burst_of_one_rule_and_entity_becomes_one_notification_with_the_count(
    sqlite_store: AlertStore, clock: SettableClock, registry: CollectorRegistry
) -> None:
    pipeline, officers, _ = build(sqlite_store, clock, registry)
    burst = [make_alert(occurred_at=T0 + timedelta(seconds=10 * i)) for i in range(5)]
    late = make_alert(occurred_at=T0 + timedelta(minutes=30))
    other_entity = make_alert(entity_id="************9999", occurred_at=T0 + timedelta(minutes=1))
    for alert in [*burst, late, other_entity]:
        pipeline.add(alert)

    report = pipeline.flush()

    assert report.ok
    assert [n.count for n in officers.delivered] == [5, 1, 1]
    assert officers.delivered[0].alerts == tuple(burst)
    assert "(+4 more, 5 alerts in this group)" in officers.delivered[0].summary
    assert sqlite_store.count() == 7  # the store route does not group
    assert report.notifications == {"store": 7, "officers": 3}


def test_routes_pick_alerts_by_language(
    sqlite_store: AlertStore, clock: SettableClock, registry: CollectorRegistry
) -> None:
    pipeline, officers, officers_zh = build(sqlite_store, clock, registry)
    english, chinese = make_alert(language="en"), make_alert(language="zh-CN", message="大额")
    pipeline.add(english)
    pipeline.add(chinese)
    pipeline.flush()
    assert [n.first for n in officers.delivered] == [english]
    assert [n.first for n in officers_zh.delivered] == [chinese]


def test_silences_suppress_notifications_but_the_store_still_records(
    sqlite_store: AlertStore, clock: SettableClock, registry: CollectorRegistry
) -> None:
    silence = sqlite_store.add_silence(
        SilenceMatchers(branch_id=("BR002",)), ends_at=T0 + timedelta(hours=1),
        by=who(sqlite_store, "zhang.min"), reason="branch migration", ticket="CHG-77",
    )  # fmt: skip
    pipeline, officers, _ = build(sqlite_store, clock, registry)
    pending = make_alert(branch_id="BR002")
    pipeline.add(pending)
    assert pipeline.flush().suppressed == 0  # not approved yet: nothing is suppressed
    sqlite_store.approve_silence(silence.silence_id, by=who(sqlite_store, "li.wei"))
    silenced, loud = make_alert(branch_id="BR002"), make_alert(branch_id="BR001")
    pipeline.add(silenced)
    pipeline.add(loud)

    report = pipeline.flush()

    assert report.suppressed == 1
    assert [n.first for n in officers.delivered] == [pending, loud]
    assert sqlite_store.count() == 3
    suppressed = registry.get_sample_value(
        "riskmon_alerts_suppressed_total", {"rule_id": silenced.rule_id}
    )
    assert suppressed == 1

    clock.advance(3600)  # the silence has ended
    again = make_alert(branch_id="BR002")
    pipeline.add(again)
    assert pipeline.flush().suppressed == 0
    assert officers.delivered[-1].first == again


def test_rate_limits_hold_notifications_back_until_tokens_return(
    sqlite_store: AlertStore, clock: SettableClock, registry: CollectorRegistry
) -> None:
    routes = {
        "group_window_seconds": 0,
        "routes": [{"name": "officers", "sinks": ["officers"]}],
        "rate_limits": {"officers": {"rate_per_second": 0.5, "burst": 2}},
    }
    pipeline, officers, _ = build(sqlite_store, clock, registry, routes)
    for _ in range(5):
        pipeline.add(make_alert())

    first = pipeline.flush()
    clock.advance(2)  # one token back
    second = pipeline.flush()
    clock.advance(60)
    third = pipeline.flush()

    assert (first.notifications, first.deferred) == ({"officers": 2}, {"officers": 3})
    assert (second.notifications, second.deferred) == ({"officers": 1}, {"officers": 2})
    assert (third.notifications, third.deferred) == ({"officers": 2}, {})
    assert len(officers.delivered) == 5
    assert pipeline.pending() == 0


def test_redelivery_within_a_batch_and_across_batches_stores_once(
    sqlite_store: AlertStore, clock: SettableClock, registry: CollectorRegistry
) -> None:
    pipeline, _, _ = build(sqlite_store, clock, registry)
    alerts = [make_alert() for _ in range(4)]
    for _ in range(3):
        for alert in [*alerts, *alerts]:
            pipeline.add(alert)
        assert pipeline.flush().alerts == 4
    assert sqlite_store.count() == 4
    assert {s.delivery_count for s in sqlite_store.list_alerts()} == {3}


def test_a_failing_sink_blocks_no_other_sink(
    sqlite_store: AlertStore,
    clock: SettableClock,
    registry: CollectorRegistry,
    http_client: httpx.Client,
    sleeps: SleepRecorder,
) -> None:
    down = WebhookSink(
        f"http://127.0.0.1:{free_port()}/hook", client=http_client,
        metrics=SinkMetrics(registry), retry=RetryPolicy(attempts=2), sleep=sleeps,
    )  # fmt: skip
    officers = MemorySink("officers")
    routes = {"routes": [{"name": "all", "sinks": ["webhook", "store", "officers"]}]}
    sinks = {"webhook": down, "store": StoreSink(sqlite_store, metrics=down.metrics),
             "officers": officers}  # fmt: skip
    pipeline = AlertPipeline(parse_routes(routes), sinks, registry=registry, clock=clock)
    alert = make_alert()
    pipeline.add(alert)

    report = pipeline.flush()

    assert not report.ok
    assert set(report.failed) == {"webhook"}
    assert "after 2 attempt" in report.failed["webhook"]
    assert sqlite_store.get(alert.alert_id).alert == alert
    assert [n.first for n in officers.delivered] == [alert]
    assert down.pending() == 1  # kept for the next flush: nothing is lost


def test_a_route_naming_an_unknown_sink_is_refused(
    clock: SettableClock, registry: CollectorRegistry
) -> None:
    config = parse_routes({"routes": [{"name": "a", "sinks": ["pager"]}]})
    with pytest.raises(RouteConfigError, match=r"routes\.0\.sinks\.0: unknown sink 'pager'"):
        AlertPipeline(config, {"memory": MemorySink()}, registry=registry, clock=clock)


def test_unrouted_alerts_are_counted(clock: SettableClock, registry: CollectorRegistry) -> None:
    config = parse_routes({"routes": [{"name": "a", "match": {"severity": ["critical"]},
                                       "sinks": ["memory"]}]})  # fmt: skip
    pipeline = AlertPipeline(config, {"memory": MemorySink()}, registry=registry, clock=clock)
    pipeline.add(make_alert(severity="low"))
    assert pipeline.flush().unrouted == 1


def test_each_route_gets_the_message_in_its_language(
    sqlite_store: AlertStore, clock: SettableClock
) -> None:
    # Engine alerts carry every rendering; the English route and the Chinese route each get theirs.
    pipeline, officers, officers_zh = build(sqlite_store, clock, CollectorRegistry())
    alert = make_alert(
        language="en",
        message="Large cash deposit",
        messages={"en": "Large cash deposit", "zh-CN": "大额现金存款"},
    )
    pipeline.add(alert)
    assert pipeline.flush().ok
    (english,) = [a for n in officers.delivered for a in n.alerts]
    (chinese,) = [a for n in officers_zh.delivered for a in n.alerts]
    assert (english.language, english.message) == ("en", "Large cash deposit")
    assert (chinese.language, chinese.message) == ("zh-CN", "大额现金存款")
    assert english.alert_id == chinese.alert_id


def test_sinks_outside_the_store_never_see_full_account_numbers(
    sqlite_store: AlertStore, clock: SettableClock
) -> None:
    # An engine run with masking off (so a permitted store keeps full values) must not leak
    # account numbers to people-facing sinks.
    registry = CollectorRegistry()
    officers, officers_zh = MemorySink("officers"), MemorySink("officers_zh")
    pipeline = AlertPipeline(
        parse_routes(ROUTES),
        {"store": StoreSink(sqlite_store, metrics=SinkMetrics(registry)),
         "officers": officers, "officers_zh": officers_zh},
        registry=registry, clock=clock, unmasked_sinks=frozenset({"store"}),
    )  # fmt: skip
    full = "6222020200005678"
    pipeline.add(
        make_alert(
            entity_id=full,
            message=f"Transfer from account {full}",
            messages={"en": f"Transfer from account {full}", "zh-CN": f"账户 {full} 转账"},
            explanation={"account_id": full, "amount": "1000000.00"},
        )
    )
    assert pipeline.flush().ok
    delivered = [a for sink in (officers, officers_zh) for n in sink.delivered for a in n.alerts]
    assert len(delivered) == 2
    for alert in delivered:
        assert full not in alert.model_dump_json()
        assert alert.entity_id == "************5678"
        assert "************5678" in alert.message
