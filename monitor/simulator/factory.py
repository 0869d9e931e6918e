"""Making events: identifiers, validated pydantic events, and the ledger that sees every one.

Event ids are ``E`` plus a running number and transaction ids ``T`` plus a running number, both
in creation order, so one config always gives the same ids. Every event is a validated
:class:`~monitor.events.Transaction` or :class:`~monitor.events.OperatorAction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from monitor.events import (
    Action,
    Channel,
    Direction,
    Event,
    OperatorAction,
    Transaction,
    TxnStatus,
    TxnType,
)
from monitor.simulator.bank import Customer, Operator
from monitor.simulator.ledger import Ledger

__all__ = ["Event", "EventFactory", "TxnSpec"]


@dataclass(slots=True)  # not frozen: frozen dataclasses are slow to build, and there are many
class TxnSpec:
    """What a transaction is, before it has an id, a time and a status (treat as immutable)."""

    customer: Customer
    amount: Decimal
    currency: str
    direction: Direction
    channel: Channel
    txn_type: TxnType
    counterparty_account: str | None = None
    counterparty_country: str | None = None


class EventFactory:
    """Creates every event of a simulation and keeps them, in creation order."""

    def __init__(self, ledger: Ledger) -> None:
        self.events: list[Event] = []
        self.ledger = ledger
        self._event_seq = 0
        self._txn_seq = 0

    def new_txn_id(self) -> str:
        self._txn_seq += 1
        return f"T{self._txn_seq:010d}"

    def _event_id(self) -> str:
        self._event_seq += 1
        return f"E{self._event_seq:010d}"

    def transaction(
        self,
        spec: TxnSpec,
        txn_id: str,
        at: datetime,
        status: TxnStatus,
        initiator_id: str,
        *,
        injected: bool = False,
    ) -> Transaction:
        customer = spec.customer
        # model_validate of a dict is measurably faster than keyword construction here.
        txn = Transaction.model_validate(
            {
                "kind": "transaction",
                "event_id": self._event_id(),
                "occurred_at": at,
                "branch_id": customer.branch_id,
                "txn_id": txn_id,
                "account_id": customer.account_id,
                "account_type": customer.account_type,
                "amount": spec.amount,
                "currency": spec.currency,
                "direction": spec.direction,
                "channel": spec.channel,
                "txn_type": spec.txn_type,
                "counterparty_account": spec.counterparty_account,
                "counterparty_country": spec.counterparty_country,
                "initiator_id": initiator_id,
                "status": status,
            }
        )
        self.events.append(txn)
        self.ledger.record(txn, injected)
        return txn

    def action(
        self,
        operator: Operator,
        at: datetime,
        action: Action,
        *,
        target_txn_id: str | None = None,
        target_account_id: str | None = None,
        success: bool = True,
    ) -> OperatorAction:
        event = OperatorAction(
            kind="operator_action",
            event_id=self._event_id(),
            occurred_at=at,
            branch_id=operator.branch_id,
            operator_id=operator.operator_id,
            role=operator.role,
            action=action,
            target_txn_id=target_txn_id,
            target_account_id=target_account_id,
            terminal_id=operator.terminal_id,
            outcome="success" if success else "failure",
        )
        self.events.append(event)
        return event
