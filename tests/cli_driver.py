"""Runs many ``riskmon`` command lines in ONE fresh process (for tests/test_cli_errors.py).

Each case is ``{"argv": [...], "env": {...}}`` (one JSON object per line on stdin). For each, the
``RISKMON_*`` environment is replaced by the case's, ``riskmon.cli.main`` runs with stdout and
stderr captured, and one JSON line goes to stdout: the exit code, the captured stderr, and the
traceback text if anything escaped ``main`` (which is exactly what must never happen).

One process instead of one per case: ~100 command lines cost one interpreter start-up.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import traceback


def run_case(argv: list[str], env: dict[str, str]) -> dict[str, object]:
    from riskmon.cli import main

    for name in [n for n in os.environ if n.startswith("RISKMON_")]:
        del os.environ[name]
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    code: object = 0
    escaped = ""
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:  # what the test must never see
            escaped = traceback.format_exc()
            code = -1
    seconds = round(time.perf_counter() - started, 2)
    return {
        "argv": argv,
        "code": code,
        "stderr": err.getvalue(),
        "escaped": escaped,
        "seconds": seconds,
    }


def main() -> None:
    real_stdout = sys.stdout
    for line in sys.stdin:
        if line.strip():
            case = json.loads(line)
            result = run_case(case["argv"], case["env"])
            real_stdout.write(json.dumps(result) + "\n")
            real_stdout.flush()


if __name__ == "__main__":
    main()
