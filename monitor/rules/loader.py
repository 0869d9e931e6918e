"""Loading rule packs: shipped packs first, then auditors' files.

Like Falco's loader, one pass collects every error and warning, each with the file, line, rule id
and field path, and raises them together (:class:`~monitor.errors.RulePackErrors`). An invalid pack
never half-loads: the caller keeps its previous :class:`RuleSet` until a load succeeds.

A rule id is defined once. A later file changes a loaded rule with ``- override: <id>`` (the
listed fields) or replaces it whole with ``replace: true``; both print a warning that names the
rule they change and its examples. Warnings also cover unused macros and lists, and a rule whose
condition can never be true.
"""

from __future__ import annotations

import difflib
import hashlib
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from monitor.alerts import SHADOW_TAG, DualReviewReason
from monitor.errors import RulePackError, RulePackErrors
from monitor.rules.compiled import CompiledRule, RuleMeta
from monitor.rules.conditions import FIELDS, ConditionCompiler
from monitor.rules.kinds.aggregate import AggregateRuleRuntime
from monitor.rules.kinds.condition import ConditionRuleRuntime
from monitor.rules.kinds.schedule import BusinessCalendar, ScheduleRuleRuntime
from monitor.rules.kinds.sequence import SequenceRuleRuntime
from monitor.rules.money import CurrencyTable, Threshold
from monitor.rules.ruleset import RuleOrigin, RuleSet, RuleWarning
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
RULE_KINDS: dict[str, type[BaseModel]] = {
    "condition": ConditionRule,
    "aggregate": AggregateRule,
    "sequence": SequenceRule,
    "schedule": ScheduleRule,
}
RUNTIMES: dict[str, type[CompiledRule]] = {
    "condition": ConditionRuleRuntime,
    "aggregate": AggregateRuleRuntime,
    "sequence": SequenceRuleRuntime,
    "schedule": ScheduleRuleRuntime,
}
_RULE_ADAPTER: TypeAdapter[AnyRule] = TypeAdapter(RuleSpec)
REASONS: tuple[str, ...] = get_args(DualReviewReason)
_LOADER_KEYS = ("replace",)
"""Keys the loader reads from a rule item before validating it."""


def placeholders(kind: str) -> frozenset[str]:
    """Placeholders a message of a ``kind`` rule may use: event fields plus the kind's own."""
    runtime: Any = RUNTIMES[kind]
    return frozenset(FIELDS) | frozenset(runtime.PLACEHOLDERS)


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


