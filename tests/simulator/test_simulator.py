"""The bank simulator: determinism, the event contract, realism, and agreement with the rules.

The key acceptance checks replay the simulation through the real engine and shipped rules:
every labelled case of a rule category is detected (recall 100%), and no alert is left without
a label (with injection off, the only alerts are genuinely large transactions, each labelled).
"""

from __future__ import annotations

import doctest
import gc
import re
from collections import Counter, defaultdict
from datetime import date, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from monitor import simulator as simulator_package
from monitor.alerts import Alert
from monitor.engine import Engine
from monitor.events import OperatorAction, Transaction, decode_event, encode_event
from monitor.rules.kinds.condition import ConditionRuleRuntime
from monitor.rules.kinds.schedule import BusinessCalendar
from monitor.rules.kinds.sequence import SequenceRuleRuntime
from monitor.rules.loader import load_rules
from monitor.rules.schema import AggregateRule, ConditionRule, ScheduleRule, SequenceRule
from monitor.scoring import rule_recall, unexplained
from monitor.simulator import Label, SimConfig, Simulation, case_counts, simulate
from monitor.simulator.limits import (
    DAILY_RULES,
    GROUPS,
    SINGLE_RULES,
    STRUCTURING_RULES,
    group_of,
    shipped_limits,
)
from monitor.simulator.roster import REVIEWER_ROLES
from streams.simfile import write_simulation
from tests.shipped import shipped_rules

RULE_CATEGORIES = ("dual_review", "large_transfer", "structuring", "after_hours")
ALL_KINDS = {
    ("dual_review", "missing"),
    ("dual_review", "self_approval"),
    ("dual_review", "unauthorised_reviewer"),
    ("dual_review", "late"),
    ("large_transfer", None),
    ("structuring", None),
    ("after_hours", None),
    ("model_anomaly", "account_takeover"),
    ("model_anomaly", "dormant_drain"),
    ("model_anomaly", "bulk_view"),
}
SENSITIVE = {
    "login",
    "view_customer",
    "export_data",
    "change_limit",
    "unlock_account",
    "modify_account",
    "override",
    "approve",
}
SMALL = SimConfig(days=3, branches=5)
TINY = SimConfig(days=2, branches=2, customers_per_branch=300)


def replay(sim: Simulation) -> list[Alert]:
    engine = Engine(shipped_rules())
    return [a for e in sim.events for a in engine.process(e)] + engine.flush()


def as_dicts(labels: list[Label]) -> list[dict[str, object]]:
    return [label.model_dump(mode="json") for label in labels]


def label_events(sim: Simulation, category: str) -> set[str]:
    return {e for label in sim.labels if label.category == category for e in label.event_ids}


@pytest.fixture(scope="module")
def small() -> Simulation:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def small_alerts(small: Simulation) -> list[Alert]:
    return replay(small)


@pytest.fixture(scope="module")
def quiet() -> Simulation:
    return simulate(SMALL.model_copy(update={"inject_rate": 0.0}))


@pytest.fixture(scope="module")
def quiet_alerts(quiet: Simulation) -> list[Alert]:
    return replay(quiet)


# --- determinism and the contract -------------------------------------------------------------


def test_same_config_gives_identical_bytes(tmp_path: Path) -> None:
    outputs = []
    for run in ("a", "b"):
        write_simulation(simulate(TINY), tmp_path / f"{run}.events", tmp_path / f"{run}.labels")
        outputs.append(
            ((tmp_path / f"{run}.events").read_bytes(), (tmp_path / f"{run}.labels").read_bytes())
        )
    assert outputs[0] == outputs[1]
    assert outputs[0][0].count(b"\n") == len(simulate(TINY).events)


def test_a_different_seed_gives_different_events() -> None:
    first = [encode_event(e) for e in simulate(TINY).events]
    other = [encode_event(e) for e in simulate(TINY.model_copy(update={"seed": 8})).events]
    assert first != other


def test_docstring_examples() -> None:
    result = doctest.testmod(simulator_package)
    assert result.failed == 0 and result.attempted > 0


def test_simulate_restores_the_garbage_collector() -> None:
    assert gc.isenabled()
    simulate(TINY)
    assert gc.isenabled()


def test_every_event_round_trips_through_the_contract(small: Simulation) -> None:
    for event in small.events:
        assert decode_event(encode_event(event)) == event


def test_events_are_sorted_and_ids_unique(small: Simulation) -> None:
    keys = [(e.occurred_at, e.event_id) for e in small.events]
    assert keys == sorted(keys)
    assert len({e.event_id for e in small.events}) == len(small.events)


