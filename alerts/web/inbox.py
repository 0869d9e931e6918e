"""The inbox: filters, counts per filter value, search, sorting and paging over stored alerts.

The store answers the time range; the other filters, the counts and the search run here over
that window (at most ``WINDOW`` alerts, newest first), so every filter counts what the others
leave. An officer narrows the time range when the window is full; the page says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from alerts.store import StoredAlert

__all__ = ["FACETS", "SORTS", "WINDOW", "Filters", "InboxPage", "query_inbox"]

WINDOW = 20_000
PAGE_SIZE = 25
Sort = Literal["newest", "oldest", "severity_desc"]
SORTS: tuple[Sort, ...] = ("newest", "oldest", "severity_desc")
# Facets counted per value: the filter name and how to read it from a stored alert.
FACETS: tuple[str, ...] = ("status", "severity", "category", "reason", "rule", "branch", "assignee")
_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _facet(stored: StoredAlert, name: str) -> str:
    alert = stored.alert
    value: object = {
        "status": stored.status,
        "severity": alert.severity,
        "category": alert.category,
        "reason": alert.reason,
        "rule": alert.rule_id,
        "branch": alert.branch_id,
        "assignee": getattr(stored, "assignee", None),
    }[name]
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Filters:
    """What the officer asked for; empty strings mean "any"."""

    status: str = ""
    severity: str = ""
    category: str = ""
    reason: str = ""
    rule: str = ""
    branch: str = ""
    assignee: str = ""
    account: str = ""
    q: str = ""
    since: str = ""
    until: str = ""
    sort: Sort = "newest"
    page: int = 1

    @classmethod
    def from_query(cls, params: Mapping[str, str]) -> Filters:
        """Read the query string; unknown sort and bad page numbers fall back to the defaults."""
        values = {name: params.get(name, "").strip()[:200] for name in (*FACETS, "account", "q")}
        sort = params.get("sort", "newest")
        page = params.get("page", "1")
        return cls(
            **values,
            since=params.get("since", "").strip()[:32],
            until=params.get("until", "").strip()[:32],
            sort=sort if sort in SORTS else "newest",
            page=int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1,
        )

    def query(self, **changes: object) -> str:
        """This filter set as a query string, with ``changes`` applied (page resets to 1)."""
        from urllib.parse import urlencode

        updated = replace(self, **{"page": 1, **changes})  # type: ignore[arg-type]
        pairs = [(k, str(v)) for k, v in updated.__dict__.items() if v not in ("", None)]
        return urlencode([(k, v) for k, v in pairs if not (k == "sort" and v == "newest")])

    def matches(self, stored: StoredAlert, *, skip: str = "") -> bool:
        for name in FACETS:
            wanted = getattr(self, name)
            if name != skip and wanted and _facet(stored, name) != wanted:
                return False
        alert = stored.alert
        if self.account and self.account.casefold() not in alert.entity_id.casefold():
            return False
        if self.q:
            needle = self.q.casefold()
            haystack = " ".join(
                (
                    alert.alert_id,
                    alert.title,
                    alert.message,
                    *alert.messages.values(),
                    alert.entity_id,
                    alert.rule_id,
                    alert.reason or "",
                    alert.branch_id or "",
                )
            ).casefold()
            if needle not in haystack:
                return False
        return True

    def window(self, zone: str) -> tuple[datetime | None, datetime | None]:
        """``since``/``until`` as aware times; a date or naive time is in the bank's zone."""
        return _local(self.since, zone), _local(self.until, zone)


def _local(value: str, zone: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(zone))


@dataclass
class InboxPage:
    """One page of the inbox and the counts behind the filters."""

    rows: list[StoredAlert]
    total: int
    page: int
    pages: int
    counts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    window_full: bool = False


def _sorted(found: Iterable[StoredAlert], sort: Sort) -> list[StoredAlert]:
    rows = list(found)
    if sort == "oldest":
        return sorted(rows, key=lambda s: (s.alert.occurred_at, s.alert.alert_id))
    rows.sort(key=lambda s: (s.alert.occurred_at, s.alert.alert_id), reverse=True)
    if sort == "severity_desc":
        rows.sort(key=lambda s: _SEVERITY_RANK.get(s.alert.severity, 9))
    return rows


def query_inbox(
    window: Sequence[StoredAlert], filters: Filters, *, page_size: int = PAGE_SIZE
) -> InboxPage:
    """Filter, count, sort and page ``window`` (the alerts of the time range)."""
    counts: dict[str, list[tuple[str, int]]] = {}
    for name in FACETS:
        counter = Counter(
            _facet(stored, name) for stored in window if filters.matches(stored, skip=name)
        )
        counts[name] = sorted(
            ((v, n) for v, n in counter.items() if v), key=lambda p: (-p[1], p[0])
        )
    found = _sorted((s for s in window if filters.matches(s)), filters.sort)
    pages = max(1, -(-len(found) // page_size))
    page = min(filters.page, pages)
    start = (page - 1) * page_size
    return InboxPage(
        rows=found[start : start + page_size],
        total=len(found),
        page=page,
        pages=pages,
        counts=counts,
        window_full=len(window) >= WINDOW,
    )