class _Tracked(dict[str, Any]):
    """A dict that remembers which keys were read (to warn about unused macros and lists)."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.used: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.used.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            self.used.add(key)
        return super().get(key, default)


@dataclass
class _Rule:
    spec: AnyRule
    doc: SourceDoc
    index: int
    raw: dict[str, Any]
    origin: RuleOrigin


@dataclass
class _Collected:
    packs: dict[str, str] = field(default_factory=dict)  # file -> name@version
    lists: dict[str, frozenset[str]] = field(default_factory=dict)
    list_where: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    macros: dict[str, tuple[Any, str, NodePath]] = field(default_factory=dict)
    macro_where: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    defined_in: dict[str, str] = field(default_factory=dict)  # "list x" -> pack that last set it
    tables: dict[str, CurrencyTable] = field(default_factory=dict)
    rules: dict[str, _Rule] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)  # ids whose definition had errors
    docs: dict[str, SourceDoc] = field(default_factory=dict)
    errors: list[RulePackError] = field(default_factory=list)
    warnings: list[RuleWarning] = field(default_factory=list)

    def warn(
        self, problem: str, doc: SourceDoc, path: NodePath, item_id: str | None = None
    ) -> None:
        index = path[0] if path and isinstance(path[0], int) else None
        self.warnings.append(
            RuleWarning(
                problem,
                file=doc.file,
                line=doc.line_of(path),
                item_id=item_id,
                field=_dotted(path[1:]) if index is not None else _dotted(path),
            )
        )


def load_rule_texts(texts: Sequence[tuple[str, str]]) -> RuleSet:
    """Load rule packs from ``(file name, YAML text)`` pairs, in order.

    Raises :class:`~monitor.errors.RulePackErrors` with every problem found, if there is any.
    """
    seen = _Collected()
    docs: list[SourceDoc] = []
    for name, text in texts:
        try:
            docs.append(parse_rule_text(text, name))
        except RulePackError as exc:
            seen.errors.append(exc)
    seen.docs = {doc.file: doc for doc in docs}
    for doc in docs:
        for index, item in enumerate(doc.items):
            try:
                _collect(seen, doc, index, item)
            except RulePackError as exc:
                seen.errors.append(exc)
    tracked_macros, tracked_lists = _Tracked(seen.macros), _Tracked(seen.lists)
    seen.macros, seen.lists = tracked_macros, tracked_lists
    compiled = []
    for entry in seen.rules.values():
        try:
            rule = _compile(entry.spec, entry.doc, entry.index, seen)
        except RulePackError as exc:
            seen.errors.append(exc)
            continue
        _warn_never_matches(seen, entry)
        if entry.spec.enabled:
            compiled.append(rule)
    if not seen.errors:
        _warn_unused(seen, tracked_macros.used, tracked_lists.used)
    if seen.errors:
        raise RulePackErrors(seen.errors, tuple(seen.warnings))
    digest = hashlib.sha256()
    for name, text in texts:
        digest.update(Path(name).name.encode() + b"\0" + text.encode() + b"\0")
    return RuleSet(
        rules=tuple(compiled),
        specs={rule_id: entry.spec for rule_id, entry in seen.rules.items()},
        pack_hash=digest.hexdigest()[:16],
        packs=tuple(dict.fromkeys(seen.packs.values())),
        files=tuple(name for name, _ in texts),
        origins={rule_id: entry.origin for rule_id, entry in seen.rules.items()},
        warnings=tuple(seen.warnings),
        definitions=_definitions(seen),
    )


def _definitions(seen: _Collected) -> dict[str, tuple[str, Any]]:
    """Every list and macro as it ends up, with the pack that last set it (for the diff)."""
    out: dict[str, tuple[str, Any]] = {}
    for name, items in dict.items(seen.lists):
        out[f"list {name}"] = (seen.defined_in[f"list {name}"], sorted(items))
    for name, (condition, _file, _path) in dict.items(seen.macros):
        out[f"macro {name}"] = (seen.defined_in[f"macro {name}"], condition)
    return out


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


def _where(file: str, line: int | None) -> str:
    return f"{file}:{line}" if line is not None else file


def _collect(seen: _Collected, doc: SourceDoc, index: int, item: Any) -> None:
    make_error = _error(doc, index, None)
    if not isinstance(item, dict):
        raise make_error(f"each item is a mapping, got {type(item).__name__}", (index,))
    kinds = [k for k in (*ITEM_KINDS, "rule", "override") if k in item]
    if len(kinds) != 1:
        hint = ""
        if not kinds:
            keys = [str(k) for k in item]
            close = [
                m
                for k in keys
                for m in difflib.get_close_matches(k, [*ITEM_KINDS, "rule", "override"], n=1)
            ]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise make_error(
            "each item has exactly one of pack, list, macro, currency_table, rule or override "
            f"(found {', '.join(kinds) or 'none'}){hint}",
            (index,),
        )
    kind = kinds[0]
    item_id = item.get("id") if kind in ("rule", "override") else item.get(kind)
    item_id = item.get("override") if kind == "override" else item_id
    make_error = _error(doc, index, str(item_id) if item_id is not None else None)
    if kind == "override":
        if isinstance(item_id, str) and item_id in seen.failed:
            return  # the rule's own errors are reported already
        _collect_rule(seen, doc, index, _apply_override(seen, doc, index, item), item)
        return
    if kind == "rule":
        _collect_rule(seen, doc, index, item, None)
        return
    try:
        model = ITEM_KINDS[kind].model_validate(item)
    except ValidationError as exc:
        errors = _validation_errors(exc, kind, item, doc, index, make_error)
        seen.errors.extend(errors[1:])
        raise errors[0] from None
    line = doc.line_of((index,))
    if isinstance(model, PackItem):
        seen.packs[doc.file] = f"{model.pack}@{model.version}"
    elif isinstance(model, ListItem):
        base = seen.lists.get(model.list, frozenset()) if model.append else frozenset()
        seen.lists[model.list] = base | frozenset(model.items)
        seen.list_where.setdefault(model.list, (doc.file, line))
        seen.defined_in[f"list {model.list}"] = _pack_of(seen, doc)
    elif isinstance(model, MacroItem):
        seen.macros[model.macro] = (model.condition, doc.file, (f"@{doc.file}", index, "condition"))
        seen.macro_where.setdefault(model.macro, (doc.file, line))
        seen.defined_in[f"macro {model.macro}"] = _pack_of(seen, doc)
    elif isinstance(model, CurrencyTableItem):
        seen.tables[model.currency_table] = CurrencyTable(model.base, model.rates)


def _collect_rule(
    seen: _Collected,
    doc: SourceDoc,
    index: int,
    item: dict[str, Any],
    override: dict[str, Any] | None,
) -> None:
    raw_id = item.get("id")
    make_error = _error(doc, index, str(raw_id) if raw_id is not None else None)
    replacing = item.get("replace", False) if override is None else False
    data = {k: v for k, v in item.items() if k not in _LOADER_KEYS}
    if replacing not in (True, False):
        seen.errors.append(make_error("replace is true or false", (index, "replace")))
    if "kind" not in data:
        raise make_error(f"a rule needs a kind: one of {', '.join(RULE_KINDS)}", (index,))
    guessed = False
    if not isinstance(data["kind"], str) or data["kind"] not in RULE_KINDS:
        close = difflib.get_close_matches(str(data["kind"]), list(RULE_KINDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        error = make_error(
            f"unknown rule kind {data['kind']!r}{hint}; expected one of {', '.join(RULE_KINDS)}",
            (index, "kind"),
        )
        if not close:
            raise error
        seen.errors.append(error)
        data = {**data, "kind": close[0]}  # read on as the likely kind: report the rest too
        guessed = True
    try:
        spec = _RULE_ADAPTER.validate_python(data)
    except ValidationError as exc:
        if raw_id is not None:
            seen.failed.add(str(raw_id))
        seen.errors.extend(_validation_errors(exc, "rule", data, doc, index, make_error))
        return
    previous = seen.rules.get(spec.id)
    duplicate = _duplicate(previous, spec, doc, index, override, replacing, make_error)
    if duplicate is not None:
        seen.errors.append(duplicate)
    problems = _check_convert_to(spec, data, index) + _check_templates(spec)
    if SHADOW_TAG in spec.tags:
        problems.append((f"the tag {SHADOW_TAG!r} is reserved: write 'mode: shadow'", ("tags",)))
    for problem, path in problems:
        seen.errors.append(make_error(problem, path))
    if problems or guessed:
        if previous is None:
            seen.failed.add(spec.id)
        return
    if duplicate is not None:
        return
    origin = RuleOrigin(
        file=doc.file,
        line=doc.line_of((index,)),
        example_lines=tuple(doc.line_of((index, "examples", i)) for i in range(len(spec.examples))),
        pack=seen.packs.get(doc.file, f"{Path(doc.file).stem}@local"),
    )
    if override is not None and previous is not None:
        origin = _override_origin(seen, previous, spec, doc, index, override)
        if previous.doc.file != doc.file:
            changed = ", ".join(k for k in override if k != "override") or "nothing"
            where = _where(previous.origin.file, previous.origin.line)
            seen.warn(
                f"overrides rule {spec.id!r} from {where} ({changed}); "
                f"{_examples_note(previous.spec)} now run against the override",
                doc,
                (index,),
                spec.id,
            )
    elif previous is not None:
        seen.warn(
            f"replaces rule {spec.id!r} from {_where(previous.origin.file, previous.origin.line)}"
            f"; {_examples_note(previous.spec)} no longer run"
            + (f", {len(spec.examples)} example(s) of the replacement do" if spec.examples else ""),
            doc,
            (index,),
            spec.id,
        )
    elif replacing:
        seen.warn(
            f"replace: true, but there is no rule {spec.id!r} to replace", doc, (index,), spec.id
        )
    seen.rules.pop(spec.id, None)  # a redefinition moves to its new place
    seen.rules[spec.id] = _Rule(spec, doc, index, data, origin)


def _duplicate(
    previous: _Rule | None,
    spec: AnyRule,
    doc: SourceDoc,
    index: int,
    override: dict[str, Any] | None,
    replacing: bool,
    make_error: Any,
) -> RulePackError | None:
    """A rule id defined again: refused in one file, and across files without ``replace``."""
    if previous is None or override is not None:
        return None
    if previous.doc.file == doc.file:
        error: RulePackError = make_error(
            f"duplicate rule id {spec.id!r}: already defined at line {previous.origin.line}",
            (index, "id"),
        )
        return error
    if not replacing:
        error = make_error(
            f"rule id {spec.id!r} is already defined at "
            f"{_where(previous.origin.file, previous.origin.line)}; use '- override: "
            f"{spec.id}' to change some of its fields, or 'replace: true' to replace it whole",
            (index, "id"),
        )
        return error
    return None


def _override_origin(
    seen: _Collected,
    previous: _Rule,
    spec: AnyRule,
    doc: SourceDoc,
    index: int,
    override: dict[str, Any],
) -> RuleOrigin:
    """An override keeps the rule's place, unless it brings its own examples."""
    pack = _pack_of(seen, doc)  # the override's own pack versions the change
    if "examples" not in override:
        return replace(previous.origin, pack=pack)
    lines = tuple(doc.line_of((index, "examples", i)) for i in range(len(spec.examples)))
    return RuleOrigin(previous.origin.file, previous.origin.line, lines, pack)


