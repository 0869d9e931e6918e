"""Per-branch operational KPI series for the branch managers' dashboard (issue 15 item 4):
transactions by channel, handling time and review latency in event time, postings and reversals,
log-ins inside and after business hours, the branch label capped."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from monitor.events import Event, OperatorAction, Transaction
from monitor.metrics import RiskmonMetrics

SH = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)  # 2026-03-04 is a Wednesday


def txn(
    txn_id: str, status: str, when: datetime, branch: str = "B1", channel: str = "counter"
) -> Transaction:
    data: dict[str, Any] = {
        "kind": "transaction",
        "event_id": f"{txn_id}-{status}",
        "occurred_at": when,
        "branch_id": branch,
        "txn_id": txn_id,
        "account_id": "A1",
        "account_type": "individual",
        "amount": "100",
        "currency": "CNY",
        "direction": "debit",
        "channel": channel,
        "txn_type": "transfer",
        "initiator_id": "T1",
        "status": status,
    }
    return Transaction.model_validate(data)


def action(name: str, when: datetime, target: str | None = None, branch: str = "B1") -> Event:
    return OperatorAction.model_validate(
        {
            "kind": "operator_action",
            "event_id": f"{name}-{when.isoformat()}",
            "occurred_at": when,
            "branch_id": branch,
            "operator_id": "S1",
            "role": "supervisor",
            "action": name,
            "target_txn_id": target,
            "terminal_id": "W1",
            "outcome": "success",
        }
    )


def sample(metrics: RiskmonMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def test_branch_kpis_follow_event_time_and_the_business_calendar() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False)
    for event in (
        txn("t1", "initiated", at(9, 0)),
        txn("t2", "initiated", at(9, 1), channel="mobile"),
        action("approve", at(9, 11), target="t1"),
        txn("t1", "posted", at(9, 20)),
        txn("t3", "posted", at(9, 30), channel="atm"),  # never seen initiated
        txn("t2", "reversed", at(9, 40)),
        action("login", at(10, 0)),
        action("login", at(22, 0)),  # night
        action("login", at(10, 0, day=8)),  # Sunday
    ):
        metrics.branch_kpis(event)
    name = "riskmon_branch_transactions_total"
    assert sample(metrics, name, branch="B1", channel="counter") == 1
    assert sample(metrics, name, branch="B1", channel="mobile") == 1
    assert sample(metrics, name, branch="B1", channel="atm") == 1
    assert sample(metrics, "riskmon_branch_handling_seconds_count", branch="B1") == 1
    assert sample(metrics, "riskmon_branch_handling_seconds_sum", branch="B1") == 20 * 60
    assert sample(metrics, "riskmon_branch_review_latency_seconds_sum", branch="B1") == 11 * 60
    assert sample(metrics, "riskmon_branch_postings_total", branch="B1") == 2
    assert sample(metrics, "riskmon_branch_reversals_total", branch="B1") == 1
    assert sample(metrics, "riskmon_branch_logins_total", branch="B1", hours="business") == 1
    assert sample(metrics, "riskmon_branch_logins_total", branch="B1", hours="after") == 2


def test_branch_label_is_capped() -> None:
    metrics = RiskmonMetrics(CollectorRegistry(), process=False, max_branches=2)
    for i, branch in enumerate(("B1", "B2", "B3", "B4")):
        metrics.branch_kpis(txn(f"t{i}", "initiated", at(9, i), branch=branch))
    name = "riskmon_branch_transactions_total"
    assert sample(metrics, name, branch="B2", channel="counter") == 1
    assert sample(metrics, name, branch="B3", channel="counter") is None
    assert sample(metrics, name, branch="other", channel="counter") == 2
