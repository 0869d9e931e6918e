"""What differs between the entity kinds a model watches: keys, features, profiles, population.

An :class:`EntityKind` tells the generic :class:`~monitor.models.stage.ModelStage` which events
it keys, how to turn an event and the entity's profile into features, and how to update the
profile and the partition's population.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from monitor.events import Event, OperatorAction, Transaction
from monitor.models.account_profile import (
    ACCOUNT_FEATURES,
    AccountPopulation,
    account_features,
    compact_account,
    learn_account,
    log_cny,
    observe_account,
)
from monitor.models.operator_profile import (
    OPERATOR_FEATURES,
    OperatorPopulation,
    compact_operator,
    last_action,
    learn_operator,
    observe_operator,
    operator_features,
)

__all__ = ["AccountKind", "EntityKind", "OperatorKind"]

Profile = Mapping[str, Any] | None


class EntityKind(Protocol):
    entity: str
    features: tuple[str, ...]
    held_details: tuple[str, ...]
    """The details :meth:`learn` reads, kept with a held event (see ``ModelStage``)."""

    def key_for(self, event: Event) -> str | None: ...

    def scored(self, event: Event, profile: Profile) -> bool: ...

    def new_population(self) -> Any: ...

    def load_population(self, state: Mapping[str, Any]) -> Any: ...

    def features_of(
        self, profile: Profile, event: Event, pop: Any, moment: float
    ) -> tuple[dict[str, float], Mapping[str, Any]]: ...

    def observe(self, profile: Profile, event: Event, pop: Any, moment: float) -> dict[str, Any]:
        """The profile after any event (``moment``: its POSIX time), learned or not."""
        ...

    def learn(
        self, profile: Mapping[str, Any], event: Event, pop: Any, details: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    def last_seen(self, profile: Mapping[str, Any]) -> float | None:
        """The event time of the entity's latest event, ``None`` if the profile does not say."""
        ...

    def compact(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        """The profile of an entity idle for long: its history without its last session."""
        ...


def _txn(event: Event) -> Transaction:
    if not isinstance(event, Transaction):
        raise TypeError(f"the account models key transactions, not {event.kind}")
    return event


def _action(event: Event) -> OperatorAction:
    if not isinstance(event, OperatorAction):
        raise TypeError(f"the operator models key operator actions, not {event.kind}")
    return event


class AccountKind:
    """Debits of an account: one scored event per ``txn_id`` (its first status), no reversals."""

    entity: str = "account"
    features: tuple[str, ...] = ACCOUNT_FEATURES
    held_details: tuple[str, ...] = ()

    def __init__(
        self, home_country: str = "CN", cny_per_unit: Mapping[str, float] | None = None
    ) -> None:
        self.home_country = home_country
        self.cny_per_unit = dict(cny_per_unit or {})  # the rule set's currency table

    def key_for(self, event: Event) -> str | None:
        return event.account_id if isinstance(event, Transaction) else None

    def scored(self, event: Event, profile: Profile) -> bool:
        if not isinstance(event, Transaction) or event.direction != "debit":
            return False
        if event.status == "reversed":
            return False
        return event.txn_id not in (profile or {}).get("txns", ())

    def new_population(self) -> AccountPopulation:
        return AccountPopulation(self.home_country)

    def load_population(self, state: Mapping[str, Any]) -> AccountPopulation:
        return AccountPopulation.from_state(state)

    def features_of(
        self, profile: Profile, event: Event, pop: Any, moment: float
    ) -> tuple[dict[str, float], Mapping[str, Any]]:
        return account_features(
            profile, _txn(event), pop, self.home_country, moment, self.cny_per_unit
        )

    def observe(self, profile: Profile, event: Event, pop: Any, moment: float) -> dict[str, Any]:
        event = _txn(event)
        pop.observe(moment)
        new = observe_account(profile, event, pop.first, moment)
        if event.direction == "debit" and event.status != "reversed":
            kept = [t for t in new.get("txns", ()) if t != event.txn_id]
            new["txns"] = [*kept, event.txn_id][-4:]
        return new

    def learn(
        self, profile: Mapping[str, Any], event: Event, pop: Any, details: Mapping[str, Any]
    ) -> dict[str, Any]:
        event = _txn(event)
        amount = log_cny(event.amount, event.currency, self.cny_per_unit)
        pop.learn(event, amount)
        return learn_account(profile, event, amount)

    def last_seen(self, profile: Mapping[str, Any]) -> float | None:
        last = profile.get("last")
        return None if last is None else float(last)

    def compact(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        return compact_account(profile)


class OperatorKind:
    """Every action of an operator."""

    entity: str = "operator"
    features: tuple[str, ...] = OPERATOR_FEATURES
    held_details: tuple[str, ...] = ("count_last_hour",)

    def key_for(self, event: Event) -> str | None:
        return event.operator_id if isinstance(event, OperatorAction) else None

    def scored(self, event: Event, profile: Profile) -> bool:
        return isinstance(event, OperatorAction)

    def new_population(self) -> OperatorPopulation:
        return OperatorPopulation()

    def load_population(self, state: Mapping[str, Any]) -> OperatorPopulation:
        return OperatorPopulation.from_state(state)

    def features_of(
        self, profile: Profile, event: Event, pop: Any, moment: float
    ) -> tuple[dict[str, float], Mapping[str, Any]]:
        return operator_features(profile, _action(event), pop, moment)

    def observe(self, profile: Profile, event: Event, pop: Any, moment: float) -> dict[str, Any]:
        return observe_operator(profile, _action(event), pop, moment)

    def learn(
        self, profile: Mapping[str, Any], event: Event, pop: Any, details: Mapping[str, Any]
    ) -> dict[str, Any]:
        count = int(details["count_last_hour"])
        pop.learn(_action(event))
        return learn_operator(profile, _action(event), count)

    def last_seen(self, profile: Mapping[str, Any]) -> float | None:
        return last_action(profile)

    def compact(self, profile: Mapping[str, Any]) -> dict[str, Any]:
        return compact_operator(profile)