def _pack_of(seen: _Collected, doc: SourceDoc) -> str:
    return seen.packs.get(doc.file, f"{Path(doc.file).stem}@local")


def _examples_note(spec: AnyRule) -> str:
    if not spec.examples:
        return "it had no examples, which"
    names = [e.desc or f"#{i + 1}" for i, e in enumerate(spec.examples)]
    shown = "; ".join(names[:3]) + ("; ..." if len(names) > 3 else "")
    return f"its {len(names)} example(s) ({shown})"


def _validation_errors(
    exc: ValidationError,
    kind: str,
    item: dict[str, Any],
    doc: SourceDoc,
    index: int,
    make_error: Any,
) -> list[RulePackError]:
    """Every pydantic error as a located, plain-text :class:`RulePackError`.

    A misspelt key shows up twice: as an extra key and as a missing one; only the typo is kept.
    """
    raw = exc.errors(include_url=False)
    out: list[RulePackError] = []
    suggested: set[str] = set()
    for error in sorted(raw, key=lambda e: e["type"] != "extra_forbidden"):
        loc = list(error["loc"])
        if kind == "rule" and loc and loc[0] == item.get("kind"):
            loc = loc[1:]  # drop pydantic's discriminator tag
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and loc:
            model = _model_at(kind, item, loc[:-1])
            close = (
                difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
                if model is not None
                else []
            )
            suggested.update(close)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            message = f"unknown field {loc[-1]!r}{hint}"
        elif error["type"] == "missing":
            if loc and loc[-1] in suggested:
                continue
            message = f"missing field {loc[-1]!r}" if loc else message
        elif (
            error["type"] == "string_pattern_mismatch"
            and loc
            and loc[-1] in ("id", "list", "macro")
        ):
            message += " (lowercase letters, digits and _, starting with a letter)"
        out.append(make_error(message, (index, *loc)))
    return out