def test_written_files_decode(tmp_path: Path) -> None:
    sim = simulate(TINY)
    write_simulation(sim, tmp_path / "events.jsonl", tmp_path / "labels.jsonl")
    lines = (tmp_path / "events.jsonl").read_text(encoding="utf-8").splitlines()
    assert [decode_event(line) for line in lines] == sim.events
    labels = (tmp_path / "labels.jsonl").read_text(encoding="utf-8").splitlines()
    assert [Label.model_validate_json(line) for line in labels] == sim.labels


def test_label_shape(small: Simulation) -> None:
    ids = {e.event_id for e in small.events}
    assert [label.case_id for label in small.labels] == [
        f"case-{n:05d}" for n in range(1, len(small.labels) + 1)
    ]
    for label in small.labels:
        assert label.event_ids and set(label.event_ids) <= ids
        assert label.expected == (label.category != "model_anomaly")
        assert label.start.utcoffset() == timedelta(hours=8)
        assert (label.reason is not None) == (label.category in ("dual_review", "model_anomaly"))
    assert set(as_dicts(small.labels)[0]) == {
        "case_id",
        "category",
        "reason",
        "injected",
        "expected",
        "entity_type",
        "entity_id",
        "branch_id",
        "start",
        "event_ids",
        "detail",
    }


# --- agreement with the rule packs --------------------------------------------------------------


def test_limits_are_the_shipped_packs_lines() -> None:
    rules = shipped_rules()
    limits = shipped_limits()
    cash = next(rule for rule in rules.rules if rule.id == "large_cash_single")
    assert isinstance(cash, ConditionRuleRuntime) and cash.threshold is not None
    assert limits.cny_per_unit == dict(cash.threshold.table.rates)
    for group in GROUPS:
        for table in (SINGLE_RULES, DAILY_RULES, STRUCTURING_RULES):
            spec = rules.specs[table[group]]
            assert isinstance(spec, ConditionRule | AggregateRule)
            assert dict(spec.threshold) == limits.lines[group]
    # What the README's table of shipped controls says, as a check on the reading itself.
    assert limits.lines["cash"] == {"CNY": Decimal(50000), "USD": Decimal(10000)}
    assert limits.lines["corporate"] == {"CNY": Decimal(2000000), "USD": Decimal(200000)}
    review = rules.specs["dual_review"]
    assert isinstance(review, SequenceRule)
    assert dict(review.threshold) == {"CNY": limits.review_line_cny}
    assert limits.review_within_seconds == timedelta(minutes=30).total_seconds()
    checker = next(rule for rule in rules.rules if rule.id == "dual_review")
    assert isinstance(checker, SequenceRuleRuntime) and checker.roles == REVIEWER_ROLES
    assert checker.within == timedelta(minutes=30).total_seconds()
    after_hours = rules.specs["after_hours_access"]
    assert isinstance(after_hours, ScheduleRule)
    config = SimConfig()
    assert after_hours.schedule.business_hours == config.business_hours
    assert after_hours.schedule.timezone == config.timezone
    assert after_hours.schedule.holidays == config.holidays_country
    assert not after_hours.schedule.branch_timezones
    assert not after_hours.overtime


def test_case_counts_scale_with_rate_days_and_branches() -> None:
    week = case_counts(7, 20, 1.0)
    assert all(count >= 3 for count in week.values())
    assert set(case_counts(3, 5, 1.0).values()) == {1}
    assert set(case_counts(7, 20, 0.0).values()) == {0}
    assert sum(case_counts(14, 20, 2.0).values()) == pytest.approx(4 * sum(week.values()), rel=0.1)


# --- the acceptance checks against the real engine ----------------------------------------------


def test_every_kind_of_case_is_present(small: Simulation) -> None:
    kinds = {(label.category, label.reason) for label in small.labels if label.injected}
    assert kinds == ALL_KINDS


def test_rule_recall_is_complete(small: Simulation, small_alerts: list[Alert]) -> None:
    rows = rule_recall(as_dicts(small.labels), small_alerts)
    assert {row.category for row in rows} == set(RULE_CATEGORIES)
    assert all(row.recall == 1.0 for row in rows), [r for r in rows if r.missed]


def test_no_alert_is_left_unexplained(small: Simulation, small_alerts: list[Alert]) -> None:
    assert unexplained(as_dicts(small.labels), small_alerts) == []


