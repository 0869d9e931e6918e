"""A seeded, deterministic bank simulator: events of a realistic bank plus labelled cases.

Conventions
-----------
- Pure: no I/O, no wall clock, no global random state. Every random draw comes from a stream
  seeded by ``(config.seed, purpose, ...)``, so the same :class:`SimConfig` gives the same events
  and labels, byte for byte once encoded, and ordinary traffic does not change when injections do.
- Events are validated :mod:`monitor.events` models sorted by ``(occurred_at, event_id)``, local
  to the bank's time zone.
- The simulator agrees with the shipped rules: with ``inject_rate=0`` the only rule alerts are
  ``large_transfer`` alerts on genuinely large transactions, each labelled. Injected cases of a
  rule category trigger exactly their own rule (and reason); rule-less anomalies trigger none.
- A label names the events of its case; an alert detects it when their ids intersect.

>>> sim = simulate(SimConfig(days=1, branches=1, customers_per_branch=50, inject_rate=0))
>>> sim.events == sorted(sim.events, key=lambda e: (e.occurred_at, e.event_id))
True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter

from monitor.events import Event
from monitor.rules.ruleset import RuleSet
from monitor.simulator.config import SimConfig
from monitor.simulator.context import SimContext, SimulatorError
from monitor.simulator.inject import case_counts, inject, label_crossings
from monitor.simulator.labels import Label, finalise
from monitor.simulator.large import generate_large
from monitor.simulator.limits import Limits, limits_from_rules, shipped_limits
from monitor.simulator.normal import customer_day
from monitor.simulator.staff import staff_day

__all__ = ["Label", "SimConfig", "Simulation", "SimulatorError", "case_counts", "simulate"]


@dataclass(frozen=True)
class Simulation:
    """The result: events in stream order and the labelled cases."""

    config: SimConfig
    events: list[Event]
    labels: list[Label]


def simulate(config: SimConfig, rules: RuleSet | None = None) -> Simulation:
    """Simulate ``config.days`` days of a bank from ``config.start``.

    Ordinary traffic first (customers' transactions, staff shifts, genuinely large
    transactions), then the injected cases, then a label for every same-day cumulative total
    the rules will see cross.

    Parameters
    ----------
    config
        The whole configuration; the same config gives the same result.
    rules
        The rule set the output will be replayed through (default: the shipped packs). The
        simulator takes its thresholds, currency table and dual-review limits from it, so that
        injected cases sit where these rules draw their lines.

    Returns
    -------
    Simulation
        Events sorted by ``(occurred_at, event_id)`` and labels sorted by start time. A default
        week of a 20-branch bank is about 210,000 events and 2 KB of memory per event.

    Notes
    -----
    Python's cyclic garbage collector is paused while the simulation runs (the objects it makes
    have no cycles) and restored afterwards.
    """
    with _without_cyclic_gc():
        return _simulate(config, shipped_limits() if rules is None else limits_from_rules(rules))


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    # The simulation allocates hundreds of thousands of long-lived, acyclic objects; the cyclic
    # collector would rescan them over and over (about a quarter of the run time) and find
    # nothing. Reference counting still frees everything; the collector's state is restored.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _simulate(config: SimConfig, limits: Limits) -> Simulation:
    ctx = SimContext.create(config, limits)
    for index, day in enumerate(ctx.days):
        roster = ctx.rosters[index]
        for branch_id in ctx.bank.branch_ids:
            today = roster.get(branch_id)
            customer_day(ctx, branch_id, day, today)
            if today is not None:
                staff_day(ctx, today)
    generate_large(ctx)
    inject(ctx)
    label_crossings(ctx)
    events = sorted(ctx.factory.events, key=attrgetter("occurred_at", "event_id"))
    return Simulation(config=config, events=events, labels=finalise(ctx.cases))
