"""No traceback reaches a user (issue 11, item 3).

Every subcommand, enumerated from the Typer app (a new command is covered without editing this
file), runs with the inputs a new user gets wrong: a missing path, a folder, a binary file, and
malformed settings. Each must end in exactly one clear line on stderr and a non-zero exit, never a
traceback and never the "internal error" fallback of ``riskmon.cli.main``.

The command lines run in one subprocess (``tests/cli_driver.py``) so that ~100 of them cost one
interpreter start-up; the issue's own cases also run as real ``riskmon`` processes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from riskmon.cli import app

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "cli_driver.py"


def leaf_commands() -> list[tuple[list[str], Any]]:
    """``(path, command)`` for every runnable subcommand of the app, nested groups included."""
    found: list[tuple[list[str], Any]] = []

    def walk(command: Any, path: list[str]) -> None:
        if hasattr(command, "commands"):
            for name, sub in sorted(command.commands.items()):
                walk(sub, [*path, name])
        else:
            found.append((path, command))

    walk(typer.main.get_command(app), [])
    return found


def argv_for(path: list[str], command: Any, value: str) -> list[str] | None:
    """A command line giving ``value`` to every positional argument (``None`` if it has none)."""
    args: list[str] = []
    has_argument = False
    for param in command.params:
        if param.param_type_name == "argument":
            has_argument = True
            args.append(value)
        elif param.required:
            args += [param.opts[0], "x"]  # --by x, --reason x ...
    return [*path, *args] if has_argument else None


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("cli-errors")
    binary = root / "binary.jsonl"
    binary.write_bytes(bytes(range(256)) * 64)
    (root / "folder").mkdir()
    return {
        "missing": str(root / "no-such-file.jsonl"),
        "folder": str(root / "folder"),
        "binary": str(binary),
        "root": str(root),
    }


BAD_SETTINGS = {
    "RISKMON_ALERT_API_TOKENS": "secret123",  # not JSON: broke every `alerts` subcommand
    "RISKMON_LANGUAGE": "de",
    "RISKMON_LATENESS_SECONDS": "five minutes",
    "RISKMON_MASK_ACCOUNTS": "perhaps",
    "RISKMON_TOPIC_PARTITIONS": "-",
}
# Binary input that is legitimately processed: each line becomes an `encoding` dead letter (or,
# for the model commands, is skipped as undecodable).
DEAD_LETTERS_BINARY = {("replay",), ("rules", "backtest"), ("models", "train")}
# Binary lines are published as they are (the worker dead-letters them): that needs a broker.
NEEDS_A_BROKER_FOR_BINARY = {("produce",)}
# A folder of rule files is a documented input; an empty one adds nothing to the shipped packs.
FOLDER_IS_VALID = {("rules", "validate"), ("rules", "test"), ("rules", "diff")}
WIDE = {"COLUMNS": "400"}  # rich wraps at 80 columns without a terminal; one line must stay one


def run_driver(cases: list[dict[str, Any]], cwd: str) -> list[dict[str, Any]]:
    text = "".join(json.dumps(case) + "\n" for case in cases)
    done = subprocess.run(
        [sys.executable, str(DRIVER)],
        input=text,
        env={"PATH": "/usr/bin:/bin", "HOME": cwd, **WIDE},
        capture_output=True,
        text=True,
        timeout=240,
        cwd=cwd,
    )
    results = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert len(results) == len(cases), (
        f"driver stopped after {len(results)} of {len(cases)} cases "
        f"(next: {cases[len(results)]['argv'] if len(results) < len(cases) else '-'}):\n"
        f"{done.stderr[-3000:]}"
    )
    return results


def problems(result: dict[str, Any], allow_success: bool = False) -> list[str]:
    """What is wrong with how one command line ended (empty: it failed cleanly)."""
    found = []
    stderr = result["stderr"]
    lines = [line for line in stderr.splitlines() if line.strip()]
    if result["escaped"] or "Traceback (most recent call last)" in stderr:
        found.append(f"traceback:\n{result['escaped'] or stderr}")
    if "internal error" in stderr:
        found.append(f"unexpected exception: {stderr.strip()}")
    if result["code"] in (0, None) and not allow_success:
        found.append("exit code 0")
    if result["code"] not in (0, None) and len(lines) != 1:
        found.append(f"{len(lines)} stderr lines instead of one: {stderr!r}")
    return found


@pytest.mark.slow
def test_every_subcommand_fails_cleanly_on_bad_paths_and_bad_settings(
    inputs: dict[str, str],
) -> None:
    commands = leaf_commands()
    assert len(commands) >= 20  # the enumeration really walks the nested groups
    base_env = {
        "RISKMON_ALERT_STORE_URL": f"sqlite:///{inputs['root']}/alerts.db",
        "RISKMON_KAFKA_BOOTSTRAP": "127.0.0.1:9",  # nothing listens: never reach a real broker
    }
    cases: list[dict[str, Any]] = []
    for path, command in commands:
        for kind in ("missing", "folder", "binary"):
            value = inputs[kind]
            if kind == "binary":  # a copy per case: a command may write to an argument it got
                value = shutil.copy(value, f"{value}.{len(cases)}")
            argv = argv_for(path, command, value)
            skip = NEEDS_A_BROKER_FOR_BINARY if kind == "binary" else set()
            if argv is not None and tuple(path) not in skip:
                cases.append({"argv": argv, "env": base_env, "kind": kind, "cmd": path})
        # Bad settings fail before the command does anything (so `worker` or `serve` never start).
        for name, value in BAD_SETTINGS.items():
            cases.append(
                {"argv": path, "env": {**base_env, name: value}, "kind": name, "cmd": path}
            )
    results = run_driver(cases, inputs["root"])
    failures = []
    for case, result in zip(cases, results, strict=True):
        command = tuple(case["cmd"])
        allow = (case["kind"] == "binary" and command in DEAD_LETTERS_BINARY) or (
            case["kind"] == "folder" and command in FOLDER_IS_VALID
        )
        for problem in problems(result, allow_success=allow):
            failures.append(f"riskmon {' '.join(case['argv'])} [{case['kind']}]: {problem}")
        if case["kind"] in BAD_SETTINGS:
            assert case["kind"] in result["stderr"], result  # the line names the setting
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_the_issue_cases_as_real_processes(inputs: dict[str, str], tmp_path: Path) -> None:
    """Each case the issue lists, through the installed ``riskmon`` script."""
    riskmon = shutil.which("riskmon", path=str(Path(sys.executable).parent))
    assert riskmon is not None
    corrupt = tmp_path / "corrupt-state.json"
    corrupt.write_text('{"version": 1, "stages": ', encoding="utf-8")
    foreign = tmp_path / "v9-state.json"
    foreign.write_text('{"version": 9, "stages": {}}', encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text("", encoding="utf-8")
    store = {"RISKMON_ALERT_STORE_URL": f"sqlite:///{tmp_path}/alerts.db"}
    cases: list[tuple[list[str], dict[str, str], str]] = [
        (["replay", inputs["folder"]], {}, "folder"),
        (["replay", inputs["missing"]], {}, "no such file"),
        (["rules", "validate", inputs["binary"]], {}, "not a UTF-8 text file"),
        (["replay", str(events), "--state", str(corrupt)], {}, "not a riskmon state file"),
        (["replay", str(events), "--state", str(foreign)], {}, "unknown state version 9"),
        (["alerts", "list"], {**store, "RISKMON_ALERT_API_TOKENS": "secret123"}, "TOKENS"),
        (["replay", str(events)], {"RISKMON_LANGUAGE": "de"}, "RISKMON_LANGUAGE"),
        (["demo", "--days", "0"], store, "--days"),
        (["alerts", "ingest", inputs["binary"]], store, "UTF-8"),
    ]
    processes = [
        (argv, fragment, subprocess.Popen(
            [riskmon, *argv],
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), **WIDE, **env},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ))
        for argv, env, fragment in cases
    ]  # fmt: skip
    failures = []
    for argv, fragment, process in processes:
        _out, err = process.communicate(timeout=120)
        result = {"code": process.returncode, "stderr": err, "escaped": ""}
        found = problems(result)
        if fragment not in err:
            found.append(f"expected {fragment!r} in {err!r}")
        failures += [f"riskmon {' '.join(argv)}: {p}" for p in found]
    assert not failures, "\n".join(failures)
