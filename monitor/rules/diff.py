"""A semantic diff of two rule sets, rule by rule and field by field, with a semver class.

- **major**: a rule removed or renamed, its category changed, a rule switched off or put in
  ``mode: shadow``;
- **minor**: a rule added, switched on, or taken live from shadow;
- **patch**: anything else about a rule (threshold, severity, condition, window, message...).

Each pack file declares ``version: X.Y.Z``. A pack whose version bump is smaller than the change
of its rules requires is refused (:attr:`SemanticDiff.refused`), so a threshold change cannot ship
as the same version and a removed control cannot ship as a patch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from monitor.rules.ruleset import RuleSet

Level = Literal["none", "patch", "minor", "major"]
LEVELS: tuple[Level, ...] = ("none", "patch", "minor", "major")
TRACKED = ("threshold", "severity", "condition", "window", "output", "enabled", "mode")
"""Fields listed first in a rule's changes (every other field is compared too)."""


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.field}: {_show(self.old)} -> {_show(self.new)}"


@dataclass(frozen=True)
class RuleDiff:
    rule_id: str
    """The rule id, or ``list <name>`` / ``macro <name>``."""
    change: Literal["added", "removed", "renamed", "changed"]
    level: Level
    pack: str
    """The pack name (without version) the rule belongs to."""
    fields: tuple[FieldChange, ...] = ()
    renamed_from: str | None = None


@dataclass(frozen=True)
class PackCheck:
    pack: str
    old_version: str | None
    new_version: str | None
    declared: Level | Literal["downgrade", "unversioned"]
    required: Level

    @property
    def ok(self) -> bool:
        if self.declared == "unversioned":
            return True  # a file without a `pack:` item has no version to check
        if self.declared == "downgrade":
            return False
        return LEVELS.index(self.declared) >= LEVELS.index(self.required)


@dataclass(frozen=True)
class SemanticDiff:
    rules: tuple[RuleDiff, ...]
    packs: tuple[PackCheck, ...]

    @property
    def level(self) -> Level:
        return max((r.level for r in self.rules), key=LEVELS.index, default="none")

    @property
    def refused(self) -> tuple[PackCheck, ...]:
        return tuple(p for p in self.packs if not p.ok)

    def summary(self) -> str:
        """One line: the class of the change and how many rules of each kind changed."""
        counts: dict[str, int] = {}
        for rule in self.rules:
            counts[rule.change] = counts.get(rule.change, 0) + 1
        parts = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "no rule changed"
        return f"{self.level}: {parts}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _semver(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(p) for p in version.split("."))
    return major, minor, patch


def bump(old: str, new: str) -> Level | Literal["downgrade"]:
    """The class of a version change.

    >>> bump("1.2.3", "1.3.0"), bump("1.2.3", "1.2.3"), bump("2.0.0", "1.9.9")
    ('minor', 'none', 'downgrade')
    """
    a, b = _semver(old), _semver(new)
    if b < a:
        return "downgrade"
    if b[0] > a[0]:
        return "major"
    if b[1] > a[1]:
        return "minor"
    return "patch" if b[2] > a[2] else "none"


def _dump(ruleset: RuleSet, rule_id: str) -> dict[str, Any]:
    data: dict[str, Any] = ruleset.specs[rule_id].model_dump(mode="json")
    return data


def _pack(ruleset: RuleSet, rule_id: str) -> str:
    origin = ruleset.origins.get(rule_id)
    return origin.pack if origin is not None else "@"


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    keys = [*TRACKED, *sorted((set(old) | set(new)) - set(TRACKED) - {"id"})]
    out = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key in ("threshold", "output") and isinstance(before, dict) and isinstance(after, dict):
            for sub in sorted(set(before) | set(after)):
                if before.get(sub) != after.get(sub):
                    out.append(FieldChange(f"{key}.{sub}", before.get(sub), after.get(sub)))
        else:
            out.append(FieldChange(key, before, after))
    return out


