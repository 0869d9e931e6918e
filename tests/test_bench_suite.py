"""``make bench``'s driver (``bench/suite.py``): sections that fail, resumable results, the
plan, and the long stream's input. Fast: nothing here runs a benchmark."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench import suite

TX = (
    '{{"kind": "transaction", "event_id": "{eid}", "occurred_at": "{at}", "branch_id": "B01",'
    ' "txn_id": "{tid}", "account_id": "A1", "account_type": "individual", "amount": "10.00",'
    ' "currency": "CNY", "direction": "debit", "channel": "counter", "txn_type": "withdrawal",'
    ' "initiator_id": "op1", "status": "posted"}}'
)


def test_a_failing_section_is_recorded_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"stages": {"kept": True}, "failures": {"state": {}}}))
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n")
    page = tmp_path / "capacity.md"
    done: list[str] = []

    def section(name: str, args: Any, bootstrap: str | None) -> dict[str, Any]:
        done.append(name)
        if name == "replay":
            raise RuntimeError("the replay broke\nsecond line")
        return {"entities": 10, "kinds": {}}

    monkeypatch.setattr(suite, "run_section", section)
    code = suite.main(["--quick", "--only", "replay,state", "--results", str(results),
                       "--readme", str(readme), "--capacity", str(page),
                       "--data", str(tmp_path / "data")])  # fmt: skip
    assert code == 1
    assert done == ["replay", "state"]  # the failure did not stop the run
    saved = json.loads(results.read_text())
    assert saved["stages"] == {"kept": True}  # a section this run did not measure is kept
    assert saved["state"]["entities"] == 10 and "make bench-quick" in saved["state"]["run"]
    assert set(saved["failures"]) == {"replay"}  # state's old failure is gone: it passed now
    assert saved["failures"]["replay"]["error"].startswith("RuntimeError: the replay broke (")
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("bench: 1 of 2 sections failed: replay: RuntimeError")
    assert "<!-- bench:begin -->" in readme.read_text()
    assert "<!-- capacity:begin -->" in page.read_text()


def test_unknown_sections_end_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert suite.main(["--only", "replay,nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "bench: unknown section(s) nope; choose from replay, stages, state, worker, recovery,"
        " stream"
    ]


def test_the_plan_names_every_section_with_an_estimate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert suite.main(["--plan"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["data", *suite.SECTIONS, "total"]
    total = float(out[-1].split("~")[1].split()[0])
    assert total == pytest.approx(sum(float(x.split("~")[1].split()[0]) for x in out[:-1]))


def test_the_stream_cycles_the_file_a_whole_number_of_weeks_on(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        TX.format(eid="e1", tid="T1", at="2026-03-02T09:00:00+08:00") + "\n"
        + TX.format(eid="e2", tid="T2", at="2026-03-10T09:00:00+08:00") + "\n"
    )  # fmt: skip
    events = [event for event, _ in suite.cycled_events(path, 5)]
    assert [e.event_id for e in events] == ["e1", "e2", "r1-e1", "r1-e2", "r2-e1"]
    assert [e.txn_id for e in events][2:4] == ["r1-T1", "r1-T2"]
    # the file spans 8 days: each pass moves on by 2 weeks, so weekdays stay weekdays
    assert events[2].occurred_at - events[0].occurred_at == timedelta(weeks=2)
    assert events[4].occurred_at - events[0].occurred_at == timedelta(weeks=4)
    times = [e.occurred_at for e in events]
    assert times == sorted(times)
