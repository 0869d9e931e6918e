"""The chaos suite prints its table of figures at the end of the session, one line a scenario."""

from __future__ import annotations

from typing import Any

from tests.chaos.chaos_harness import FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
