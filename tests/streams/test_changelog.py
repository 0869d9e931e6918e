"""The stage batch's changelog records are the records faust's own Table writes would send."""

from __future__ import annotations

import faust

from streams.worker.app import StageTable
from streams.worker.changelog import DELETED, encode


def _table() -> StageTable:
    app = faust.App("changelog-test", broker="kafka://127.0.0.1:1", store="memory://")
    return app.tables.add(
        StageTable(app, name="state-account", default=None, partitions=4, key_type=str)
    )


def test_records_are_serialized_as_faust_serializes_a_table_write() -> None:
    table = _table()
    value = {"window": [[1700000000.5, "120.00"]], "n": 3, "flag": None, "name": "李"}
    key, data = encode(table, "6222020200001111", value)
    # What Table.on_key_set sends (send_changelog -> send_soon -> prepare_key/prepare_value).
    expect_key, _ = table.changelog_topic.prepare_key("6222020200001111", table.key_serializer)
    expect_value, _ = table.changelog_topic.prepare_value(value, table.value_serializer)
    assert (key, data) == (expect_key, expect_value)
    assert key == b'"6222020200001111"'
    assert faust.serializers.codecs.loads("json", data) == value


def test_a_deletion_is_a_tombstone() -> None:
    table = _table()
    key, data = encode(table, "T1", DELETED)
    assert key == b'"T1"'
    assert data is None
