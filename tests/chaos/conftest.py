"""The chaos suite prints its table of figures at the end of the session, one line a scenario."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chaos.chaos_harness import FIGURES


@pytest.fixture(autouse=True)
def _collect_client_sockets() -> Iterator[None]:
    """Faults make kafka-python connects fail, and it leaves those sockets to the garbage
    collector. Collect them after each scenario, where they were made, instead of letting their
    ResourceWarning fail whichever later test the collector happens to run in."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("chaos figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
