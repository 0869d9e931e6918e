"""The riskmon error tree.

Every error riskmon raises on purpose derives from :class:`MonitorError`::

    MonitorError
    ├── EventDecodeError          an event could not be decoded or validated
    ├── RulePackError             a rule file is invalid (file, line, rule id, field path)
    │   ├── RulePackErrors        every problem found in one load (``errors``, ``warnings``)
    │   └── RuleExampleError      a rule's own examples do not hold
    └── StateVersionError         stored state has an unknown version header
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every riskmon error."""


class EventDecodeError(MonitorError):
    """An event could not be decoded: bad JSON, wrong schema, or wrong types.

    ``reason`` is a one-line machine-friendly summary (``invalid_json``, ``schema``, ``too_large``,
    ``encoding``); ``detail`` is the human explanation with field paths.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class RulePackError(MonitorError):
    """A rule pack could not be loaded.

    The message always names the file, and where known the line, the item id and the field path,
    in the form ``file:line: rule 'id': field.path: problem``.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        item_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = file
        self.line = line
        self.item_id = item_id
        self.field = field
        where = file or "<rules>"
        if line is not None:
            where = f"{where}:{line}"
        parts = [where]
        if item_id is not None:
            parts.append(f"rule '{item_id}'")
        if field:
            parts.append(field)
        parts.append(problem)
        super().__init__(": ".join(parts))


class RulePackErrors(RulePackError):
    """Every problem found in one pass over the rule files (at least one).

    The attributes of the first error are this error's own, so a caller that handles a single
    :class:`RulePackError` keeps working; ``errors`` holds them all and ``warnings`` the warnings
    found on the way. ``str()`` gives one line per error.
    """

    def __init__(self, errors: list[RulePackError], warnings: tuple[object, ...] = ()) -> None:
        first = errors[0]
        super().__init__(
            first.problem,
            file=first.file,
            line=first.line,
            item_id=first.item_id,
            field=first.field,
        )
        self.errors = tuple(errors)
        self.warnings = warnings
        self.args = ("\n".join(str(e) for e in errors),)


class RuleExampleError(RulePackError):
    """A rule's ``examples`` do not give the expected result."""


class StateVersionError(MonitorError):
    """Stored state or a model snapshot carries a version this code cannot read."""