def test_anomalies_raise_no_rule_alert(small: Simulation, small_alerts: list[Alert]) -> None:
    anomalous = label_events(small, "model_anomaly")
    assert anomalous
    assert [a.rule_id for a in small_alerts if anomalous & set(a.event_ids)] == []


def test_each_injected_case_raises_only_its_own_alert(
    small: Simulation, small_alerts: list[Alert]
) -> None:
    for label in small.labels:
        if label.category not in ("dual_review", "after_hours"):
            continue
        hits = [a for a in small_alerts if set(a.event_ids) & set(label.event_ids)]
        assert [(a.category, a.reason) for a in hits] == [(label.category, label.reason)], label


def test_quiet_bank_alerts_only_on_labelled_large_transfers(
    quiet: Simulation, quiet_alerts: list[Alert]
) -> None:
    assert quiet.labels and all(
        label.category == "large_transfer" and not label.injected and label.expected
        for label in quiet.labels
    )
    assert {a.category for a in quiet_alerts} == {"large_transfer"}
    large = label_events(quiet, "large_transfer")
    assert all(large & set(a.event_ids) for a in quiet_alerts)
    assert all(row.recall == 1.0 for row in rule_recall(as_dicts(quiet.labels), quiet_alerts))


def test_injections_leave_ordinary_traffic_untouched(quiet: Simulation, small: Simulation) -> None:
    assert {encode_event(e) for e in quiet.events} <= {encode_event(e) for e in small.events}


# --- realism -----------------------------------------------------------------------------------


def _transactions(sim: Simulation) -> dict[str, list[Transaction]]:
    out: dict[str, list[Transaction]] = defaultdict(list)
    for event in sim.events:
        if isinstance(event, Transaction):
            out[event.txn_id].append(event)
    return out


def test_maker_checker_as_a_bank_does_it(small: Simulation) -> None:
    injected = {label.entity_id for label in small.labels if label.category == "dual_review"}
    decisions: dict[str, list[OperatorAction]] = defaultdict(list)
    for event in small.events:
        if isinstance(event, OperatorAction) and event.action in ("approve", "reject"):
            assert event.target_txn_id is not None
            decisions[event.target_txn_id].append(event)
    reviewed = 0
    for txn_id, events in _transactions(small).items():
        first = events[0]
        if first.channel not in ("counter", "wire"):
            assert first.initiator_id.startswith("C"), first  # the customer
            continue
        assert first.status == "initiated"
        if txn_id in injected:
            continue
        assert re.fullmatch(r"BR\d{3}-T\d{2}", first.initiator_id), first  # a teller
        limits = shipped_limits()
        if limits.to_cny(first.amount, first.currency) < limits.review_line_cny:
            assert txn_id not in decisions
            continue
        reviewed += 1
        (decision,) = decisions[txn_id]
        assert decision.role in ("supervisor", "manager")
        assert decision.operator_id != first.initiator_id
        assert decision.branch_id == first.branch_id
        delay = decision.occurred_at - first.occurred_at
        assert timedelta(minutes=2) <= delay <= timedelta(minutes=20)
        final = events[-1]
        assert final.occurred_at > decision.occurred_at
        assert final.status == ("posted" if decision.action == "approve" else "reversed")
    assert reviewed > 100


def test_staff_work_only_in_business_hours(small: Simulation) -> None:
    calendar = BusinessCalendar(
        "Asia/Shanghai", {}, (time(8, 30), time(17, 30)), ["mon", "tue", "wed", "thu", "fri"], "CN"
    )
    after_hours = label_events(small, "after_hours")
    for event in small.events:
        if isinstance(event, OperatorAction) and event.event_id not in after_hours:
            assert calendar.is_open(event.occurred_at, event.branch_id), event


def test_holidays_and_make_up_working_days_are_respected() -> None:
    # 2026: 1-7 October is the National Day holiday; Saturday 10 October is a make-up working day.
    sim = simulate(
        SimConfig(start=date(2026, 10, 1), days=10, branches=2, customers_per_branch=200)
    )
    after_hours = label_events(sim, "after_hours")
    staff_days = {
        e.occurred_at.date()
        for e in sim.events
        if isinstance(e, OperatorAction) and e.event_id not in after_hours
    }
    assert staff_days == {date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10)}


