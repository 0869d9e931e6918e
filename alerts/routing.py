"""Route files: which alerts go to which named sinks, in which language, grouped or not.

A route file is YAML::

    group_window_seconds: 300          # alerts of one rule and entity within 5 min → one message
    routes:
      - name: store-everything         # the store records every alert, silenced or not
        sinks: [store]
        ignore_silences: true
        group: false
      - name: high-to-officers-en
        match:                         # empty fields match anything; tags: all must be present
          severity: [high, critical]
          category: [large_transfer, structuring]
          tags: [maturity_stable]
          branch_id: [BR001]
          entity_type: [account]
        language: en                   # deliver the English message
        sinks: [alertmanager, webhook]
        stop: true                     # later routes do not see alerts this route matched
    rate_limits:
      webhook: {rate_per_second: 0.5, burst: 20}

Conventions
-----------
- Languages: the engine renders every alert in each language its rule has a template for
  (``Alert.messages``, en and zh-CN for shipped rules). A route with ``language`` delivers that
  text; an alert without it (only ``Alert.language``) reaches only routes of its language.
  The routing layer never re-renders text.
- Routes are tried in order; every matching route applies until one with ``stop: true``.
  An alert reaches a sink once even when two routes name that sink (the first route wins).
- Errors name the file and the field path (``routes.1.sinks``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alerts.errors import RouteConfigError
from alerts.matching import AlertMatcher
from monitor.alerts import Alert, Language

__all__ = ["RateLimit", "Route", "RouteConfig", "load_routes", "parse_routes"]


class Route(BaseModel):
    """One route: a matcher, a language, and the sinks to send to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    match: AlertMatcher = AlertMatcher()
    language: Language | None = None
    sinks: tuple[str, ...] = Field(min_length=1)
    group: bool = True
    ignore_silences: bool = False
    stop: bool = False

    def accepts(self, alert: Alert) -> bool:
        """True when the alert can be shown in the route's language and its matcher accepts it."""
        if (
            self.language is not None
            and alert.language != self.language
            and self.language not in alert.messages
        ):
            return False
        return self.match.matches(alert)


class RateLimit(BaseModel):
    """A sink's token bucket: ``burst`` notifications at once, refilled at ``rate_per_second``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class RouteConfig(BaseModel):
    """A whole route file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_window_seconds: float = Field(default=300.0, ge=0)
    routes: tuple[Route, ...] = Field(min_length=1)
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_are_unique(self) -> RouteConfig:
        names = [route.name for route in self.routes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"route names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def routes_for(self, alert: Alert) -> list[Route]:
        """The routes that apply to ``alert``, in file order, up to the first stopping one."""
        found = []
        for route in self.routes:
            if route.accepts(alert):
                found.append(route)
                if route.stop:
                    break
        return found

    def sink_names(self) -> set[str]:
        """Every sink a route or rate limit names."""
        return {sink for route in self.routes for sink in route.sinks} | set(self.rate_limits)

    def check_sinks(self, available: Iterable[str], *, file: str = "<routes>") -> None:
        """Raise :class:`RouteConfigError` naming the field if a route names an unknown sink."""
        known = set(available)
        for index, route in enumerate(self.routes):
            for position, sink in enumerate(route.sinks):
                if sink not in known:
                    raise RouteConfigError(
                        f"unknown sink {sink!r}; known sinks: {', '.join(sorted(known))}",
                        file=file,
                        field=f"routes.{index}.sinks.{position}",
                    )
        for sink in self.rate_limits:
            if sink not in known:
                raise RouteConfigError(
                    f"unknown sink {sink!r}", file=file, field=f"rate_limits.{sink}"
                )


def parse_routes(data: Any, *, file: str = "<routes>") -> RouteConfig:
    """Validate already-loaded YAML data; errors name ``file`` and the field path."""
    try:
        return RouteConfig.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or None
        raise RouteConfigError(error["msg"], file=file, field=field) from None


def load_routes(path: str | Path) -> RouteConfig:
    """Read and validate a route file."""
    file = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RouteConfigError(f"cannot read: {exc.strerror}", file=file) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise RouteConfigError(f"{where}invalid YAML", file=file) from None
    return parse_routes(data, file=file)
