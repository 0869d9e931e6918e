"""The scorer protocol and the version header every persisted model state carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from monitor.errors import MonitorError

__all__ = ["ExplainingScorer", "ModelStateError", "Scorer", "check_state"]


class ModelStateError(MonitorError):
    """A persisted model state of the wrong kind or version."""


@runtime_checkable
class Scorer(Protocol):
    """River-shaped: ``score_one`` first, then ``learn_one``; a higher score is more anomalous.

    ``x`` maps feature names to floats; a missing feature takes its neutral value. Neither
    method mutates ``x``. The constructor's parameters (including ``seed``) are the whole
    configuration, and ``to_state`` is JSON-serialisable with a ``version`` header.
    """

    def score_one(self, x: Mapping[str, float]) -> float: ...

    def learn_one(self, x: Mapping[str, float]) -> None: ...

    def to_state(self) -> dict[str, Any]: ...


@runtime_checkable
class ExplainingScorer(Scorer, Protocol):
    """A scorer that can split a score into per-feature contributions."""

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]: ...


def check_state(state: Mapping[str, Any], kind: str, version: int) -> None:
    """Refuse a state that is not ``kind`` at ``version``."""
    if state.get("kind") != kind or state.get("version") != version:
        raise ModelStateError(
            f"expected {kind} state version {version}, "
            f"got {state.get('kind')!r} version {state.get('version')!r}"
        )
