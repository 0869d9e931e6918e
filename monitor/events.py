"""The event contract (README, "The event contract"): pydantic models and a strict decoder.

Conventions
-----------
- ``amount`` is a :class:`~decimal.Decimal`, never a float.
- Timestamps must carry a UTC offset; a naive timestamp is a validation error.
- Unknown extra fields are kept on the model (``model_extra``) and ignored by rules.
- :func:`decode_event` never raises anything but :class:`~monitor.errors.EventDecodeError`.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic needs these before 3.12
    cast,
)

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from monitor.contract import (
    ISO_4217,
    MAX_TEXT_CHARS,
    check_currency,
    check_text,
    check_timestamp_type,
    text_problem,
)
from monitor.errors import EventDecodeError

__all__ = [
    "MAX_EVENT_BYTES",
    "AccountType",
    "Action",
    "Channel",
    "Direction",
    "Event",
    "OperatorAction",
    "Role",
    "Transaction",
    "TxnStatus",
    "TxnType",
    "decode_event",
    "encode_event",
    "event_epoch",
]

MAX_EVENT_BYTES = 64 * 1024
"""Events larger than this are rejected as ``too_large`` before parsing."""

AccountType = Literal["individual", "corporate"]
Direction = Literal["debit", "credit"]
Channel = Literal["counter", "atm", "mobile", "online", "wire", "batch"]
TxnType = Literal["transfer", "withdrawal", "deposit", "payment"]
TxnStatus = Literal["initiated", "posted", "reversed"]
Role = Literal["teller", "supervisor", "manager", "auditor", "admin", "it"]
Action = Literal[
    "login",
    "logout",
    "approve",
    "reject",
    "review",
    "override",
    "view_customer",
    "export_data",
    "change_limit",
    "unlock_account",
    "modify_account",
]

# Identifiers: no control or bidirectional characters (monitor.contract).
NonEmpty = Annotated[
    str, Field(min_length=1, max_length=MAX_TEXT_CHARS), AfterValidator(check_text)
]
# RFC 3339 text with an offset; epoch numbers are refused.
EventTime = Annotated[AwareDatetime, BeforeValidator(check_timestamp_type)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(check_currency)]


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    event_id: NonEmpty
    occurred_at: EventTime
    branch_id: NonEmpty

    @model_validator(mode="after")
    def _extra_text_is_clean(self) -> _EventBase:
        # Extra fields are kept (and may be shown downstream): the same text rules apply.
        for name, value in (self.model_extra or {}).items():
            problem = _nested_text_problem(value) or text_problem(name)
            if problem is not None:
                raise ValueError(f"{name!r}: {problem}")
        return self


class Transaction(_EventBase):
    """A transaction event; one ``txn_id`` may appear once per status change."""

    kind: Literal["transaction"]
    txn_id: NonEmpty
    account_id: NonEmpty
    account_type: AccountType
    amount: Decimal = Field(gt=0, max_digits=20, decimal_places=4, allow_inf_nan=False)
    currency: Currency
    direction: Direction
    channel: Channel
    txn_type: TxnType
    counterparty_account: NonEmpty | None = None
    counterparty_country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    initiator_id: NonEmpty
    status: TxnStatus

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_not_float_garbage(cls, value: Any) -> Any:
        # Booleans are ints in Python; an amount of `true` is a schema error, not 1.
        if isinstance(value, bool):
            raise ValueError("amount must be a decimal string or number, not a boolean")
        return value


class OperatorAction(_EventBase):
    """Something an operator (bank staff) did: login, approve, view a record..."""

    kind: Literal["operator_action"]
    operator_id: NonEmpty
    role: Role
    action: Action
    target_txn_id: NonEmpty | None = None
    target_account_id: NonEmpty | None = None
    terminal_id: NonEmpty
    outcome: Literal["success", "failure"]


def _nested_text_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    for item in items:
        problem = _nested_text_problem(item)
        if problem is not None:
            return problem
    return None


Event = Transaction | OperatorAction
"""The one event union: every module that takes "an event" uses this name."""
_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(
    Annotated[Transaction | OperatorAction, Field(discriminator="kind")]
)


# -- the fast path ------------------------------------------------------------------------------
# A second schema that pydantic-core checks without calling back into Python: identifiers are
# printable ASCII (the common case of ``check_text``), currencies are listed, timestamps must be
# text (``check_timestamp_type``), and extra fields are refused. Whatever it accepts, the full
# models accept with the same values; whatever it refuses takes the full path, which gives every
# reason and detail. Its output is a dict, turned into the event without a second validation.

_CleanText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"^[ -~]+$"
    ),
]
_StrictTime = Annotated[AwareDatetime, Field(strict=True)]
_ListedCurrency = Literal[tuple(sorted(ISO_4217))]  # type: ignore[valid-type]
# JSON text or an integer, never a JSON float (read as binary, so left to the full path); it
# becomes the amount through the contract's own field validator.
_TextOrInteger = Annotated[str, Field(strict=True)] | Annotated[int, Field(strict=True)]
_AMOUNT: TypeAdapter[Decimal] = TypeAdapter(
    Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=4, allow_inf_nan=False)]
)
_FAST_CONFIG = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _FastTransaction(TypedDict):
    __pydantic_config__ = _FAST_CONFIG  # type: ignore[misc]

    kind: Literal["transaction"]
    event_id: _CleanText
    occurred_at: _StrictTime
    branch_id: _CleanText
    txn_id: _CleanText
    account_id: _CleanText
    account_type: AccountType
    amount: _TextOrInteger
    currency: _ListedCurrency  # type: ignore[valid-type]
    direction: Direction
    channel: Channel
    txn_type: TxnType
    counterparty_account: NotRequired[_CleanText | None]
    counterparty_country: NotRequired[
        Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z]{2}$")] | None
    ]
    initiator_id: _CleanText
    status: TxnStatus


class _FastOperatorAction(TypedDict):
    __pydantic_config__ = _FAST_CONFIG  # type: ignore[misc]

    kind: Literal["operator_action"]
    event_id: _CleanText
    occurred_at: _StrictTime
    branch_id: _CleanText
    operator_id: _CleanText
    role: Role
    action: Action
    target_txn_id: NotRequired[_CleanText | None]
    target_account_id: NotRequired[_CleanText | None]
    terminal_id: _CleanText
    outcome: Literal["success", "failure"]


_FAST_ADAPTER: TypeAdapter[_FastTransaction | _FastOperatorAction] = TypeAdapter(
    Annotated[_FastTransaction | _FastOperatorAction, Field(discriminator="kind")]
)


def _fields_of(cls: type[Event]) -> dict[str, None]:
    fields = cls.model_fields
    if any(not f.is_required() and f.default is not None for f in fields.values()):
        raise TypeError(f"{cls.__name__}: the fast path assumes optional fields default to None")
    return dict.fromkeys(fields)


_EMPTY_FIELDS: dict[str, tuple[type[Event], dict[str, None]]] = {
    "transaction": (Transaction, _fields_of(Transaction)),
    "operator_action": (OperatorAction, _fields_of(OperatorAction)),
}


# The validators themselves (no TypeAdapter wrapper call per event).
_FAST_VALIDATE_JSON = _FAST_ADAPTER.validator.validate_json
_AMOUNT_VALIDATE = _AMOUNT.validator.validate_python
_PLAIN_AMOUNT = re.compile(r"(?:0|[1-9][0-9]{0,15})(?:\.[0-9]{1,4})?").fullmatch
"""An amount written plainly: at most 16 whole digits without a leading zero, at most 4
decimals. ``Decimal`` reads such text to the value the amount's validator gives, within its
limits; the validator still judges every other text (and a zero)."""
_ZERO = Decimal(0)


def _fast_amount(raw: Any) -> Decimal:
    """The amount of the fast schema's text or integer; raises ``ValidationError`` as
    ``_AMOUNT`` does."""
    if type(raw) is str and _PLAIN_AMOUNT(raw) is not None:
        amount = Decimal(raw)
        if amount > _ZERO:
            return amount
    return cast(Decimal, _AMOUNT_VALIDATE(raw))


def _fast_decode(raw: bytes | str) -> Event | None:
    """The event if the fast schema accepts ``raw``, else ``None`` (the full path decides)."""
    try:
        data = cast(dict[str, Any], _FAST_VALIDATE_JSON(raw))
    except ValidationError:
        return None
    kind = data["kind"]
    if kind == "transaction":
        try:
            data["amount"] = _fast_amount(data["amount"])
        except ValidationError:
            return None
    cls, empty = _EMPTY_FIELDS[kind]
    fields_set = set(data)
    values = empty.copy()  # every field, in the model's order; optional ones default to None
    values.update(data)
    event = cls.__new__(cls)
    setattr_ = object.__setattr__
    setattr_(event, "__dict__", values)
    setattr_(event, "__pydantic_fields_set__", fields_set)
    setattr_(event, "__pydantic_extra__", {})
    setattr_(event, "__pydantic_private__", None)
    return event


_FLOAT_TOKEN = re.compile(r'(?:"\s*:|[\[,])\s*-?\d+[.eE]')
_FLOAT_TOKEN_BYTES = re.compile(_FLOAT_TOKEN.pattern.encode())
"""Where a JSON number with a fraction or an exponent may start: after a key's colon or in an
array (a string that merely looks like one, ``"a: 1.5"``, sends its line the slow way, which is
always correct; a time of day ``09:00:00.250`` does not)."""


def _may_hold_float(raw: bytes | str) -> bool:
    if isinstance(raw, bytes):
        return _FLOAT_TOKEN_BYTES.search(raw) is not None
    return _FLOAT_TOKEN.search(raw) is not None


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        loc = ".".join(str(p) for p in item["loc"]) or "<event>"
        parts.append(f"{loc}: {item['msg']}")
    return "; ".join(parts)


def decode_event(raw: bytes | str) -> Event:
    """Decode one JSON event, raising :class:`EventDecodeError` with a precise reason.

    >>> e = decode_event('{"kind": "operator_action", "event_id": "e1", "branch_id": "B1",'
    ...     ' "occurred_at": "2026-03-02T09:00:00+08:00", "operator_id": "op1", "role": "teller",'
    ...     ' "action": "login", "terminal_id": "t1", "outcome": "success"}')
    >>> e.action
    'login'
    >>> decode_event('{"kind": "transaction"}')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    monitor.errors.EventDecodeError: schema: transaction.event_id: Field required; ...
    """
    size = len(raw)
    if size > MAX_EVENT_BYTES:
        raise EventDecodeError("too_large", f"{size} bytes exceeds the {MAX_EVENT_BYTES} limit")
    # The fast paths: pydantic parses and validates in one pass (no Python dict in between),
    # first without a Python callback and without JSON floats (most events), then with the full
    # models. Those would read a JSON float as a binary float, so a line with one takes the path
    # below; so does any line they refuse, so that every reason and detail stays the same.
    fast = _fast_decode(raw)
    if fast is not None:
        return fast
    if not _may_hold_float(raw):
        try:
            return _EVENT_ADAPTER.validate_json(raw)
        except ValidationError:
            pass
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventDecodeError("encoding", f"not UTF-8: {exc}") from None
    try:
        data = json.loads(raw, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise EventDecodeError("invalid_json", str(exc)) from None
    if not isinstance(data, dict):
        raise EventDecodeError("schema", f"expected a JSON object, got {type(data).__name__}")
    try:
        return _EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EventDecodeError("schema", _describe(exc)) from None


_EPOCH_SLOT: list[Any] = [None, 0.0]


def event_epoch(event: Event) -> float:
    """``event.occurred_at.timestamp()``, remembered for the last event asked about: the engine,
    its admission check and several rules all need it for the same event, one after another.

    The slot holds the event itself, so an identity test cannot mistake another event for it
    (events are frozen: their time cannot change).
    """
    slot = _EPOCH_SLOT
    if slot[0] is event:
        return cast(float, slot[1])
    moment = event.occurred_at.timestamp()
    slot[0] = event
    slot[1] = moment
    return moment


def encode_event(event: Event) -> str:
    """Encode an event as one compact JSON line (amount as a decimal string).

    Optional contract fields that are unset are left out; extra fields are kept as they came,
    ``null`` included, so that decoding the line gives the same event back.
    """
    unset = {name for name in type(event).model_fields if getattr(event, name) is None}
    return event.model_dump_json(exclude=unset or None)
