"""Silences: who suppressed which alerts, why, under which ticket, and until when.

Conventions
-----------
- Matchers are :class:`alerts.matching.AlertMatcher`: empty fields match anything.
- A silence is active from ``starts_at`` (inclusive) to ``ends_at`` (exclusive) once approved,
  unless it was expired early (``expired_at``). Times are timezone-aware.
- Maker-checker: where the store requires approval, a second person approves a silence before it
  suppresses anything; otherwise it is recorded as approved by its author when made.
- Silences are pure values here; the store persists them and audits their creation and expiry.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict

from alerts.matching import AlertMatcher
from monitor.alerts import Alert

__all__ = ["Silence", "SilenceMatchers", "is_silenced"]


SilenceMatchers = AlertMatcher
"""Silences match alerts exactly as routes do."""


class Silence(BaseModel):
    """A stored silence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    silence_id: str
    matchers: SilenceMatchers
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    author: str
    reason: str
    ticket: str
    created_at: AwareDatetime
    expired_at: AwareDatetime | None = None
    expired_by: str | None = None
    approved_by: str | None = None
    approved_at: AwareDatetime | None = None

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    def is_active(self, at: datetime) -> bool:
        """True when the silence is approved and applies at ``at``."""
        if self.approved_at is None or self.approved_at > at:
            return False
        if self.expired_at is not None and self.expired_at <= at:
            return False
        return self.starts_at <= at < self.ends_at


def is_silenced(alert: Alert, silences: list[Silence], at: datetime) -> Silence | None:
    """The first active silence covering ``alert`` at ``at``, or None."""
    for silence in silences:
        if silence.is_active(at) and silence.matchers.matches(alert):
            return silence
    return None
