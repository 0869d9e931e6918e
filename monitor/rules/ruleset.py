"""A loaded, compiled set of rules, with the version and hash every alert carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from monitor.rules.compiled import CompiledRule
from monitor.rules.schema import AnyRule


@dataclass(frozen=True)
class RuleSet:
    """Compiled rules in load order, plus what is needed to explain and test them."""

    rules: tuple[CompiledRule, ...]
    specs: Mapping[str, AnyRule]
    pack_hash: str
    packs: tuple[str, ...]
    """``name@version`` of every pack file, in load order."""
    files: tuple[str, ...] = field(default=())

    @property
    def version(self) -> str:
        return "+".join(self.packs)

    def by_entity(self, entity: str) -> tuple[CompiledRule, ...]:
        return tuple(rule for rule in self.rules if rule.meta.entity == entity)

    def only(self, rule_id: str) -> RuleSet:
        """The same set restricted to one rule (used to run a rule's examples)."""
        return RuleSet(
            rules=tuple(r for r in self.rules if r.id == rule_id),
            specs={rule_id: self.specs[rule_id]},
            pack_hash=self.pack_hash,
            packs=self.packs,
            files=self.files,
        )