def _level(changes: list[FieldChange]) -> Level:
    names = {c.field.split(".")[0] for c in changes}
    if "category" in names:
        return "major"
    enabled = next((c for c in changes if c.field == "enabled"), None)
    if enabled is not None:
        return "major" if enabled.new is False else "minor"
    mode = next((c for c in changes if c.field == "mode"), None)
    if mode is not None:  # going to shadow stops delivery; going live starts it
        return "major" if mode.new == "shadow" else "minor"
    return "patch" if changes else "none"


def diff_rulesets(old: RuleSet, new: RuleSet) -> SemanticDiff:
    """Every change from ``old`` to ``new``, and whether each pack's version bump covers it."""
    removed = [r for r in old.specs if r not in new.specs]
    added = [r for r in new.specs if r not in old.specs]
    renamed: dict[str, str] = {}  # new id -> old id: same title, or same content but the id
    for old_id in removed:
        old_data = {k: v for k, v in _dump(old, old_id).items() if k != "id"}
        for new_id in added:
            new_data = {k: v for k, v in _dump(new, new_id).items() if k != "id"}
            same_title = old_data.get("rule") == new_data.get("rule")
            if new_id not in renamed and (same_title or old_data == new_data):
                renamed[new_id] = old_id
                break
    out: list[RuleDiff] = []
    for rule_id in old.specs:
        if rule_id in new.specs:
            changes = _field_changes(_dump(old, rule_id), _dump(new, rule_id))
            if changes:
                level = _level(changes)
                out.append(RuleDiff(rule_id, "changed", level, _name(new, rule_id), tuple(changes)))
        elif rule_id not in renamed.values():
            out.append(RuleDiff(rule_id, "removed", "major", _name(old, rule_id)))
    for rule_id in added:
        if rule_id in renamed:
            old_id = renamed[rule_id]
            changes = _field_changes(_dump(old, old_id), _dump(new, rule_id))
            out.append(
                RuleDiff(rule_id, "renamed", "major", _name(new, rule_id), tuple(changes), old_id)
            )
        else:
            out.append(RuleDiff(rule_id, "added", "minor", _name(new, rule_id)))
    out.extend(_definition_changes(old, new))
    return SemanticDiff(tuple(out), _pack_checks(old, new, out))


def _definition_changes(old: RuleSet, new: RuleSet) -> list[RuleDiff]:
    """Lists and macros change what rules match: each change is a patch of its pack (an added
    one is minor, a removed one major, as for rules)."""
    out: list[RuleDiff] = []
    for name in [*old.definitions, *(n for n in new.definitions if n not in old.definitions)]:
        before, after = old.definitions.get(name), new.definitions.get(name)
        if after is None and before is not None:
            out.append(RuleDiff(name, "removed", "major", before[0].split("@")[0]))
        elif before is None and after is not None:
            out.append(RuleDiff(name, "added", "minor", after[0].split("@")[0]))
        elif before is not None and after is not None and before[1] != after[1]:
            field = "items" if name.startswith("list ") else "condition"
            change = FieldChange(field, before[1], after[1])
            out.append(RuleDiff(name, "changed", "patch", after[0].split("@")[0], (change,)))
    return out


def _name(ruleset: RuleSet, rule_id: str) -> str:
    return _pack(ruleset, rule_id).split("@")[0]


def _versions(ruleset: RuleSet) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in ruleset.packs:
        name, _, version = entry.partition("@")
        out[name] = version
    for origin in ruleset.origins.values():
        name, _, version = origin.pack.partition("@")
        out.setdefault(name, version)
    return out


def _pack_checks(old: RuleSet, new: RuleSet, rules: list[RuleDiff]) -> tuple[PackCheck, ...]:
    required: dict[str, Level] = {}
    for rule in rules:
        current = required.get(rule.pack, "none")
        required[rule.pack] = max(current, rule.level, key=LEVELS.index)
    old_versions, new_versions = _versions(old), _versions(new)
    checks = []
    for pack, level in required.items():
        before, after = old_versions.get(pack), new_versions.get(pack)
        declared: Level | Literal["downgrade", "unversioned"]
        if after == "local" or (after is None and before is None):
            declared = "unversioned"
        elif before is None or before == "local" or after is None:
            declared = "major"  # a pack that appears or goes away as a whole
        else:
            declared = bump(before, after)
        checks.append(PackCheck(pack, before, after, declared, level))
    return tuple(checks)
