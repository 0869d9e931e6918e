"""What detectors return before rendering: shared by rules and models (neither imports the other).

A detector (a rule or a model) describes itself with a :class:`DetectorMeta` and returns
:class:`Finding` objects; :class:`monitor.render.AlertRenderer` turns them into alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.alerts import Category, Language, Severity


@dataclass(frozen=True)
class DetectorMeta:
    """Identity and presentation of a rule or a model."""

    id: str
    title: str
    category: Category
    severity: Severity
    entity: str
    tags: tuple[str, ...]
    templates: Mapping[Language, Mapping[str, str]]
    """language -> reason ('' when the detector has one message) -> template."""
    pack_version: str
    fields: frozenset[str] = field(default_factory=frozenset)
    """Event fields the detector reads; they go into the explanation."""


@dataclass(frozen=True)
class Finding:
    """A detector's raw result; the engine renders it into an :class:`~monitor.alerts.Alert`."""

    meta: DetectorMeta
    entity_id: str
    event_ids: tuple[str, ...]
    occurred_at: datetime
    values: Mapping[str, Any]
    branch_id: str | None = None
    reason: str | None = None
