"""The worker's packed memory store: changelog bytes kept as they are, the same values restored."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import faust
from faust.serializers import codecs

from streams.worker.app import StageTable
from streams.worker.changelog import DELETED, encode
from streams.worker.store import (
    TABLE_SERIALIZER,
    PackedStore,
    PackedValues,
    pack,
    store_url,
    unpack,
)


def _table(store: str) -> StageTable:
    app = faust.App(f"store-test-{store}", broker="kafka://127.0.0.1:1", store=store)
    return app.tables.add(
        StageTable(
            app,
            name="state-account",
            default=None,
            partitions=4,
            key_type=str,
        )
    )


def _profile(n: int) -> dict[str, Any]:
    """An account's state in the shapes the stages store (rule windows, model profile)."""
    return {
        "large_cash": [[[1780000000.0 + n, 1500.25, f"T{n}", 3], [1780000100.5, 20.0, "T2", 1]]],
        "n": n,
        "last": 1780000000.5 + n,
        "idle": 0.125,
        "amt": {"mobile": [6.9078 + i / 7 for i in range(16)], "atm": [5.0, 5.5]},
        "hours": [n % 3] * 24,
        "cps": [123456789 + i for i in range(32)],
        "countries": ["HK", "SG"],
        "held": [{"at": 1.5, "event": '{"event_id":"E1"}', "x": {"velocity": 0.25}}],
        "alerted_until": float("-inf"),
        "due": None,
        "name": "李",
    }


def _changelog_events(table: StageTable, writes: list[tuple[str, Any]]) -> list[Any]:
    """The records a worker wrote for ``writes``, as recovery hands them to the store: key and
    value decoded by the changelog topic's serializers, the raw message beside them."""
    events = []
    for offset, (key, value) in enumerate(writes):
        raw_key, raw_value = encode(table, key, value)
        decoded = None if raw_value is None else codecs.loads(TABLE_SERIALIZER, raw_value)
        events.append(
            SimpleNamespace(
                key=codecs.loads(TABLE_SERIALIZER, raw_key),
                value=decoded,
                message=SimpleNamespace(value=raw_value, partition=offset % 4, offset=offset),
            )
        )
    return events


def test_the_packed_worker_store_is_the_packed_store() -> None:
    assert store_url("memory") == "memory://"
    assert store_url("packed") == "riskmon-memory://"
    assert store_url("rocksdb") == "rocksdb://"
    table = _table(store_url("packed"))
    assert isinstance(table.data, PackedStore)
    assert isinstance(table.data.data, PackedValues)


def test_a_changelog_restores_the_same_values_as_into_the_plain_memory_store() -> None:
    # The changelog a worker on the plain memory store wrote (the previous version), with a key
    # rewritten and one deleted, restores the same table into the packed store.
    writes: list[tuple[str, Any]] = [(f"62220{n:06d}", _profile(n)) for n in range(50)]
    writes += [("62220000003", _profile(99)), ("62220000004", DELETED), ("#3:model", {"v": 2})]
    plain, packed = _table("memory://"), _table(store_url("packed"))
    assert not isinstance(plain.data, PackedStore)
    plain.apply_changelog_batch(_changelog_events(plain, writes))
    packed.apply_changelog_batch(_changelog_events(packed, writes))
    restored = dict(packed.data.items())
    assert restored == dict(plain.data.items())
    assert "62220000004" not in restored and len(restored) == 50
    assert restored["62220000003"]["n"] == 99
    assert restored["62220000005"]["alerted_until"] == float("-inf")
    # What the store keeps is byte for byte the changelog record's value.
    raw = packed.data.data.raw
    assert raw["62220000007"] == encode(packed, "62220000007", _profile(7))[1]


def test_a_read_is_a_copy_and_a_write_replaces_the_value() -> None:
    values = PackedValues()
    values["a"] = _profile(1)
    seen = values["a"]
    seen["amt"]["mobile"].append(1.0)
    seen["n"] = 1000
    assert values["a"] == unpack(pack(_profile(1)))  # reading never exposes the stored value
    values["a"] = seen
    assert values.get("a")["n"] == 1000 and values.get("b", 7) == 7
    assert values.pop("a")["n"] == 1000 and "a" not in values and len(values) == 0
    assert values.pop("a", None) is None


def _deep_size(value: Any) -> int:
    """Bytes of ``value`` and everything it holds (each object counted once)."""
    seen: set[int] = set()
    stack = [value]
    total = 0
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return total


def test_packed_values_take_a_fraction_of_the_memory_of_python_objects() -> None:
    values = [unpack(pack(_profile(n))) for n in range(200)]  # as a restore leaves them
    packed = PackedValues()
    for n, value in enumerate(values):
        packed[str(n)] = value
    as_objects = sum(_deep_size(value) for value in values)
    as_packed = sum(sys.getsizeof(raw) for raw in packed.raw.values())
    assert as_packed * 3 < as_objects, (as_packed, as_objects)
    assert [packed[str(n)] for n in range(200)] == values


def test_tables_keep_infinities_whatever_json_library_faust_uses(monkeypatch: Any) -> None:
    # With orjson installed, faust's ``json`` serializer writes inf and -inf as null: a model's
    # ``alerted_until`` of -inf came back from the changelog as None and failed the stage. The
    # worker's tables never go through faust's json, orjson or not.
    import faust.utils.json as faust_json

    def not_faust_json(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a worker table went through faust's json")

    monkeypatch.setattr(faust_json, "dumps", not_faust_json)
    value = {"alerted_until": float("-inf"), "best": float("inf"), "name": "李", "n": 2}
    for store in ("memory://", store_url("packed")):
        table = _table(store)
        _, raw_value = encode(table, "62220000001", value)
        assert raw_value is not None and b"-Infinity" in raw_value
        assert codecs.loads(TABLE_SERIALIZER, raw_value) == value
        table.apply_changelog_batch(_changelog_events(table, [("62220000001", value)]))
        assert table.data["62220000001"] == value
    # A changelog faust's own json wrote (no orjson) reads back the same.
    assert unpack(b'{"alerted_until":-Infinity,"n":2}') == {"alerted_until": float("-inf"), "n": 2}


def test_every_worker_table_is_written_with_the_table_serializer(tmp_path: Any) -> None:
    from riskmon.settings import Settings
    from streams.worker.app import create_app
    from tests.shipped import shipped_rules

    config = Settings(worker_data_dir=tmp_path).worker_config()
    app = create_app(config, shipped_rules())
    tables = list(app.tables.values())
    assert len(tables) >= 4  # the decoder's event ids and one table per stage
    assert {(t.key_serializer, t.value_serializer) for t in tables} == {
        (TABLE_SERIALIZER, TABLE_SERIALIZER)
    }
