"""A loaded, compiled set of rules, with the version and hash every alert carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.errors import RulePackError
from monitor.rules.compiled import CompiledRule
from monitor.rules.schema import AnyRule


@dataclass(frozen=True)
class RuleWarning:
    """Something in a rule file that loads but is probably a mistake."""

    problem: str
    file: str | None = None
    line: int | None = None
    item_id: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = RulePackError(
            self.problem, file=self.file, line=self.line, item_id=self.item_id, field=self.field
        )
        return f"warning: {where}"


@dataclass(frozen=True)
class RuleOrigin:
    """Where a rule was written: its file and line, the line of each example, its pack."""

    file: str
    line: int | None
    example_lines: tuple[int | None, ...] = ()
    pack: str = ""
    """``name@version`` of the file's pack (``<file stem>@local`` for a file without one)."""


@dataclass(frozen=True)
class RuleSet:
    """Compiled rules in load order, plus what is needed to explain and test them."""

    rules: tuple[CompiledRule, ...]
    specs: Mapping[str, AnyRule]
    pack_hash: str
    packs: tuple[str, ...]
    """``name@version`` of every pack file, in load order."""
    files: tuple[str, ...] = field(default=())
    origins: Mapping[str, RuleOrigin] = field(default_factory=dict)
    warnings: tuple[RuleWarning, ...] = ()
    definitions: Mapping[str, tuple[str, Any]] = field(default_factory=dict)
    """``"list name"`` / ``"macro name"`` -> (pack that last set it, its items or condition)."""

    @property
    def version(self) -> str:
        return "+".join(self.packs)

    def by_entity(self, entity: str) -> tuple[CompiledRule, ...]:
        return tuple(rule for rule in self.rules if rule.meta.entity == entity)

    def only(self, rule_id: str) -> RuleSet:
        """The same set restricted to one rule (used to run a rule's examples)."""
        return self.subset([rule_id])

    def subset(self, rule_ids: list[str] | tuple[str, ...] | frozenset[str]) -> RuleSet:
        """The same set restricted to some rules (used by examples and rule test files)."""
        wanted = set(rule_ids)
        return RuleSet(
            rules=tuple(r for r in self.rules if r.id in wanted),
            specs={k: v for k, v in self.specs.items() if k in wanted},
            pack_hash=self.pack_hash,
            packs=self.packs,
            files=self.files,
            origins={k: v for k, v in self.origins.items() if k in wanted},
        )
