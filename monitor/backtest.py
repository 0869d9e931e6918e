"""Backtest: the same events through two rule sets, and everything that changes between them.

Alerts are matched by ``alert_id`` (rule id + triggering events), which does not depend on the
pack version, so a threshold change shows exactly the alerts it adds and removes, and an alert
present in both runs whose severity or message differs is *changed*.

Quality is measured twice, per rule and for both versions:

- against the simulator's labels (an alert is a true positive when a labelled case of its
  category names one of its events; recall per rule is the share of its category's cases found);
- against the dispositions risk officers recorded in the alert store (``resolved`` = confirmed,
  ``false_positive``): how many past false positives the change removes and how many confirmed
  cases it would lose. A lost confirmed case is the one thing an auditor must never miss.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date
from typing import Any

from monitor.alerts import Alert, is_shadow
from monitor.engine import Engine, Event
from monitor.rules.ruleset import RuleSet
from monitor.scoring import detects

Disposition = str
"""``true_positive`` (the store's ``resolved``) or ``false_positive``."""


@dataclass(frozen=True)
class ChangedAlert:
    before: Alert
    after: Alert

    @property
    def fields(self) -> tuple[str, ...]:
        """What differs: ``severity`` and/or ``message``."""
        return tuple(
            name
            for name in ("severity", "message")
            if getattr(self.before, name) != getattr(self.after, name)
        )


@dataclass(frozen=True)
class Quality:
    """Precision and recall of one rule in one version (``None`` when there is nothing to
    measure)."""

    alerts: int
    true_positives: int
    precision: float | None
    cases: int
    found: int
    recall: float | None


@dataclass(frozen=True)
class Dispositions:
    """One rule, one version, against the alert store's decisions."""

    confirmed: int
    false_positives: int
    precision: float | None
    recall: float | None
    """Share of the rule's confirmed cases (in the baseline) this version still raises."""


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    before: int
    after: int
    added: tuple[Alert, ...]
    removed: tuple[Alert, ...]
    changed: tuple[ChangedAlert, ...] = ()
    labels_before: Quality | None = None
    labels_after: Quality | None = None
    decided_before: Dispositions | None = None
    decided_after: Dispositions | None = None
    false_positives_removed: tuple[Alert, ...] = ()
    confirmed_lost: tuple[Alert, ...] = ()
    shadow: bool = False
    """The rule runs in ``mode: shadow`` in the candidate version (alerts never delivered)."""

    @property
    def touched(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True)
class BacktestDiff:
    before: tuple[Alert, ...]
    after: tuple[Alert, ...]
    by_rule: tuple[RuleChange, ...]
    per_day: Mapping[str, tuple[Counter[date], Counter[date]]] = field(default_factory=dict)
    """Alert volume per rule and day (UTC), before and after."""

    @property
    def added(self) -> int:
        return sum(len(r.added) for r in self.by_rule)

    @property
    def removed(self) -> int:
        return sum(len(r.removed) for r in self.by_rule)

    @property
    def changed(self) -> int:
        return sum(len(r.changed) for r in self.by_rule)

    @property
    def confirmed_lost(self) -> tuple[Alert, ...]:
        return tuple(a for r in self.by_rule for a in r.confirmed_lost)

    def shadow_vs_live(self) -> list[tuple[str, int, int, int]]:
        """Per shadow rule of the candidate: its alerts, the live alerts of its category, and
        how many of its alerts name an event a live alert of that category also names."""
        out = []
        for change in self.by_rule:
            if not change.shadow:
                continue
            mine = [a for a in self.after if a.rule_id == change.rule_id]
            category = mine[0].category
            live = [a for a in self.after if a.category == category and not is_shadow(a)]
            live_events = {e for a in live for e in a.event_ids}
            overlap = sum(1 for a in mine if live_events.intersection(a.event_ids))
            out.append((change.rule_id, len(mine), len(live), overlap))
        return out

    def days(self) -> list[date]:
        out: set[date] = set()
        for old, new in self.per_day.values():
            out |= set(old) | set(new)
        return sorted(out)


def run_rules(
    ruleset: RuleSet, events: Iterable[Event], progress: Callable[[int], None] | None = None
) -> list[Alert]:
    """All alerts of ``ruleset`` over ``events``, deadlines flushed at the end."""
    engine = Engine(ruleset, operations=False)  # the rules alone
    alerts: list[Alert] = []
    for event in events:
        alerts.extend(engine.process(event))
        if progress is not None:
            progress(1)
    return alerts + engine.flush()


def diff_alerts(
    before: Iterable[Alert],
    after: Iterable[Alert],
    labels: Sequence[Mapping[str, Any]] | None = None,
    dispositions: Mapping[str, Disposition] | None = None,
) -> BacktestDiff:
    """Alerts added, removed and changed per rule between two runs over the same events, with
    quality against ``labels`` (simulator cases) and ``dispositions`` (alert id -> decision)."""
    old = {a.alert_id: a for a in before}
    new = {a.alert_id: a for a in after}
    rules = sorted({a.rule_id for a in old.values()} | {a.rule_id for a in new.values()})
    count_old = Counter(a.rule_id for a in old.values())
    count_new = Counter(a.rule_id for a in new.values())
    changes = []
    per_day: dict[str, tuple[Counter[date], Counter[date]]] = {}
    for rule_id in rules:
        mine_old = [a for a in old.values() if a.rule_id == rule_id]
        mine_new = [a for a in new.values() if a.rule_id == rule_id]
        added = tuple(a for a in mine_new if a.alert_id not in old)
        removed = tuple(a for a in mine_old if a.alert_id not in new)
        changed = tuple(
            ChangedAlert(a, new[a.alert_id])
            for a in mine_old
            if a.alert_id in new and ChangedAlert(a, new[a.alert_id]).fields
        )
        per_day[rule_id] = (_days(mine_old), _days(mine_new))
        change = RuleChange(
            rule_id,
            count_old[rule_id],
            count_new[rule_id],
            added,
            removed,
            changed,
            shadow=any(is_shadow(a) for a in mine_new),
        )
        if labels is not None:
            change = _with_labels(change, mine_old, mine_new, labels)
        if dispositions is not None:
            change = _with_dispositions(change, mine_old, mine_new, dispositions)
        changes.append(change)
    return BacktestDiff(tuple(old.values()), tuple(new.values()), tuple(changes), per_day)


def _days(alerts: Iterable[Alert]) -> Counter[date]:
    return Counter(a.occurred_at.astimezone(UTC).date() for a in alerts)


def quality(alerts: Sequence[Alert], labels: Sequence[Mapping[str, Any]], category: str) -> Quality:
    """Precision of ``alerts`` and recall over the labelled cases of ``category``."""
    cases = [c for c in labels if c.get("category") == category]
    by_event: dict[str, list[Mapping[str, Any]]] = {}
    for case in labels:
        for event_id in case.get("event_ids", ()):
            by_event.setdefault(str(event_id), []).append(case)
    true_positives = sum(
        1
        for alert in alerts
        if any(detects(alert, case) for e in alert.event_ids for case in by_event.get(e, ()))
    )
    found = sum(1 for case in cases if any(detects(alert, case) for alert in alerts))
    return Quality(
        alerts=len(alerts),
        true_positives=true_positives,
        precision=true_positives / len(alerts) if alerts else None,
        cases=len(cases),
        found=found,
        recall=found / len(cases) if cases else None,
    )


def _with_labels(
    change: RuleChange,
    old: list[Alert],
    new: list[Alert],
    labels: Sequence[Mapping[str, Any]],
) -> RuleChange:
    category = (old or new)[0].category
    return replace(
        change,
        labels_before=quality(old, labels, category),
        labels_after=quality(new, labels, category),
    )


def _decided(
    alerts: list[Alert], dispositions: Mapping[str, Disposition], confirmed_total: int
) -> Dispositions:
    confirmed = sum(1 for a in alerts if dispositions.get(a.alert_id) == "true_positive")
    false_positives = sum(1 for a in alerts if dispositions.get(a.alert_id) == "false_positive")
    decided = confirmed + false_positives
    return Dispositions(
        confirmed=confirmed,
        false_positives=false_positives,
        precision=confirmed / decided if decided else None,
        recall=confirmed / confirmed_total if confirmed_total else None,
    )


def _with_dispositions(
    change: RuleChange,
    old: list[Alert],
    new: list[Alert],
    dispositions: Mapping[str, Disposition],
) -> RuleChange:
    confirmed_total = sum(1 for a in old if dispositions.get(a.alert_id) == "true_positive")
    return replace(
        change,
        decided_before=_decided(old, dispositions, confirmed_total),
        decided_after=_decided(new, dispositions, confirmed_total),
        false_positives_removed=tuple(
            a for a in change.removed if dispositions.get(a.alert_id) == "false_positive"
        ),
        confirmed_lost=tuple(
            a for a in change.removed if dispositions.get(a.alert_id) == "true_positive"
        ),
    )
