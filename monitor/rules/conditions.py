"""Structured conditions, compiled once into plain Python callables. Never ``eval``.

A condition is YAML data::

    all:                                   # every child is true
      - {field: channel, in: [counter, wire]}
      - {field: counterparty_country, not_in_list: home_countries}
      - not: {macro: user_known_large_transfer_exceptions}
    any: [...]                             # at least one child is true
    true / false                           # constants (false is the "never true" override hook)

Leaf operators: ``eq ne in not_in in_list not_in_list gt gte lt lte exists startswith``.
Fields are the event contract's fields, checked at load: a typo fails the load with its path, and
so does a value that a field can never take (``channel: countr``).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Union, get_args, get_origin

from monitor.errors import RulePackError
from monitor.events import Event, OperatorAction, Transaction

Predicate = Callable[[Event], bool]
Path = tuple[str | int, ...]

COMPARISONS = ("gt", "gte", "lt", "lte")
LEAF_OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "in_list",
    "not_in_list",
    *COMPARISONS,
    "exists",
    "startswith",
)


def _field_choices() -> dict[str, tuple[type | None, tuple[str, ...] | None]]:
    """Every field a rule may name, with its base type and allowed literal values if any."""
    out: dict[str, tuple[type | None, tuple[str, ...] | None]] = {}
    for model in (Transaction, OperatorAction):
        hints = typing.get_type_hints(model, include_extras=False)
        for name in model.model_fields:
            out[name] = _describe_type(hints[name])
    return out


def _describe_type(annotation: Any) -> tuple[type | None, tuple[str, ...] | None]:
    origin = get_origin(annotation)
    if origin is Literal:
        return str, tuple(str(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) == 1:
            return _describe_type(inner[0])
    if origin is typing.Annotated:
        return _describe_type(get_args(annotation)[0])
    if isinstance(annotation, type):
        return annotation, None
    return None, None


FIELDS = _field_choices()


class ConditionCompiler:
    """Compiles conditions against a set of macros and lists.

    ``macros`` maps a macro name to ``(condition data, file, path)`` so a bad macro is reported
    where it is written; compiled macros are cached and cycles are reported.
    """

    def __init__(
        self,
        macros: Mapping[str, tuple[Any, str, Path]],
        lists: Mapping[str, frozenset[str]],
        error: Callable[[str, Path], RulePackError],
    ) -> None:
        self._macros = macros
        self._lists = lists
        self._error = error
        self._compiled: dict[str, tuple[Predicate, frozenset[str]]] = {}
        self._stack: list[str] = []

    def compile(self, data: Any, path: Path) -> tuple[Predicate, frozenset[str]]:
        """Compile ``data`` at ``path``; returns the predicate and the fields it reads."""
        if isinstance(data, bool):
            return (_always if data else _never), frozenset()
        if not isinstance(data, dict):
            raise self._error(f"a condition is a mapping or true/false, got {data!r}", path)
        if len(data) == 1:
            (key,) = data
            if key in ("all", "any"):
                return self._compile_group(key, data[key], (*path, key))
            if key == "not":
                inner, fields = self.compile(data["not"], (*path, "not"))
                return _not(inner), fields
            if key == "macro":
                return self._compile_macro(data["macro"], (*path, "macro"))
        if "field" in data:
            return self._compile_leaf(data, path)
        raise self._error(
            f"unknown condition {sorted(data)}; expected all, any, not, macro or field", path
        )

    def _compile_group(
        self, key: str, children: Any, path: Path
    ) -> tuple[Predicate, frozenset[str]]:
        if not isinstance(children, list) or not children:
            raise self._error(f"'{key}' takes a non-empty list of conditions", path)
        compiled = [self.compile(child, (*path, i)) for i, child in enumerate(children)]
        fields = frozenset().union(*(f for _, f in compiled))
        predicates = [p for p, _ in compiled]
        return (_all(predicates) if key == "all" else _any(predicates)), fields

    def _compile_macro(self, name: Any, path: Path) -> tuple[Predicate, frozenset[str]]:
        if not isinstance(name, str) or name not in self._macros:
            raise self._error(f"unknown macro {name!r}", path)
        if name in self._compiled:
            return self._compiled[name]
        if name in self._stack:
            cycle = " -> ".join([*self._stack, name])
            raise self._error(f"macro cycle: {cycle}", path)
        self._stack.append(name)
        data, _file, macro_path = self._macros[name]
        try:
            result = self.compile(data, macro_path)
        finally:
            self._stack.pop()
        # Late binding through the cache keeps later overrides of a macro effective.
        self._compiled[name] = result
        return result

    def _compile_leaf(self, data: dict[str, Any], path: Path) -> tuple[Predicate, frozenset[str]]:
        name = data["field"]
        if name not in FIELDS:
            raise self._error(f"unknown field {name!r}", (*path, "field"))
        ops = [k for k in data if k != "field"]
        if len(ops) != 1:
            raise self._error(f"a field test takes exactly one operator, got {ops}", path)
        op = ops[0]
        if op not in LEAF_OPERATORS:
            raise self._error(
                f"unknown operator {op!r}; expected one of {', '.join(LEAF_OPERATORS)}",
                (*path, op),
            )
        pred = self._leaf(name, op, data[op], (*path, op))
        return pred, frozenset({name})

    def _leaf(self, name: str, op: str, value: Any, path: Path) -> Predicate:
        base, choices = FIELDS[name]
        if op == "exists":
            if not isinstance(value, bool):
                raise self._error("'exists' takes true or false", path)
            want = value
            return lambda e: (getattr(e, name, None) is not None) is want
        if op in ("in_list", "not_in_list"):
            if value not in self._lists:
                raise self._error(f"unknown list {value!r}", path)
            members = self._lists[value]
            self._check_choices(name, choices, members, path)
            return _membership(name, base, members, op == "in_list")
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                raise self._error(f"'{op}' takes a non-empty list", path)
            values = frozenset(str(v) for v in value)
            self._check_choices(name, choices, values, path)
            return _membership(name, base, values, op == "in")
        if op in COMPARISONS:
            if base is not Decimal:
                raise self._error(f"'{op}' needs a numeric field; {name!r} is not", path)
            bound = _decimal(value, path, self._error)
            cmp = _COMPARATORS[op]
            return lambda e: (v := getattr(e, name, None)) is not None and cmp(v, bound)
        if op == "startswith":
            prefix = str(value)
            return lambda e: _str(getattr(e, name, None)).startswith(prefix)
        # eq / ne
        if isinstance(value, list | dict):
            raise self._error(f"'{op}' takes a single value", path)
        if base is Decimal:
            number = _decimal(value, path, self._error)
            if op == "eq":
                return lambda e: getattr(e, name, None) == number
            return lambda e: getattr(e, name, None) != number
        text = str(value)
        self._check_choices(name, choices, frozenset({text}), path)
        if base is str:  # the common case: compare without converting
            if op == "eq":
                return lambda e: getattr(e, name, None) == text
            return lambda e: getattr(e, name, None) != text
        if op == "eq":
            return lambda e: _str(getattr(e, name, None)) == text
        return lambda e: _str(getattr(e, name, None)) != text

    def _check_choices(
        self, name: str, choices: tuple[str, ...] | None, values: frozenset[str], path: Path
    ) -> None:
        if choices is None:
            return
        bad = sorted(values - set(choices))
        if bad:
            raise self._error(
                f"{name!r} can never be {', '.join(map(repr, bad))}; "
                f"it is one of {', '.join(choices)}",
                path,
            )


def _always(_event: Event) -> bool:
    return True


def _never(_event: Event) -> bool:
    return False


def _not(inner: Predicate) -> Predicate:
    """The negation; of a constant, the other constant (``not: {macro: ..._exceptions}`` over
    an exceptions hook left ``false`` costs nothing per event)."""
    if inner is _always:
        return _never
    if inner is _never:
        return _always
    return lambda e: not inner(e)


def _all(predicates: list[Predicate]) -> Predicate:
    """One closure over every child: it short-circuits without a generator or a nested call per
    child (conditions are the hot path). Constant children are folded away."""
    if any(p is _never for p in predicates):
        return _never
    predicates = [p for p in predicates if p is not _always]
    if not predicates:
        return _always
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        a, b = predicates
        return lambda e: a(e) and b(e)
    if len(predicates) == 3:
        a, b, c = predicates
        return lambda e: a(e) and b(e) and c(e)
    if len(predicates) == 4:
        a, b, c, d = predicates
        return lambda e: a(e) and b(e) and c(e) and d(e)
    head, tail = _all(predicates[:4]), _all(predicates[4:])
    return lambda e: head(e) and tail(e)


def _any(predicates: list[Predicate]) -> Predicate:
    if any(p is _always for p in predicates):
        return _always
    predicates = [p for p in predicates if p is not _never]
    if not predicates:
        return _never
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        a, b = predicates
        return lambda e: a(e) or b(e)
    if len(predicates) == 3:
        a, b, c = predicates
        return lambda e: a(e) or b(e) or c(e)
    if len(predicates) == 4:
        a, b, c, d = predicates
        return lambda e: a(e) or b(e) or c(e) or d(e)
    head, tail = _any(predicates[:4]), _any(predicates[4:])
    return lambda e: head(e) or tail(e)


def _membership(name: str, base: type | None, values: frozenset[str], inside: bool) -> Predicate:
    if base is str:  # string fields compare as they are; a missing value is never a member
        if inside:
            return lambda e: getattr(e, name, None) in values
        return lambda e: (v := getattr(e, name, None)) is not None and v not in values
    if inside:
        return lambda e: _str(getattr(e, name, None)) in values
    return lambda e: (v := getattr(e, name, None)) is not None and _str(v) not in values


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _decimal(value: Any, path: Path, error: Callable[[str, Path], RulePackError]) -> Decimal:
    if isinstance(value, bool):
        raise error(f"expected a number, got {value!r}", path)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise error(f"expected a number, got {value!r}", path) from None


_COMPARATORS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}