def _model_at(kind: str, item: dict[str, Any], loc: list[Any]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` inside an item (for "did you
    mean"); only top-level fields and nested models are followed."""
    model: Any = RULE_KINDS.get(str(item.get("kind"))) if kind == "rule" else ITEM_KINDS.get(kind)
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        annotation = info.annotation
        args = get_args(annotation)
        candidates = [annotation, *args, *(a for arg in args for a in get_args(arg))]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return model if isinstance(model, type) else None


def _apply_override(
    seen: _Collected, doc: SourceDoc, index: int, item: dict[str, Any]
) -> dict[str, Any]:
    """``- override: <rule id>`` replaces the listed fields of an already loaded rule."""
    target = item["override"]
    if not isinstance(target, str) or target not in seen.rules:  # [] or {} is not a rule id
        close = difflib.get_close_matches(str(target), list(seen.rules), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise _error(doc, index, str(target))(
            f"override of unknown rule {target!r}{hint}", (index, "override")
        )
    merged = dict(seen.rules[target].raw)
    merged.update({k: v for k, v in item.items() if k != "override"})
    return merged


def _check_convert_to(
    spec: AnyRule, item: dict[str, Any], index: int
) -> list[tuple[str, NodePath]]:
    """``convert_to`` must be a threshold currency: other currencies are converted to it."""
    amounts = getattr(spec, "threshold", None)
    target = getattr(spec, "convert_to", None)
    if not amounts or target is None or target in amounts:
        return []
    listed = ", ".join(sorted(amounts))
    given = "convert_to" in item
    problem = (
        f"the threshold has amounts in {listed} only; a transaction in any other currency is "
        f"converted to convert_to {target!r}"
        + ("" if given else f" (the default for a {spec.kind} rule)")
        + f" and compared with the threshold's {target} amount, which is missing. "
        f"Add a {target} amount to the threshold, or set convert_to to one of {listed}"
    )
    return [(problem, (index, "convert_to") if given else (index, "threshold"))]


def _check_templates(spec: AnyRule) -> list[tuple[str, NodePath]]:
    allowed = placeholders(spec.kind)
    problems: list[tuple[str, NodePath]] = []
    for language, template in spec.output.items():
        if spec.kind == "sequence":
            if not isinstance(template, dict) or set(template) != set(REASONS):
                problems.append(
                    (
                        f"a sequence rule has one template per reason: {', '.join(REASONS)}",
                        ("output", language),
                    )
                )
                continue
            pairs = list(template.items())
        elif isinstance(template, dict):
            problems.append(("expected one template string", ("output", language)))
            continue
        else:
            pairs = [("", template)]
        for reason, text in pairs:
            path: NodePath = ("output", language, reason) if reason else ("output", language)
            try:
                names = {n for _, n, _, _ in string.Formatter().parse(text) if n is not None}
            except ValueError as exc:
                problems.append((f"bad template: {exc}", path))
                continue
            unknown = sorted(n for n in names if n.split(".")[0].split("[")[0] not in allowed)
            if unknown:
                problems.append((f"unknown placeholder(s) {', '.join(unknown)} in template", path))
    return problems


def _compile(spec: AnyRule, doc: SourceDoc, index: int, seen: _Collected) -> CompiledRule:
    """Compile one validated rule; the first problem in it is raised (others rules go on)."""
    rule = _compile_rule(spec, doc, index, seen)
    rule.predicate_fields = rule.meta.fields  # what the compiled condition reads
    return rule


def _compile_rule(spec: AnyRule, doc: SourceDoc, index: int, seen: _Collected) -> CompiledRule:
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
        tags=(*spec.tags, SHADOW_TAG) if spec.mode == "shadow" else spec.tags,
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


def _warn_unused(seen: _Collected, macros: set[str], lists: set[str]) -> None:
    """Macros and lists that no rule (enabled or not) reads."""
    for name, (file, line) in seen.macro_where.items():
        if name not in macros and not name.startswith("user_known_"):
            seen.warnings.append(RuleWarning(f"macro {name!r} is never used", file, line))
    for name, (file, line) in seen.list_where.items():
        if name not in lists:
            seen.warnings.append(RuleWarning(f"list {name!r} is never used", file, line))


def _warn_never_matches(seen: _Collected, entry: _Rule) -> None:
    """A rule whose condition can never be true, found without running it: ``false`` (directly
    or through a macro), an empty list, or two tests of one field that cannot both hold."""
    reason = _never(entry.spec.condition, seen, set())
    if reason:
        seen.warn(
            f"this rule can never match: {reason}",
            entry.doc,
            (entry.index, "condition"),
            entry.spec.id,
        )


def _never(data: Any, seen: _Collected, stack: set[str]) -> str | None:
    if data is False:
        return "its condition is false"
    if not isinstance(data, dict):
        return None
    if "macro" in data and len(data) == 1:
        name = data["macro"]
        if not isinstance(name, str) or name in stack or name not in seen.macros:
            return None
        found = _never(dict.__getitem__(seen.macros, name)[0], seen, {*stack, name})
        return f"macro {name!r}: {found}" if found else None
    if "field" in data:
        for op in ("in", "in_list"):
            if op in data:
                values = data[op] if op == "in" else dict.get(seen.lists, str(data[op]), None)
                if values is not None and len(values) == 0:
                    return f"{data['field']} {op} an empty list"
        return None
    if "any" in data and isinstance(data["any"], list):
        reasons = [_never(child, seen, stack) for child in data["any"]]
        return "; ".join(r for r in reasons if r) if reasons and all(reasons) else None
    if "all" in data and isinstance(data["all"], list):
        for child in data["all"]:
            found = _never(child, seen, stack)
            if found:
                return found
        return _conflict(_leaves(data["all"], seen, stack))
    return None


def _leaves(children: list[Any], seen: _Collected, stack: set[str]) -> list[dict[str, Any]]:
    """The field tests that must all hold (through nested ``all`` and macros, not ``not``)."""
    out: list[dict[str, Any]] = []
    for child in children:
        if not isinstance(child, dict):
            continue
        if "field" in child:
            out.append(child)
        elif "all" in child and isinstance(child["all"], list):
            out.extend(_leaves(child["all"], seen, stack))
        elif "macro" in child and len(child) == 1:
            name = child["macro"]
            if isinstance(name, str) and name in seen.macros and name not in stack:
                body = dict.__getitem__(seen.macros, name)[0]
                out.extend(_leaves([body], seen, {*stack, name}))
    return out


def _conflict(leaves: list[dict[str, Any]]) -> str | None:
    """Two tests of one field that no value passes: ``eq`` vs another ``eq``/``in``, or an
    empty numeric range (``gt``/``gte`` above ``lt``/``lte``)."""
    allowed: dict[str, set[str]] = {}
    low: dict[str, tuple[Decimal, bool]] = {}
    high: dict[str, tuple[Decimal, bool]] = {}
    for leaf in leaves:
        name = str(leaf.get("field"))
        for op, value in leaf.items():
            if op in ("eq", "in") and not isinstance(value, dict):
                values = {str(v) for v in value} if isinstance(value, list) else {str(value)}
                allowed[name] = allowed[name] & values if name in allowed else values
                if not allowed[name]:
                    return f"{name} cannot pass all of its tests at once"
            elif op in ("gt", "gte", "lt", "lte"):
                try:
                    bound = Decimal(str(value))
                except ArithmeticError:
                    continue
                side = low if op in ("gt", "gte") else high
                strict = op in ("gt", "lt")
                current = side.get(name)
                tighter = current is None or (
                    bound > current[0] if side is low else bound < current[0]
                )
                if tighter:
                    side[name] = (bound, strict)
        if name in low and name in high:
            (lo, lo_strict), (hi, hi_strict) = low[name], high[name]
            if lo > hi or (lo == hi and (lo_strict or hi_strict)):
                return f"{name} must be above {lo} and below {hi}"
    return None
