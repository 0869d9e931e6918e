"""Planning the injected cases, and labelling every same-day crossing the ledger finds.

``inject_rate`` multiplies a baseline of cases per week of a 20-branch bank (:data:`BASELINE`),
scaled by the simulated days and branches, with at least one case of each kind while the rate is
above zero. Each case draws from its own random stream, so adding a kind never moves another.
A builder that cannot place its case (no free teller, no such day) is retried a few times.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from monitor.simulator.anomalies import account_takeover, bulk_view, dormant_drain
from monitor.simulator.context import SimContext, SimulatorError, rng_for
from monitor.simulator.dual import dual_review
from monitor.simulator.labels import Case, DualReviewReason
from monitor.simulator.violations import after_hours, large_cumulative, large_single, structuring

__all__ = ["BASELINE", "case_counts", "inject", "label_crossings"]

Builder = Callable[[SimContext, random.Random, int], Case | None]
ATTEMPTS = 20


def _dual(reason: DualReviewReason) -> Builder:
    return lambda ctx, rng, _index: dual_review(ctx, rng, reason)


BASELINE: dict[str, tuple[float, Builder]] = {
    # kind: (cases per week of a 20-branch bank at inject_rate 1, builder)
    "dual_review/missing": (4, _dual("missing")),
    "dual_review/self_approval": (3, _dual("self_approval")),
    "dual_review/unauthorised_reviewer": (3, _dual("unauthorised_reviewer")),
    "dual_review/late": (3, _dual("late")),
    "large_transfer/single": (4, large_single),
    "large_transfer/cumulative": (4, large_cumulative),
    "structuring": (4, structuring),
    "after_hours": (4, after_hours),
    "model_anomaly/account_takeover": (3, account_takeover),
    "model_anomaly/dormant_drain": (3, dormant_drain),
    "model_anomaly/bulk_view": (3, bulk_view),
}


def case_counts(days: int, branches: int, rate: float) -> dict[str, int]:
    """How many cases of each kind a simulation of this size injects."""
    if rate <= 0:
        return dict.fromkeys(BASELINE, 0)
    scale = rate * days / 7 * branches / 20
    return {kind: max(1, round(weekly * scale)) for kind, (weekly, _) in BASELINE.items()}


def inject(ctx: SimContext) -> None:
    """Add every injected case to ``ctx`` (events to the factory, cases to ``ctx.cases``)."""
    config = ctx.config
    counts = case_counts(config.days, config.branches, config.inject_rate)
    for kind, (_, build) in BASELINE.items():
        for index in range(counts[kind]):
            for attempt in range(ATTEMPTS):
                case = build(ctx, rng_for(config, "inject", kind, index, attempt), index)
                if case is not None and case.events:
                    ctx.cases.append(case)
                    break


def label_crossings(ctx: SimContext) -> None:
    """Label every same-day cumulative crossing the rules will see.

    A crossing an injected case made on purpose is already labelled; any other (structuring on
    top of the day's total, say) gets a ``large_transfer`` label of its own. Ordinary traffic
    never crosses, by construction; if it did, the crossing would still be labelled, as
    ordinary business, so that no alert is left unexplained.
    """
    for crossing in ctx.ledger.crossings():
        case = ctx.expected_crossings.pop(crossing.key, None)
        if case is not None:
            if not set(crossing.event_ids) & set(case.event_ids):
                raise SimulatorError(
                    f"cumulative case on {crossing.key} crosses without its events"
                )
            continue
        account, group, line, day = crossing.key
        ctx.cases.append(
            Case(
                category="large_transfer",
                reason=None,
                injected=crossing.injected,
                entity_type="account",
                entity_id=account,
                branch_id=crossing.branch_id,
                detail=f"same-day cumulative {group} total reaches the {line} line on {day} "
                + ("(with injected transactions)" if crossing.injected else "(ordinary business)"),
                extra_event_ids=crossing.event_ids,
                at=crossing.at,
            )
        )
    if ctx.expected_crossings:
        raise SimulatorError(f"cumulative cases that never cross: {sorted(ctx.expected_crossings)}")
