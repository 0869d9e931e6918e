"""Per-operator profiles and the features an operator action is scored on.

A profile is a small JSON-shaped dict, one per operator, replaced (never mutated) on learning:

- ``n``: actions learned; ``hours``: a 24-bin histogram of action hours;
- ``actions``: count per action type; ``recent``: per action type, the times of the last hour;
- ``day`` and ``today``: the current day and, per action type, its busiest hour so far;
- ``peak``: per action type, the busiest hour of any *previous* day.

Busy hours are compared with previous days only, so a burst building up today cannot raise its
own baseline. The population keeps, per ``role:action``, a histogram of operators' busiest hour
of a day (how many records a teller views in their busiest hour) and the actions per role.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from monitor.events import OperatorAction, event_epoch
from monitor.models.account_profile import clip01
from monitor.models.histogram import Histogram

__all__ = [
    "OPERATOR_FEATURES",
    "OperatorPopulation",
    "compact_operator",
    "last_action",
    "learn_operator",
    "observe_operator",
    "operator_features",
]

HOUR = 3600.0
MAX_RECENT = 120
LOG10 = math.log(10.0)
OPERATOR_FEATURES = ("rate_vs_own", "rate_vs_peers", "hour_rarity", "action_rarity")


class OperatorPopulation:
    """Busiest hours per ``role:action`` and per-role action counts, over every operator."""

    def __init__(self) -> None:
        self.peaks: dict[str, Histogram] = {}
        self.hours = Histogram(0.0, 1.0, 24)
        self.by_action: dict[str, int] = {}
        self.by_role: dict[str, int] = {}

    def learn(self, event: OperatorAction) -> None:
        key = f"{event.role}:{event.action}"
        self.hours.add(event.occurred_at.hour)
        self.by_action[key] = self.by_action.get(key, 0) + 1
        self.by_role[event.role] = self.by_role.get(event.role, 0) + 1

    def learn_day(self, role: str, peaks: Mapping[str, int]) -> None:
        """One operator's finished day: their busiest hour per action type."""
        for action, count in peaks.items():
            hist = self.peaks.setdefault(f"{role}:{action}", Histogram(0.0, 1.0, MAX_RECENT + 1))
            hist.add(count)

    def peers_p90(self, event: OperatorAction) -> float | None:
        hist = self.peaks.get(f"{event.role}:{event.action}")
        return hist.cached_quantile(0.9) if hist is not None and hist.total >= 20 else None

    def action_share(self, event: OperatorAction) -> float:
        key = f"{event.role}:{event.action}"
        return (self.by_action.get(key, 0) + 1) / (self.by_role.get(event.role, 0) + 11)

    def to_state(self) -> dict[str, Any]:
        return {
            "peaks": {k: v.to_state() for k, v in sorted(self.peaks.items())},
            "hours": self.hours.to_state(),
            "by_action": dict(sorted(self.by_action.items())),
            "by_role": dict(sorted(self.by_role.items())),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> OperatorPopulation:
        pop = cls()
        pop.peaks = {k: Histogram.from_state(v) for k, v in state["peaks"].items()}
        pop.hours = Histogram.from_state(state["hours"])
        pop.by_action = {k: int(v) for k, v in state["by_action"].items()}
        pop.by_role = {k: int(v) for k, v in state["by_role"].items()}
        return pop


def _day(event: OperatorAction) -> int:
    return event.occurred_at.toordinal()


def hourly_count(
    profile: Mapping[str, Any] | None, event: OperatorAction, moment: float | None = None
) -> int:
    """Actions of this type by this operator in the hour up to and including ``event``."""
    if moment is None:
        moment = event_epoch(event)
    times = (profile or {}).get("recent", {}).get(event.action, ())
    return 1 + sum(1 for t in times if moment - t <= HOUR)


def operator_features(
    profile: Mapping[str, Any] | None,
    event: OperatorAction,
    pop: OperatorPopulation,
    moment: float | None = None,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Features in [0, 1] (higher is more unusual) and the raw details that explain them."""
    profile = profile or {}
    count = hourly_count(profile, event, moment)
    peak = _previous_peaks(profile, event).get(event.action)
    peers = pop.peers_p90(event)
    hours = profile.get("hours") or [0] * 24
    hour = event.occurred_at.hour
    pop_share = (pop.hours.counts[hour] + 1) / (pop.hours.total + 24)
    p_hour = (hours[hour] + 4 * pop_share) / (sum(hours) + 4)
    n = int(profile.get("n", 0))
    p_action = (profile.get("actions", {}).get(event.action, 0) + 4 * pop.action_share(event)) / (
        n + 4
    )
    features = {
        "rate_vs_own": clip01(math.log((count + 1) / (peak + 3)) / LOG10) if peak else 0.0,
        "rate_vs_peers": clip01(math.log((count + 1) / (peers + 3)) / LOG10) if peers else 0.0,
        "hour_rarity": clip01(-math.log(p_hour) / math.log(500.0)),
        "action_rarity": clip01(-math.log(p_action) / math.log(500.0)),
    }
    details = {
        "action": event.action,
        "role": event.role,
        "count_last_hour": count,
        "usual_peak": peak,
        "peers_p90": peers,
        "hour": f"{event.occurred_at.hour:02d}:{event.occurred_at.minute:02d}",
        "usual_hours": hours,
        "history": n,
    }
    return features, details


def _previous_peaks(profile: Mapping[str, Any], event: OperatorAction) -> dict[str, int]:
    """Busiest hours of the days before ``event``'s day (today's peaks roll over once it ends)."""
    peaks = dict(profile.get("peak", {}))
    if profile.get("day") is not None and profile["day"] != _day(event):
        for action, count in profile.get("today", {}).items():
            peaks[action] = max(int(peaks.get(action, 0)), int(count))
    return peaks


def observe_operator(
    profile: Mapping[str, Any] | None,
    event: OperatorAction,
    pop: OperatorPopulation,
    moment: float | None = None,
) -> dict[str, Any]:
    """The profile after any action, learned or not: recent times move, finished days roll."""
    new = dict(profile or {})
    if moment is None:
        moment = event_epoch(event)
    if new.get("day") is not None and new["day"] != _day(event):
        pop.learn_day(event.role, new.get("today", {}))
        new["peak"] = _previous_peaks(new, event)
        new["today"] = {}
    new["day"] = _day(event)
    recent = {
        action: kept
        for action, times in new.get("recent", {}).items()
        if (kept := [t for t in times if moment - t <= HOUR])
    }
    recent[event.action] = [*recent.get(event.action, ()), moment][-MAX_RECENT:]
    new["recent"] = recent
    return new


def learn_operator(profile: Mapping[str, Any], event: OperatorAction, count: int) -> dict[str, Any]:
    """A new profile with ``event`` learned; ``count`` is its hourly count when scored."""
    new = dict(profile)
    hours = list(new.get("hours") or [0] * 24)
    hours[event.occurred_at.hour] += 1
    actions = dict(new.get("actions", {}))
    actions[event.action] = actions.get(event.action, 0) + 1
    today = dict(new.get("today", {}))
    today[event.action] = max(int(today.get(event.action, 0)), count)
    new.update(n=int(new.get("n", 0)) + 1, hours=hours, actions=actions, today=today)
    return new


OPERATOR_HISTORY = ("n", "hours", "actions", "peak", "day", "today")
"""What a compacted operator profile keeps: its history, not its last hour."""


def last_action(profile: Mapping[str, Any]) -> float | None:
    """The time of the operator's latest action (``last``, or the newest recent time).

    >>> last_action({"last": 5.0, "recent": {"view": [7.0, 9.0], "edit": [8.0]}})
    9.0
    >>> last_action({}) is None
    True
    """
    times = [t[-1] for t in profile.get("recent", {}).values() if t]
    if profile.get("last") is not None:
        times.append(float(profile["last"]))
    return max(times) if times else None


def compact_operator(profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile of an operator idle for long: hours, action counts, daily peaks and the day
    they belong to are kept, with the time of the last action; the last hour's times, held
    events, evidence and alert cool-down are dropped.

    >>> compact_operator({"n": 2, "day": 9, "recent": {"view": [3.0]}, "ev": 4.0})
    {'n': 2, 'day': 9, 'last': 3.0}
    """
    new = {k: profile[k] for k in OPERATOR_HISTORY if k in profile}
    last = last_action(profile)
    if last is not None:
        new["last"] = last
    return new
