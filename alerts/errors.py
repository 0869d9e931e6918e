"""The error tree of the alerts package.

Every error the alerts package raises on purpose derives from :class:`AlertsError`, which is a
:class:`monitor.errors.MonitorError`, so one ``except MonitorError`` covers the whole project::

    MonitorError
    └── AlertsError
        ├── AlertStoreError             the alert store refused an operation
        │   ├── AlertNotFoundError      no alert with that id
        │   ├── SilenceNotFoundError    no silence with that id
        │   ├── InvalidTransitionError  the lifecycle does not allow that status change
        │   ├── InvalidSilenceError     a silence lacks an author, reason or ticket, or is too long
        │   ├── IdentityError           a blank or unknown user, a bad password or token
        │   ├── PermissionDeniedError   the user's role may not do this
        │   ├── ApprovalError           a two-person rule was broken (e.g. a self-approval)
        │   └── RegisterError           the risk-event register refused (e.g. a follow-up missing)
        │       └── RiskEventNotFoundError  no risk event with that id
        ├── RouteConfigError            a route file is invalid (file and field path)
        ├── DeliveryAttemptError        one delivery attempt of a sink failed (maybe retryable)
        └── SinkDeliveryError           a sink gave up on a notification after its retries
"""

from __future__ import annotations

from monitor.errors import MonitorError

__all__ = [
    "AlertNotFoundError",
    "AlertStoreError",
    "AlertsError",
    "ApprovalError",
    "DeliveryAttemptError",
    "IdentityError",
    "InvalidSilenceError",
    "InvalidTransitionError",
    "PermissionDeniedError",
    "RegisterError",
    "RiskEventNotFoundError",
    "RouteConfigError",
    "SilenceNotFoundError",
    "SinkDeliveryError",
]


class AlertsError(MonitorError):
    """Base class of every error of the alerts package."""


class AlertStoreError(AlertsError):
    """The alert store refused an operation."""


class AlertNotFoundError(AlertStoreError):
    """No alert with the given id is stored."""

    def __init__(self, alert_id: str) -> None:
        super().__init__(f"no alert with id {alert_id!r}")
        self.alert_id = alert_id


class SilenceNotFoundError(AlertStoreError):
    """No silence with the given id is stored."""

    def __init__(self, silence_id: str) -> None:
        super().__init__(f"no silence with id {silence_id!r}")
        self.silence_id = silence_id


class InvalidTransitionError(AlertStoreError):
    """The lifecycle does not allow moving an alert from ``current`` to ``requested``."""

    def __init__(self, alert_id: str, current: str, requested: str) -> None:
        super().__init__(f"alert {alert_id!r} is {current}; it cannot become {requested}")
        self.alert_id = alert_id
        self.current = current
        self.requested = requested


class InvalidSilenceError(AlertStoreError):
    """A silence was refused: missing author, reason or ticket, bad window, or too long."""


class RouteConfigError(AlertsError):
    """A route file is invalid. The message names the file and the field path."""

    def __init__(self, problem: str, *, file: str, field: str | None = None) -> None:
        self.problem = problem
        self.file = file
        self.field = field
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {problem}")


class SinkDeliveryError(AlertsError):
    """A sink could not deliver after all its attempts."""

    def __init__(self, sink: str, attempts: int, cause: str) -> None:
        super().__init__(f"sink {sink!r} failed after {attempts} attempt(s): {cause}")
        self.sink = sink
        self.attempts = attempts
        self.cause = cause


class DeliveryAttemptError(AlertsError):
    """One delivery attempt failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class IdentityError(AlertStoreError):
    """No authenticated identity: a blank or unknown user, a bad password or token."""


class PermissionDeniedError(AlertStoreError):
    """The identity is known, but its role may not do this."""


class ApprovalError(AlertStoreError):
    """A two-person rule was broken: a self-approval, or nothing is waiting for approval."""


class RegisterError(AlertStoreError):
    """The risk-event register refused an operation (e.g. closing with a follow-up missing)."""


class RiskEventNotFoundError(RegisterError):
    """No risk event with the given id."""

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no risk event with id {event_id!r}")
        self.event_id = event_id
