"""One contract suite for the alert store, run over SQLite and the real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from alerts.errors import (
    AlertNotFoundError,
    InvalidSilenceError,
    InvalidTransitionError,
    SilenceNotFoundError,
)
from alerts.silences import SilenceMatchers
from alerts.store import AlertStore, engine_url
from alerts.store.migrate import HEAD, current_revision, upgrade
from alerts.store.tables import history
from tests.alerts.alertkit import T0, SettableClock, make_alert, who


def test_open_migrates_to_head_and_reopening_keeps_data(empty_store_url: str) -> None:
    alert = make_alert()
    with AlertStore.open(empty_store_url) as first:
        assert current_revision(first.engine) == HEAD
        first.upsert(alert)
    with AlertStore.open(empty_store_url) as second:
        assert second.get(alert.alert_id).alert == alert


def test_redelivered_alert_is_stored_once(store: AlertStore, clock: SettableClock) -> None:
    alert = make_alert()

    first = store.upsert(alert)
    clock.advance(60)
    again = [store.upsert(alert), store.upsert(alert)]

    stored = store.get(alert.alert_id)
    assert (first, again) == (True, [False, False])
    assert store.count() == 1
    assert stored.delivery_count == 3
    assert stored.first_seen_at == T0
    assert stored.last_seen_at == T0 + timedelta(seconds=60)
    assert [entry.action for entry in store.history(alert.alert_id)] == ["stored"]


def test_stored_alert_round_trips_every_field(store: AlertStore) -> None:
    alert = make_alert(language="zh-CN", message="大额转账", reason=None, branch_id=None)
    store.upsert(alert)
    stored = store.get(alert.alert_id)
    assert stored.alert == alert
    assert stored.status == "open"


def test_account_ids_are_masked_unless_the_store_allows_full_values(store_url: str) -> None:
    alert = make_alert(entity_id="6222020200001234")
    with AlertStore.open(store_url) as masked:
        masked.upsert(alert)
        assert masked.get(alert.alert_id).alert.entity_id == "************1234"
    other = make_alert(entity_id="6222020200005678")
    with AlertStore.open(store_url, allow_unmasked=True) as full:
        full.upsert(other)
        assert full.get(other.alert_id).alert.entity_id == "6222020200005678"


def test_operator_ids_are_not_masked(store: AlertStore) -> None:
    alert = make_alert(entity_type="operator", entity_id="op-000123")
    store.upsert(alert)
    assert store.get(alert.alert_id).alert.entity_id == "op-000123"


def test_lifecycle_records_actor_time_and_comment(store: AlertStore, clock: SettableClock) -> None:
    alert = make_alert()
    store.upsert(alert)
    clock.advance(10)
    store.acknowledge(alert.alert_id, by=who(store, "li.wei"), comment="looking")
    clock.advance(10)
    closed = store.resolve(alert.alert_id, by=who(store, "li.wei"), comment="confirmed with branch")

    entries = store.history(alert.alert_id)
    assert closed.status == "resolved"
    assert closed.status_changed_at == T0 + timedelta(seconds=20)
    assert [(e.from_status, e.to_status, e.actor, e.comment) for e in entries[1:]] == [
        ("open", "acknowledged", "li.wei", "looking"),
        ("acknowledged", "resolved", "li.wei", "confirmed with branch"),
    ]
    assert [e.at for e in entries] == [T0, T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]


def test_a_caller_may_pass_the_time(store: AlertStore) -> None:
    alert = make_alert()
    store.upsert(alert)
    at = T0 + timedelta(hours=3)
    store.transition(alert.alert_id, "acknowledged", by=who(store, "a"), at=at)
    assert store.history(alert.alert_id)[-1].at == at


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ((), "resolved"),
        ((), "false_positive"),
        (("acknowledged",), "acknowledged"),
        (("acknowledged", "resolved"), "false_positive"),
        (("acknowledged", "false_positive"), "resolved"),
        ((), "open"),
    ],
)
def test_invalid_transitions_are_refused_and_change_nothing(
    store: AlertStore, path: tuple[str, ...], refused: str
) -> None:
    alert = make_alert()
    store.upsert(alert)
    for status in path:
        store.transition(alert.alert_id, status, by=who(store, "a"))  # type: ignore[arg-type]
    before = store.history(alert.alert_id)

    with pytest.raises(InvalidTransitionError, match="cannot become"):
        store.transition(alert.alert_id, refused, by=who(store, "a"))  # type: ignore[arg-type]

    assert store.history(alert.alert_id) == before


def test_unknown_alert_is_reported(store: AlertStore) -> None:
    with pytest.raises(AlertNotFoundError):
        store.get("nope")
    with pytest.raises(AlertNotFoundError):
        store.acknowledge("nope", by=who(store, "a"))


def test_list_filters_and_pages(store: AlertStore) -> None:
    alerts = [
        make_alert(severity="high", occurred_at=T0 + timedelta(minutes=i)) for i in range(5)
    ] + [make_alert(severity="low", category="structuring", occurred_at=T0 - timedelta(days=1))]
    store.upsert_many(alerts)
    store.acknowledge(alerts[0].alert_id, by=who(store, "a"))

    newest_first = [s.alert.alert_id for s in store.list_alerts(severity="high")]
    page = [s.alert.alert_id for s in store.list_alerts(severity="high", limit=2, offset=2)]
    window = store.list_alerts(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))

    assert newest_first == [a.alert_id for a in reversed(alerts[:5])]
    assert page == newest_first[2:4]
    assert [s.alert.alert_id for s in store.list_alerts(category="structuring")] == [
        alerts[5].alert_id
    ]
    assert [s.alert.alert_id for s in store.list_alerts(status="acknowledged")] == [
        alerts[0].alert_id
    ]
    assert {s.alert.alert_id for s in window} == {alerts[1].alert_id, alerts[2].alert_id}


def test_export_labels_gives_true_and_false_positives(store: AlertStore) -> None:
    # medium: a false-positive close of a high/critical alert waits for approval (tested below)
    hit, pending = make_alert(), make_alert()
    miss = make_alert(rule_id="after_hours_login", severity="medium")
    store.upsert_many([hit, miss, pending])
    for alert in (hit, miss, pending):
        store.acknowledge(alert.alert_id, by=who(store, "a"))
    store.resolve(hit.alert_id, by=who(store, "b"), comment="fraud")
    store.mark_false_positive(miss.alert_id, by=who(store, "c"), comment="payroll run")

    labels = {label.alert_id: label for label in store.export_labels()}

    assert set(labels) == {hit.alert_id, miss.alert_id}
    assert labels[hit.alert_id].label == "true_positive"
    assert labels[hit.alert_id].decided_by == "b"
    assert labels[miss.alert_id].label == "false_positive"
    assert labels[miss.alert_id].rule_id == "after_hours_login"
    assert labels[miss.alert_id].comment == "payroll run"


def test_silences_are_stored_listed_expired_and_audited(
    store: AlertStore, clock: SettableClock
) -> None:
    matchers = SilenceMatchers(rule_id=("large_transfer_over_limit",), branch_id=("BR001",))
    maker, checker = who(store, "zhang.min"), who(store, "li.wei")
    silence = store.add_silence(
        matchers, ends_at=T0 + timedelta(hours=2), by=maker, reason="branch drill",
        ticket="CHG-1234",
    )  # fmt: skip
    assert store.list_silences(active_at=T0) == []  # pending: a second person must approve
    assert store.get_silence(silence.silence_id).matchers == matchers
    clock.advance(60)
    approved = store.approve_silence(silence.silence_id, by=checker, comment="seen CHG")
    assert approved.approved_by == "li.wei"
    assert store.list_silences(active_at=clock.now) == [approved]

    clock.advance(540)
    expired = store.expire_silence(silence.silence_id, by=checker, comment="drill over")

    assert expired.expired_by == "li.wei"
    assert expired.expired_at == T0 + timedelta(seconds=600)
    assert store.list_silences(active_at=clock.now) == []
    assert store.list_silences() == [expired]
    entries = store.history(silence_id=silence.silence_id)
    assert [(e.action, e.actor) for e in entries] == [
        ("silence_created", "zhang.min"),
        ("silence_approved", "li.wei"),
        ("silence_expired", "li.wei"),
    ]
    with pytest.raises(InvalidSilenceError, match="already ended"):
        store.expire_silence(silence.silence_id, by=who(store, "li.wei"))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"reason": ""}, "reason"),
        ({"ticket": ""}, "ticket"),
        ({"ends_at": T0}, "end after"),
        ({"ends_at": T0 + timedelta(days=31)}, "at most"),
        ({"matchers": SilenceMatchers()}, "matcher"),
    ],
)
def test_bad_silences_are_refused(
    store: AlertStore, kwargs: dict[str, object], problem: str
) -> None:
    args: dict[str, object] = {
        "matchers": SilenceMatchers(category=("structuring",)),
        "ends_at": T0 + timedelta(hours=1),
        "by": who(store, "a"),
        "reason": "r",
        "ticket": "T-1",
    }
    args.update(kwargs)
    with pytest.raises(InvalidSilenceError, match=problem):
        store.add_silence(**args)  # type: ignore[arg-type]
    assert store.list_silences() == []


def test_unknown_silence_is_reported(store: AlertStore) -> None:
    with pytest.raises(SilenceNotFoundError):
        store.expire_silence("nope", by=who(store, "a"))


def test_history_is_hash_chained_and_tampering_is_detected(store: AlertStore) -> None:
    alert = make_alert()
    store.upsert(alert)
    store.acknowledge(alert.alert_id, by=who(store, "a"), comment="mine")
    store.resolve(alert.alert_id, by=who(store, "a"))
    assert store.verify_history() is None

    second = store.history(alert.alert_id)[1]
    with store.engine.begin() as connection:
        connection.execute(
            history.update().where(history.c.entry_id == second.entry_id).values(actor="mallory")
        )

    assert store.verify_history() == second.entry_id
    assert sa.inspect(store.engine).has_table("alert_history")


def test_the_author_cannot_approve_their_own_silence(store: AlertStore) -> None:
    silence = store.add_silence(
        SilenceMatchers(category=("structuring",)), ends_at=T0 + timedelta(hours=1),
        by=who(store, "zhang.min"), reason="r", ticket="T-1",
    )  # fmt: skip
    with pytest.raises(InvalidSilenceError, match="author of a silence cannot approve"):
        store.approve_silence(silence.silence_id, by=who(store, "zhang.min"))
    store.approve_silence(silence.silence_id, by=who(store, "li.wei"))
    with pytest.raises(InvalidSilenceError, match="already approved"):
        store.approve_silence(silence.silence_id, by=who(store, "wang.fang"))


def test_without_maker_checker_a_silence_is_in_force_at_once(store_url: str) -> None:
    with AlertStore.open(store_url, require_silence_approval=False) as store:
        silence = store.add_silence(
            SilenceMatchers(category=("structuring",)), ends_at=store.clock() + timedelta(hours=1),
            by=who(store, "zhang.min"), reason="r", ticket="T-1",
        )  # fmt: skip
        assert silence.approved_by == "zhang.min"
        assert store.list_silences(active_at=store.clock()) == [silence]


def test_migration_0002_keeps_older_silences_in_force(empty_store_url: str) -> None:
    engine = sa.create_engine(engine_url(empty_store_url))
    try:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO silences (silence_id, matchers, starts_at, ends_at, author,"
                    " reason, ticket, created_at) VALUES ('old', '{\"branch_id\": [\"B1\"]}',"
                    " :start, :end, 'zhang.min', 'r', 'T-1', :start)"
                ),
                {
                    "start": T0.replace(tzinfo=None),
                    "end": (T0 + timedelta(days=1)).replace(tzinfo=None),
                },
            )
        upgrade(engine)
        store = AlertStore(engine)
        old = store.get_silence("old")
        assert (old.approved_by, old.approved_at) == ("zhang.min", T0)
        assert store.list_silences(active_at=T0 + timedelta(hours=1)) == [old]
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()
