"""Backtest: the same events through two rule sets, and what changes between them.

Alerts are matched by ``alert_id`` (rule id + triggering events), which does not depend on the
pack version, so a threshold change shows exactly the alerts it adds and removes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.alerts import Alert
from monitor.engine import Engine, Event
from monitor.rules.ruleset import RuleSet


@dataclass(frozen=True)
class RuleChange:
    rule_id: str
    before: int
    after: int
    added: tuple[Alert, ...]
    removed: tuple[Alert, ...]


@dataclass(frozen=True)
class BacktestDiff:
    before: tuple[Alert, ...]
    after: tuple[Alert, ...]
    by_rule: tuple[RuleChange, ...]

    @property
    def added(self) -> int:
        return sum(len(r.added) for r in self.by_rule)

    @property
    def removed(self) -> int:
        return sum(len(r.removed) for r in self.by_rule)


def run_rules(ruleset: RuleSet, events: Iterable[Event]) -> list[Alert]:
    """All alerts of ``ruleset`` over ``events``, deadlines flushed at the end."""
    engine = Engine(ruleset)
    alerts = [alert for event in events for alert in engine.process(event)]
    return alerts + engine.flush()


def diff_alerts(before: Iterable[Alert], after: Iterable[Alert]) -> BacktestDiff:
    """Alerts added and removed per rule between two runs over the same events."""
    old = {a.alert_id: a for a in before}
    new = {a.alert_id: a for a in after}
    rules = sorted({a.rule_id for a in old.values()} | {a.rule_id for a in new.values()})
    count_old = Counter(a.rule_id for a in old.values())
    count_new = Counter(a.rule_id for a in new.values())
    changes = []
    for rule_id in rules:
        added = tuple(a for k, a in new.items() if k not in old and a.rule_id == rule_id)
        removed = tuple(a for k, a in old.items() if k not in new and a.rule_id == rule_id)
        changes.append(RuleChange(rule_id, count_old[rule_id], count_new[rule_id], added, removed))
    return BacktestDiff(tuple(old.values()), tuple(new.values()), tuple(changes))
