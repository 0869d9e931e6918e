"""The capacity model (``bench/capacity.py``) derives docs/capacity.md's tables from results."""

import math
from pathlib import Path
from typing import Any

import pytest

from bench import capacity


def results() -> dict[str, Any]:
    """A small results dict of the shape bench/suite.py writes, with round figures."""
    return {
        "command": "make bench",
        "finished": "2026-12-07 05:00",
        "replay": {
            "rules": {"events_per_cpu_s": 20_000},
            "models": {"events_per_cpu_s": 10_000},
            "bytes_per_event": 500,
            "run": "run A",
        },
        "worker": {
            "bare": {"events_per_s": 10_000},
            "quix": {"events_per_s": 50_000},
            "worker": {"events_per_s": 4_000},
            "workers_2": {"events_per_s": 6_000},
            "latency": [
                {"rate": 1_000, "p99_ms": 100.0},
                {"rate": 2_000, "p99_ms": 200.0},
                {"rate": 3_200, "p99_ms": 400.0},
            ],
            "run": "run B",
        },
        "state": {
            "kinds": {
                "account (rules + model profile)": {
                    "live_keys_after_replay": 1_000,
                    "memory_bytes_per_entity": 2_000,
                    "rocksdb_bytes_per_entity": 200,
                },
                "operator (rules + model profile)": {
                    "live_keys_after_replay": 10,
                    "memory_bytes_per_entity": 1_000,
                    "rocksdb_bytes_per_entity": 100,
                },
                "pending review (transaction stage)": {
                    "live_keys_after_replay": 100,
                    "memory_bytes_per_entity": 500,
                    "rocksdb_bytes_per_entity": 10,
                },
            }
        },
        "recovery": {
            "value_bytes_mean": 300,
            "rows": [
                {"keys": 0},
                {"keys": 10_000, "keys_per_s": 2_000},
                {"keys": 100_000, "keys_per_s": 1_000},
            ],
        },
    }


def test_inputs_come_from_the_results() -> None:
    inp = capacity.inputs(results())
    assert inp.worker == 4_000 and inp.bare == 10_000 and inp.quix == 50_000
    assert inp.scaling == pytest.approx(0.75)  # 6,000 / (2 x 4,000)
    # 2,000/s = 50 % of W kept p99 within 250 ms, 3,200/s = 80 % did not: u = 50 %.
    assert inp.utilisation == pytest.approx(0.5)
    assert inp.replay_us_rules == pytest.approx(50) and inp.replay_us_models == pytest.approx(100)
    assert inp.account_bytes == (2_000, 200)
    assert inp.operators_per_account == pytest.approx(0.01)
    assert inp.reviews_per_account == pytest.approx(0.1)
    assert inp.event_bytes == 500 and inp.state_value_bytes == 300
    assert inp.restore_keys_per_s == 1_000  # the slowest size measured
    assert inp.base_rss_mib == capacity.BASE_RSS_MIB  # no stream section


def test_sizing_follows_the_formulas() -> None:
    inp = capacity.inputs(results())
    row = capacity.size(20_000, inp)
    assert row is not None
    per_worker = 4_000 * 0.5 * 0.75  # W x u x e = 1,500 events/s
    assert row.workers == math.ceil(20_000 / per_worker) == 14
    assert row.partitions == 28  # 2 per worker, a multiple of 4
    accounts = 20_000 * capacity.ACCOUNTS_PER_EVENT_PER_S
    assert row.accounts == accounts == 4_000_000
    bank = accounts * (2_000 + 0.01 * 1_000 + 0.1 * 500)
    assert row.state_memory_gb == pytest.approx(bank / 1e9)
    assert row.state_rocksdb_gb == pytest.approx(accounts * (200 + 0.01 * 100 + 0.1 * 10) / 1e9)
    assert row.memory_per_worker_gb == pytest.approx(
        bank / 14 / 1e9 + capacity.BASE_RSS_MIB * 2**20 / 1e9
    )
    assert row.broker_in_mb_s == pytest.approx(20_000 * (500 * 3 + 300) / 1e6)  # 36 MB/s
    assert row.brokers == 3  # 36 x 3 = 108 MB/s of writes over 60 MB/s each: 2, but RF 3
    assert row.restore_minutes == pytest.approx(accounts * 1.11 / 14 / 1_000 / 60)


def test_more_input_needs_more_of_everything() -> None:
    inp = capacity.inputs(results())
    rows = [capacity.size(rate, inp) for rate in capacity.RATES]
    assert all(r is not None for r in rows)
    workers = [r.workers for r in rows if r]
    brokers = [r.brokers for r in rows if r]
    assert workers == sorted(workers) and workers[0] < workers[-1]
    assert brokers == sorted(brokers)


def test_a_missing_section_is_named_not_guessed(tmp_path: Path) -> None:
    partial = {k: v for k, v in results().items() if k != "worker"}
    assert capacity.size(5_000, capacity.inputs(partial)) is None
    text = capacity.render(partial)
    assert "not measured (needs the worker and state sections)" in text
    assert "| `W` | events/s one riskmon worker drains | not measured |" in text


def test_no_latency_within_target_sizes_at_the_lowest_measured_load() -> None:
    slow = results()
    for row in slow["worker"]["latency"]:
        row["p99_ms"] = 900.0
    inp = capacity.inputs(slow)
    assert inp.utilisation == pytest.approx(0.25)  # 1,000 / 4,000
    assert "no measured rate kept p99" in inp.latency_note


def test_the_page_block_is_replaced_and_the_prose_kept(tmp_path: Path) -> None:
    page = tmp_path / "capacity.md"
    page.write_text(
        f"# Capacity\n\nprose before\n\n{capacity.BEGIN}\nold\n{capacity.END}\n\nafter\n"
    )
    capacity.write_page(results(), page)
    text = page.read_text()
    assert text.startswith("# Capacity\n\nprose before\n\n") and text.endswith("\n\nafter\n")
    assert "old" not in text
    assert "| 20,000/s | 14 | 28 | 4,000,000 |" in text
    capacity.write_page(results(), page)  # idempotent
    assert page.read_text() == text