def test_the_bank_looks_like_a_bank(small: Simulation) -> None:
    txns = [e for e in small.events if isinstance(e, Transaction)]
    actions = [e for e in small.events if isinstance(e, OperatorAction)]
    assert {t.channel for t in txns} == {"counter", "atm", "mobile", "online", "wire", "batch"}
    assert {t.txn_type for t in txns} == {"transfer", "withdrawal", "deposit", "payment"}
    assert {t.status for t in txns} == {"initiated", "posted", "reversed"}
    assert {t.direction for t in txns} == {"debit", "credit"}
    assert len({t.currency for t in txns} - {"CNY"}) >= 4
    assert {t.counterparty_country for t in txns} - {None, "CN"}
    accounts = {t.account_id: t.account_type for t in txns}
    assert all(re.fullmatch(r"\d{16,19}", a) for a in accounts)
    share = Counter(accounts.values())["corporate"] / len(accounts)
    assert 0.05 < share < 0.4
    assert {a.role for a in actions} == {
        "teller",
        "supervisor",
        "manager",
        "auditor",
        "admin",
        "it",
    }
    assert {"login", "logout", "approve", "view_customer"} <= {a.action for a in actions}
    assert all(t.amount > 0 and t.amount == t.amount.quantize(Decimal("0.01")) for t in txns)
    night = [t for t in txns if t.occurred_at.hour < 6 and t.channel in ("mobile", "atm")]
    assert night  # self-service never sleeps


def test_ordinary_amounts_stay_below_the_structuring_band(quiet: Simulation) -> None:
    genuine = {e for label in quiet.labels for e in label.event_ids}
    checked = 0
    for event in quiet.events:
        if not isinstance(event, Transaction) or event.event_id in genuine:
            continue
        group = group_of(
            event.txn_type, event.channel, event.account_type, event.counterparty_country, "CN"
        )
        if group is not None:
            _currency, limit, measured = shipped_limits().measure(
                group, event.amount, event.currency
            )
            assert measured < limit * Decimal("0.8"), event
            checked += 1
    assert checked > 10_000


@pytest.mark.slow
def test_default_week() -> None:
    sim = simulate(SimConfig())
    alerts = replay(sim)
    labels = as_dicts(sim.labels)
    kinds = Counter((label.category, label.reason) for label in sim.labels if label.injected)
    assert set(kinds) == ALL_KINDS
    assert all(row.recall == 1.0 for row in rule_recall(labels, alerts))
    assert unexplained(labels, alerts) == []
    assert not label_events(sim, "model_anomaly") & {e for a in alerts for e in a.event_ids}
    per_day = Counter(e.occurred_at.date() for e in sim.events)
    assert min(per_day[date(2026, 3, d)] for d in range(2, 7)) > 20_000  # working days
    assert len(sim.events) > 150_000


# --- the simulator follows the rules it is given ---------------------------------------------

RAISED_CASH = {"CNY": Decimal(120000), "USD": Decimal(20000)}


@pytest.mark.slow
def test_an_override_raising_a_threshold_moves_what_the_simulator_injects(
    tmp_path: Path, small: Simulation
) -> None:
    overrides = tmp_path / "raised.yaml"
    overrides.write_text(
        "".join(
            f"- override: {rule}\n  threshold: {{CNY: 120000, USD: 20000}}\n"
            for rule in ("large_cash_single", "large_cash_daily", "structuring_cash")
        ),
        encoding="utf-8",
    )
    rules = load_rules([overrides])
    raised = simulate(SMALL, rules)

    def cash_amounts(sim: Simulation, reason: str) -> list[Decimal]:
        ids = {
            e for label in sim.labels if label.injected and label.category == "structuring"
            for e in label.event_ids if label.reason == reason or reason == "*"
        }  # fmt: skip
        return [
            t.amount
            for t in sim.events
            if isinstance(t, Transaction) and t.event_id in ids and t.txn_type in _CASH
        ]

    structuring = cash_amounts(raised, "*")
    assert structuring, "the raised bank still structures cash"
    for amount in structuring:  # each part 80-100 % of the raised line, in CNY or USD
        line = RAISED_CASH["USD"] if amount < Decimal(20000) else RAISED_CASH["CNY"]
        assert line * Decimal("0.8") <= amount < line, amount
    # The shipped line (CNY 50,000) would have put the same cases below CNY 50,000.
    assert max(cash_amounts(small, "*")) < Decimal(50000) < max(structuring)
    # Replayed through the rules it was made for, every injected case is caught.
    engine = Engine(rules)
    alerts = [a for e in raised.events for a in engine.process(e)] + engine.flush()
    rows = rule_recall(as_dicts(raised.labels), alerts)
    assert all(row.recall == 1.0 for row in rows), [r for r in rows if r.missed]


_CASH = ("deposit", "withdrawal")
