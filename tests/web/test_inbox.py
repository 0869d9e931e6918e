"""The inbox's filters, counts, search, sorting and paging (pure functions, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alerts.store import StoredAlert
from alerts.web.inbox import Filters, query_inbox
from monitor.alerts import Alert, make_alert_id

T0 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def _stored(n: int, severity: str, branch: str, status: str = "open") -> StoredAlert:
    alert = Alert(
        alert_id=make_alert_id("r", [f"e{n}"]),
        category="large_transfer",
        reason="single" if n % 2 else "cumulative",
        rule_id="large_transfer_single",
        title="t",
        severity=severity,  # type: ignore[arg-type]
        entity_type="account",
        entity_id=f"************{1000 + n}",
        branch_id=branch,
        event_ids=(f"e{n}",),
        occurred_at=T0 + timedelta(minutes=n),
        message=f"transfer number {n}",
        language="en",
        pack_version="p@1",
        pack_hash="h",
    )
    return StoredAlert(
        alert=alert,
        status=status,  # type: ignore[arg-type]
        status_changed_at=T0,
        first_seen_at=T0,
        last_seen_at=T0,
        delivery_count=1,
    )


WINDOW = [
    _stored(n, "high" if n % 3 == 0 else "low", f"BR00{n % 2}", "open" if n < 8 else "resolved")
    for n in range(10)
]


def test_each_filter_counts_what_the_other_filters_leave() -> None:
    page = query_inbox(WINDOW, Filters(branch="BR000"))
    assert page.total == 5
    assert dict(page.counts["branch"]) == {"BR000": 5, "BR001": 5}  # its own filter not applied
    assert dict(page.counts["severity"]) == {"high": 2, "low": 3}  # n = 0, 6 high in BR000
    assert dict(page.counts["status"]) == {"open": 4, "resolved": 1}


def test_search_account_and_sorting() -> None:
    assert [s.alert.message for s in query_inbox(WINDOW, Filters(q="NUMBER 7")).rows] == [
        "transfer number 7"
    ]
    assert query_inbox(WINDOW, Filters(account="1004")).total == 1
    newest = query_inbox(WINDOW, Filters()).rows
    assert [s.alert.message for s in newest][:2] == ["transfer number 9", "transfer number 8"]
    oldest = query_inbox(WINDOW, Filters(sort="oldest")).rows
    assert oldest[0].alert.message == "transfer number 0"
    severe = query_inbox(WINDOW, Filters(sort="severity_desc")).rows
    assert [s.alert.severity for s in severe][:4] == ["high"] * 4
    assert severe[0].alert.message == "transfer number 9"  # newest first within a severity


def test_paging_and_query_strings() -> None:
    page = query_inbox(WINDOW, Filters(page=2), page_size=4)
    assert (page.page, page.pages, len(page.rows)) == (2, 3, 4)
    last = query_inbox(WINDOW, Filters(page=99), page_size=4)
    assert (last.page, len(last.rows)) == (3, 2)  # past the end: the last page
    filters = Filters.from_query({"severity": "high", "sort": "bogus", "page": "-1"})
    assert (filters.severity, filters.sort, filters.page) == ("high", "newest", 1)
    assert filters.query(page=3) == "severity=high&page=3"


def test_time_range_is_in_the_banks_zone() -> None:
    since, until = Filters(since="2026-03-03T09:00", until="2026-03-04").window("Asia/Shanghai")
    assert since == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    assert until == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
    assert Filters(since="not a time").window("Asia/Shanghai") == (None, None)
