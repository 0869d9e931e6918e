"""Loading rule packs: shipped packs first, then auditors' files; later definitions win.

Every mistake fails the whole load with the file, line, rule id and field path, and an invalid
pack never half-loads: the caller keeps its previous :class:`RuleSet` until a load succeeds.
"""

from __future__ import annotations

import difflib
import hashlib
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from monitor.errors import RulePackError
from monitor.rules.compiled import CompiledRule, RuleMeta
from monitor.rules.conditions import FIELDS, ConditionCompiler
from monitor.rules.kinds.aggregate import AggregateRuleRuntime
from monitor.rules.kinds.condition import ConditionRuleRuntime
from monitor.rules.kinds.schedule import BusinessCalendar, ScheduleRuleRuntime
from monitor.rules.kinds.sequence import SequenceRuleRuntime
from monitor.rules.money import CurrencyTable, Threshold
from monitor.rules.ruleset import RuleSet
from monitor.rules.schema import (
    AggregateRule,
    AnyRule,
    ConditionRule,
    CurrencyTableItem,
    ListItem,
    MacroItem,
    PackItem,
    RuleSpec,
    ScheduleRule,
    SequenceRule,
)
from monitor.rules.source import Path as NodePath
from monitor.rules.source import SourceDoc, parse_rule_text, read_rule_file

ITEM_KINDS: dict[str, type[BaseModel]] = {
    "pack": PackItem,
    "list": ListItem,
    "macro": MacroItem,
    "currency_table": CurrencyTableItem,
}
_RULE_ADAPTER: TypeAdapter[AnyRule] = TypeAdapter(RuleSpec)
REASONS = ("missing", "self_approval", "unauthorised_reviewer", "late")
_EXTRA_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "condition": frozenset({"threshold", "measured"}),
    "aggregate": frozenset(
        {"account_id", "total", "count", "threshold", "window", "txn_ids", "currency"}
    ),
    "sequence": frozenset(
        {
            "txn_id",
            "account_id",
            "amount",
            "currency",
            "channel",
            "initiator_id",
            "approver_id",
            "approver_role",
            "allowed_roles",
            "initiated_at",
            "posted_at",
            "within",
        }
    ),
    "schedule": frozenset({"local_time", "timezone", "closed_because", "business_hours"}),
}


def shipped_pack_texts() -> list[tuple[str, str]]:
    """The packs shipped as package data, in file-name order."""
    root = resources.files("monitor.rules") / "packs"
    names = sorted(p.name for p in root.iterdir() if p.name.endswith((".yaml", ".yml")))
    return [(f"monitor/rules/packs/{n}", (root / n).read_text(encoding="utf-8")) for n in names]


