"""Sequence / absence rules: maker-checker (dual review) on qualifying transactions.

A qualifying transaction needs an ``approve`` action (``target_txn_id``) by a *different* operator
with an allowed role, within ``within`` of the transaction's first event time, and before it is
posted. The rule alerts with one of four reasons: ``missing`` (deadline passed), ``self_approval``,
``unauthorised_reviewer`` and ``late`` (approved after posting).

Why decisions wait for the watermark: the transaction and its approvals come from two topics, so
they may arrive in any order within the allowed lateness. An approval is recorded when it arrives
and judged only once the stage watermark passes its event time, when everything before it has been
seen. That is what makes the live stream and a replay of a file agree.

State per ``txn_id``::

    {"txn": {..., "events": [Seen]} | None, "approvals": [Approval]}
    or, once decided,    {"done": expiry}

:class:`Seen` and :class:`Approval` are named tuples, stored as the JSON lists
``[epoch, event_id]`` and ``[epoch, operator, role, event_id, iso]`` they always were.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, NamedTuple

from monitor.events import Event, OperatorAction, Transaction, event_epoch
from monitor.findings import Finding
from monitor.rules.compiled import CompiledRule, RuleMeta, State
from monitor.rules.conditions import Predicate
from monitor.rules.money import Threshold


class Seen(NamedTuple):
    """An event of the watched transaction (JSON: ``[epoch, event_id]``)."""

    t: float
    event_id: str


class Approval(NamedTuple):
    """An approval of the watched transaction (JSON: ``[epoch, operator, role, event_id, iso]``)."""

    t: float
    operator: str
    role: str
    event_id: str
    iso: str
    """Its event time as written, with its offset (the alert's ``occurred_at``)."""


def _approvals(values: Iterable[Sequence[Any]]) -> list[Approval]:
    return [a if isinstance(a, Approval) else Approval(*a) for a in values]


def _seen(values: Iterable[Sequence[Any]]) -> list[Seen]:
    return [e if isinstance(e, Seen) else Seen(*e) for e in values]


class SequenceRuleRuntime(CompiledRule):
    PLACEHOLDERS: ClassVar[frozenset[str]] = frozenset(
        {
            "txn_id",
            "account_id",
            "amount",
            "currency",
            "channel",
            "initiator_id",
            "approver_id",
            "approver_role",
            "allowed_roles",
            "initiated_at",
            "posted_at",
            "approved_at",
            "within",
        }
    )
    """Message placeholders this kind adds to the event's fields (checked by the loader)."""
    consumes = (Transaction, OperatorAction)

    def __init__(
        self,
        meta: RuleMeta,
        predicate: Predicate,
        threshold: Threshold | None,
        within: timedelta,
        roles: frozenset[str],
        before_posted: bool,
        retention: timedelta,
    ) -> None:
        super().__init__(meta, predicate)
        self.threshold = threshold
        self.within = within.total_seconds()
        self.roles = roles
        self.before_posted = before_posted
        self.retention = retention.total_seconds()

    def accepts(self, event: Event) -> bool:
        if isinstance(event, OperatorAction):
            return event.action == "approve" and event.target_txn_id is not None
        return True

    def on_event(self, state: State, key: str, event: Event) -> tuple[State, list[Finding]]:
        if state is not None and "done" in state:
            return state, []
        if isinstance(event, OperatorAction):
            return self._record_approval(state, event), []
        return self._record_transaction(state, event), []

    def _record_approval(self, state: State, event: OperatorAction) -> State:
        t = event_epoch(event)
        entry = Approval(
            t, event.operator_id, event.role, event.event_id, event.occurred_at.isoformat()
        )
        known = _approvals((state or {}).get("approvals", []))
        if any(a.event_id == event.event_id for a in known):
            return state  # a redelivered approval
        approvals = sorted([*known, entry])
        return {"txn": (state or {}).get("txn"), "approvals": approvals}

    def _record_transaction(self, state: State, event: Transaction) -> State:
        t = event_epoch(event)
        txn: dict[str, Any] | None = (state or {}).get("txn")
        approvals = (state or {}).get("approvals", [])
        if txn is None:
            if event.status == "reversed" or not self._qualifies(event):
                # Nothing to watch. Keep a marker only if approvals are waiting for this
                # transaction, so that they are dropped instead of lingering.
                return {"done": t + self.retention} if approvals else None
            txn = {
                "t": t,
                "iso": event.occurred_at.isoformat(),
                "deadline": t + self.within,
                "initiator": event.initiator_id,
                "account": event.account_id,
                "branch": event.branch_id,
                "amount": str(event.amount),
                "currency": event.currency,
                "channel": event.channel,
                "events": [Seen(t, event.event_id)],
                "posted": t if event.status == "posted" else None,
            }
            return {"txn": txn, "approvals": approvals}
        if event.status == "reversed":
            return {"done": t + self.retention}
        txn = dict(txn)
        seen = _seen(txn["events"])
        if t <= txn["deadline"] and all(e.event_id != event.event_id for e in seen):
            txn["events"] = sorted([*seen, Seen(t, event.event_id)])
        if event.status == "posted" and (txn["posted"] is None or t < txn["posted"]):
            txn["posted"] = t
        return {"txn": txn, "approvals": approvals}

    def _qualifies(self, event: Transaction) -> bool:
        if not self.predicate(event):
            return False
        if self.threshold is None:
            return True
        line = self.threshold.line(event.amount, event.currency)
        return line is not None and line.reached

    def on_time(self, state: State, key: str, watermark: float) -> tuple[State, list[Finding]]:
        if state is None:
            return None, []
        if "done" in state:
            return (None if state["done"] <= watermark else state), []
        txn = state["txn"]
        approvals = _approvals(state["approvals"])
        if txn is None:
            # Approvals for a transaction never seen: forget them after the retention period.
            if approvals and approvals[0].t + self.retention <= watermark:
                return None, []
            return state, []
        for t, operator, role, event_id, iso in approvals:
            if t > watermark:
                break  # judged when the watermark passes it
            if t > txn["deadline"]:
                continue  # too late to count; the deadline decides
            reason = self._judge(txn, operator, role, t)
            done = {"done": t + self.retention}
            if reason is None:
                return done, []
            return done, [self._finding(key, txn, reason, (event_id,), iso, operator, role)]
        if txn["deadline"] <= watermark:
            deadline_iso = datetime.fromisoformat(txn["iso"]) + timedelta(seconds=self.within)
            return {"done": txn["deadline"] + self.retention}, [
                self._finding(key, txn, "missing", (), deadline_iso.isoformat(), None, None)
            ]
        return state, []

    def _judge(self, txn: dict[str, Any], operator: str, role: str, t: float) -> str | None:
        if operator == txn["initiator"]:
            return "self_approval"
        if role not in self.roles:
            return "unauthorised_reviewer"
        if self.before_posted and txn["posted"] is not None and txn["posted"] < t:
            return "late"
        return None

    def deadline(self, state: State) -> float | None:
        if state is None:
            return None
        if "done" in state:
            return float(state["done"])
        approvals = _approvals(state["approvals"])
        if state["txn"] is None:
            return float(approvals[0].t + self.retention) if approvals else None
        pending = [float(a.t) for a in approvals if a.t <= state["txn"]["deadline"]]
        return min([*pending, float(state["txn"]["deadline"])])

    def _finding(
        self,
        key: str,
        txn: dict[str, Any],
        reason: str,
        extra_events: tuple[str, ...],
        iso: str,
        approver: str | None,
        role: str | None,
    ) -> Finding:
        posted = txn["posted"]
        return self.finding(
            entity_id=key,
            event_ids=(*(e.event_id for e in _seen(txn["events"])), *extra_events),
            occurred_at=datetime.fromisoformat(iso),
            branch_id=txn["branch"],
            reason=reason,
            values={
                "txn_id": key,
                "account_id": txn["account"],
                "amount": Decimal(txn["amount"]),
                "currency": txn["currency"],
                "channel": txn["channel"],
                "initiator_id": txn["initiator"],
                "approver_id": approver,
                "approver_role": role,
                "allowed_roles": sorted(self.roles),
                "initiated_at": txn["iso"],
                "approved_at": iso if approver is not None else None,
                "posted_at": None
                if posted is None
                else datetime.fromtimestamp(
                    posted, datetime.fromisoformat(txn["iso"]).tzinfo
                ).isoformat(),
                "within": f"{self.within / 60:g} min",
            },
        )
