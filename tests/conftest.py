"""Shared pytest configuration and fixtures.

``tests`` is a package: helper modules are imported by their full name (``tests.alerts.alertkit``,
``tests.integration.prom_harness``). Fixture modules for real servers live beside this file and
are registered here, one line each.
"""

from __future__ import annotations

import pytest

from monitor.rules.ruleset import RuleSet
from tests.shipped import shipped_rules as _shipped_rules

pytest_plugins: list[str] = ["tests.fixtures_services", "tests.fixtures_kafka"]


@pytest.fixture(scope="session")
def shipped_rules() -> RuleSet:
    """The shipped rule packs, loaded once per session."""
    return _shipped_rules()