def rule_files(paths: Iterable[str | Path]) -> list[tuple[str, str]]:
    """Read rule files; a directory contributes its ``*.yaml``/``*.yml`` files sorted by name."""
    out: list[tuple[str, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.exists():
            files = [path]
        else:
            raise RulePackError("no such file or directory", file=str(path))
        out.extend((str(f), read_rule_file(f)) for f in files)  # size-limited, UTF-8
    return out


def load_rules(paths: Iterable[str | Path] = (), *, shipped: bool = True) -> RuleSet:
    """Load the shipped packs (unless ``shipped=False``) and then the given files or folders."""
    texts = (shipped_pack_texts() if shipped else []) + rule_files(paths)
    return load_rule_texts(texts)


@dataclass
class _Collected:
    packs: dict[str, str] = field(default_factory=dict)  # file -> name@version
    lists: dict[str, frozenset[str]] = field(default_factory=dict)
    macros: dict[str, tuple[Any, str, NodePath]] = field(default_factory=dict)
    tables: dict[str, CurrencyTable] = field(default_factory=dict)
    rules: dict[str, tuple[AnyRule, SourceDoc, int, dict[str, Any]]] = field(default_factory=dict)
    docs: dict[str, SourceDoc] = field(default_factory=dict)


def load_rule_texts(texts: Sequence[tuple[str, str]]) -> RuleSet:
    """Load rule packs from ``(file name, YAML text)`` pairs, in order."""
    docs = [parse_rule_text(text, name) for name, text in texts]
    seen = _Collected(docs={doc.file: doc for doc in docs})
    for doc in docs:
        for index, item in enumerate(doc.items):
            _collect(seen, doc, index, item)
    compiled = [
        _compile(spec, doc, index, seen)
        for spec, doc, index, _raw in seen.rules.values()
        if spec.enabled
    ]
    digest = hashlib.sha256()
    for name, text in texts:
        digest.update(Path(name).name.encode() + b"\0" + text.encode() + b"\0")
    return RuleSet(
        rules=tuple(compiled),
        specs={rule_id: spec for rule_id, (spec, *_rest) in seen.rules.items()},
        pack_hash=digest.hexdigest()[:16],
        packs=tuple(dict.fromkeys(seen.packs.values())),
        files=tuple(name for name, _ in texts),
    )


def _error(doc: SourceDoc, index: int, item_id: str | None) -> Any:
    def make(problem: str, path: NodePath) -> RulePackError:
        relative = path[1:] if path and path[0] == index else path
        return RulePackError(
            problem,
            file=doc.file,
            line=doc.line_of(path if path and path[0] == index else (index, *path)),
            item_id=item_id,
            field=_dotted(relative),
        )

    return make


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _collect(seen: _Collected, doc: SourceDoc, index: int, item: Any) -> None:
    make_error = _error(doc, index, None)
    if not isinstance(item, dict):
        raise make_error(f"each item is a mapping, got {type(item).__name__}", (index,))
    kinds = [k for k in (*ITEM_KINDS, "rule", "override") if k in item]
    if len(kinds) != 1:
        raise make_error(
            "each item has exactly one of pack, list, macro, currency_table, rule or override "
            f"(found {kinds or 'none'})",
            (index,),
        )
    kind = kinds[0]
    item_id = item.get("id") if kind in ("rule", "override") else item.get(kind)
    if kind == "override":
        item = _apply_override(seen, doc, index, item)
        kind = "rule"
    make_error = _error(doc, index, str(item_id) if item_id is not None else None)
    try:
        if kind == "rule":
            spec = _RULE_ADAPTER.validate_python(item)
            seen.rules.pop(spec.id, None)  # a redefinition moves to its new place
            seen.rules[spec.id] = (spec, doc, index, item)
            _check_templates(spec, make_error)
            return
        model = ITEM_KINDS[kind].model_validate(item)
    except ValidationError as exc:
        # A misspelt key shows up twice: as an extra key and as a missing one. Report the typo.
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        loc = list(first["loc"])
        if kind == "rule" and loc and loc[0] == item.get("kind"):
            loc = loc[1:]  # drop pydantic's discriminator tag
        message = first["msg"]
        if first["type"] == "extra_forbidden" and loc:
            message = f"unknown field {loc[-1]!r}{_suggest(str(loc[-1]), kind, item)}"
        raise make_error(message, (index, *loc)) from None
    if isinstance(model, PackItem):
        seen.packs[doc.file] = f"{model.pack}@{model.version}"
    elif isinstance(model, ListItem):
        base = seen.lists.get(model.list, frozenset()) if model.append else frozenset()
        seen.lists[model.list] = base | frozenset(model.items)
    elif isinstance(model, MacroItem):
        seen.macros[model.macro] = (model.condition, doc.file, (f"@{doc.file}", index, "condition"))
    elif isinstance(model, CurrencyTableItem):
        seen.tables[model.currency_table] = CurrencyTable(model.base, model.rates)


def _suggest(name: str, kind: str, item: dict[str, Any]) -> str:
    model: Any = ITEM_KINDS.get(kind)
    if kind == "rule":
        from monitor.rules import schema

        by_kind = {
            "condition": schema.ConditionRule,
            "aggregate": schema.AggregateRule,
            "sequence": schema.SequenceRule,
            "schedule": schema.ScheduleRule,
        }
        model = by_kind.get(str(item.get("kind")))
    if model is None:
        return ""
    close = difflib.get_close_matches(name, list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _apply_override(seen: _Collected, doc: SourceDoc, index: int, item: dict[str, Any]) -> Any:
    """``- override: <rule id>`` replaces the listed fields of an already loaded rule."""
    target = item["override"]
    if not isinstance(target, str) or target not in seen.rules:  # [] or {} is not a rule id
        raise _error(doc, index, str(target))(f"override of unknown rule {target!r}", (index,))
    merged = dict(seen.rules[target][3])
    merged.update({k: v for k, v in item.items() if k != "override"})
    return merged


def _check_templates(spec: AnyRule, make_error: Any) -> None:
    allowed = frozenset(FIELDS) | _EXTRA_PLACEHOLDERS[spec.kind]
    for language, template in spec.output.items():
        if spec.kind == "sequence":
            if not isinstance(template, dict) or set(template) != set(REASONS):
                raise make_error(
                    f"a sequence rule has one template per reason: {', '.join(REASONS)}",
                    ("output", language),
                )
            pairs = list(template.items())
        elif isinstance(template, dict):
            raise make_error("expected one template string", ("output", language))
        else:
            pairs = [("", template)]
        for reason, text in pairs:
            path = ("output", language, reason) if reason else ("output", language)
            try:
                names = {n for _, n, _, _ in string.Formatter().parse(text) if n is not None}
            except ValueError as exc:
                raise make_error(f"bad template: {exc}", path) from None
            unknown = sorted(n for n in names if n.split(".")[0].split("[")[0] not in allowed)
            if unknown:
                raise make_error(f"unknown placeholder(s) {unknown} in template", path)


def _compile(spec: AnyRule, doc: SourceDoc, index: int, seen: _Collected) -> CompiledRule:
    make_error = _error(doc, index, spec.id)
    compiler = ConditionCompiler(
        seen.macros,
        seen.lists,
        lambda problem, path: _located_error(problem, path, seen, doc, index, spec.id),
    )
    predicate, fields = compiler.compile(spec.condition, (index, "condition"))
    templates = {
        lang: (dict(t) if isinstance(t, dict) else {"": t}) for lang, t in spec.output.items()
    }
    meta = RuleMeta(
        id=spec.id,
        title=spec.rule,
        category=spec.category,
        severity=spec.severity,
        entity=spec.entity,
        tags=spec.tags,
        templates=templates,
        pack_version=seen.packs.get(doc.file, f"{Path(doc.file).stem}@local"),
        fields=fields,
    )
    threshold = _threshold(spec, seen, make_error) if not isinstance(spec, ScheduleRule) else None
    if isinstance(spec, ConditionRule):
        return ConditionRuleRuntime(meta, predicate, threshold)
    if isinstance(spec, AggregateRule):
        if threshold is None:
            raise make_error("an aggregate rule needs a threshold", ("threshold",))
        return AggregateRuleRuntime(
            meta,
            predicate,
            threshold,
            spec.window,
            spec.timezone,
            spec.min_count,
            spec.band,
            spec.only_below_threshold,
        )
    if isinstance(spec, SequenceRule):
        roles = _names(spec.expect.roles, seen)
        return SequenceRuleRuntime(
            meta,
            predicate,
            threshold,
            spec.expect.within,
            roles,
            spec.expect.before_status == "posted",
            spec.retention,
        )
    sched = spec.schedule
    calendar = BusinessCalendar(
        sched.timezone, sched.branch_timezones, sched.business_hours, sched.weekdays, sched.holidays
    )
    overtime: dict[str, list[tuple[float, float, str]]] = {}
    for window in spec.overtime:
        overtime.setdefault(window.operator_id, []).append(
            (window.start.timestamp(), window.end.timestamp(), window.ticket or "")
        )
    return ScheduleRuleRuntime(meta, predicate, calendar, overtime, spec.suppress_for)


def _located_error(
    problem: str, path: NodePath, seen: _Collected, doc: SourceDoc, index: int, rule_id: str
) -> RulePackError:
    """Errors inside a macro are reported where the macro is written (path starts ``@file``)."""
    head = path[0] if path else None
    if isinstance(head, str) and head.startswith("@") and len(path) > 1:
        macro_doc = seen.docs[head[1:]]
        macro_index = int(path[1])
        name = macro_doc.items[macro_index].get("macro")
        return RulePackError(
            f"macro {name!r} (used by rule {rule_id!r}): {problem}",
            file=macro_doc.file,
            line=macro_doc.line_of(path[1:]),
            field=_dotted(path[2:]),
        )
    error: RulePackError = _error(doc, index, rule_id)(problem, path)
    return error


def _names(values: Sequence[str], seen: _Collected) -> frozenset[str]:
    """Expand list names in ``values`` (an item naming a list contributes the list's items)."""
    out: set[str] = set()
    for value in values:
        out |= seen.lists.get(value, frozenset({value}))
    return frozenset(out)


def _threshold(spec: AnyRule, seen: _Collected, make_error: Any) -> Threshold | None:
    amounts = getattr(spec, "threshold", None)
    if not amounts:
        return None
    if "default" not in seen.tables:
        raise make_error("a threshold needs a 'currency_table: default'", ("threshold",))
    for currency, amount in amounts.items():
        if amount <= 0:
            raise make_error("threshold amounts are positive", ("threshold", currency))
    return Threshold(amounts, getattr(spec, "convert_to", "USD"), seen.tables["default"])
