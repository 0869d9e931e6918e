"""Replay's dead-letter file and the worker's dead-letter record keep the same bytes of a line.

Both go through :func:`monitor.excerpt.dead_letter_excerpt`: for the same refused line, the kept
bytes, the size and the SHA-256 agree, whatever the line's size or encoding.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from monitor.engine import Engine
from monitor.excerpt import KEEP_WHOLE_BYTES, MAX_EXCERPT_BYTES
from monitor.rules.loader import load_rules
from streams.replay import DeadLetter, read_lines, replay
from streams.worker.faults import dead_letter_record, record_size

EVENT = {
    "kind": "transaction",
    "event_id": "e1",
    "occurred_at": "2026-03-03T10:00:00+08:00",
    "branch_id": "BR001",
    "txn_id": "T1",
    "account_id": "6222020200001111",
    "account_type": "individual",
    "amount": "lots",  # a schema error: the line is dead-lettered whatever its size
    "currency": "CNY",
    "direction": "debit",
    "channel": "counter",
    "txn_type": "withdrawal",
    "initiator_id": "op-t1",
    "status": "posted",
}


def event_line(note: str) -> bytes:
    return json.dumps(EVENT | {"note": note}, ensure_ascii=False).encode()


LINES = {
    "broken json": b"{not json",
    "not utf-8": b'{"kind": "\xff\xfe"}',
    "10 KB, kept whole": event_line("x" * 10_000),
    "at the keep-whole limit": b"{" + b"x" * (KEEP_WHOLE_BYTES - 1),
    "just over it": b"{" + b"x" * KEEP_WHOLE_BYTES,
    "2 MB, cut inside a character": event_line("ab" + "你" * 700_000),
    "2 MB of bad bytes": b"{" + b"\xff\xfe\x80" * 700_000,
}


def replayed(tmp_path: Path, raw: bytes) -> DeadLetter:
    path = tmp_path / "events.jsonl"
    path.write_bytes(raw + b"\n")
    dead: list[DeadLetter] = []
    replay(read_lines([str(path)]), Engine(load_rules()), lambda _a: None, dead.append)
    (letter,) = dead
    return letter


@pytest.mark.parametrize("name", list(LINES))
def test_replay_and_worker_keep_the_same_excerpt_size_and_hash(tmp_path: Path, name: str) -> None:
    raw = LINES[name]
    file_record = json.loads(replayed(tmp_path, raw).to_json())
    letter = dead_letter_record(raw, b"key", [("reason", file_record["reason"].encode())])
    headers = dict(letter.headers)
    assert record_size(letter.key, letter.value, letter.headers) <= 1_000_000
    assert file_record["raw_bytes"] == int(headers["original_size"]) == len(raw)
    sha256 = hashlib.sha256(raw).hexdigest()
    assert file_record["raw_sha256"] == headers["original_sha256"].decode() == sha256
    assert file_record["raw_truncated"] is letter.truncated is (len(raw) > KEEP_WHOLE_BYTES)
    # The file holds text (bad bytes as \xNN); the record holds the same bytes.
    assert file_record["raw"] == letter.value.decode("utf-8", errors="backslashreplace")
    assert raw.startswith(letter.value)
    if letter.truncated:
        assert 0 < len(letter.value) <= MAX_EXCERPT_BYTES
    else:
        assert letter.value == raw
