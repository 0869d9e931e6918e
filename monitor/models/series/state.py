"""Reading :class:`monitor.models.series.SeriesDetector` snapshots back, type by type.

A snapshot is plain JSON that may have been stored anywhere, so every field is checked on the
way in and a wrong one raises :class:`SeriesStateError` instead of failing later.
"""

from __future__ import annotations

from monitor.models.state import ModelStateError

__all__ = [
    "SeriesStateError",
    "as_bool",
    "as_float",
    "as_float_list",
    "as_int",
    "as_list",
    "as_optional_float",
]


class SeriesStateError(ModelStateError):
    """A snapshot given to ``SeriesDetector.from_state`` is not one this version wrote."""


def as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SeriesStateError(f"expected a number in the snapshot, got {value!r}")
    return float(value)


def as_optional_float(value: object) -> float | None:
    return None if value is None else as_float(value)


def as_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SeriesStateError(f"expected an integer in the snapshot, got {value!r}")
    return value


def as_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise SeriesStateError(f"expected true or false in the snapshot, got {value!r}")
    return value


def as_float_list(value: object, length: int | None = None) -> list[float]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise SeriesStateError(f"expected a list of {length or 'some'} numbers in the snapshot")
    return [as_float(v) for v in value]


def as_list(value: object, length: int) -> list[object]:
    if not isinstance(value, list) or len(value) != length:
        raise SeriesStateError(f"expected a list of {length} items in the snapshot")
    return value
