"""Shared pytest configuration and fixtures.

``tests`` is a package: helper modules are imported by their full name (``tests.alerts.alertkit``,
``tests.integration.prom_harness``). Fixture modules for real servers live beside this file and
are registered here, one line each.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from monitor.rules.ruleset import RuleSet
from tests.shipped import shipped_rules as _shipped_rules
from tests.templates import make_migrated_sqlite

pytest_plugins: list[str] = ["tests.fixtures_services", "tests.fixtures_kafka"]


def pytest_configure(config: pytest.Config) -> None:
    """Forget a terminal size inherited from whoever started pytest (pytest-xdist's workers get
    ``COLUMNS=80``): rich fixes the width of a console made at import time, as the CLI modules
    make theirs, to the ``COLUMNS`` it sees then, and would ignore the width a test sets."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def shipped_rules() -> RuleSet:
    """The shipped rule packs, loaded once per session."""
    return _shipped_rules()


@pytest.fixture(scope="session", autouse=True)
def shipped_password_hasher() -> Iterator[PasswordHasher]:
    """Tests hash passwords with argon2id at argon2-cffi's CHEAPEST cost; yields the shipped hasher.

    The shipped parameters (RFC 9106 low-memory: 64 MiB, 3 passes, 4 lanes) cost ~0.2 s of CPU a
    hash or a check, on purpose, and the suite adds users and signs in a few hundred times. The
    algorithm and every code path stay the same; only the cost drops. A test that needs the
    shipped hasher takes this fixture (tests/alerts/test_identity.py checks its parameters and
    signs in with it). Processes that tests start use the shipped hasher.
    """
    from alerts.store import identity

    shipped = identity._HASHER
    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(identity, "_HASHER", cheap)
        patch.setattr(identity, "_DUMMY_HASH", cheap.hash("riskmon-no-such-user"))
        yield shipped


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite alert store migrated to the newest schema once per session, to be copied with
    :func:`tests.templates.sqlite_copy` (migrating costs a few hundred milliseconds a database)."""
    return make_migrated_sqlite(tmp_path_factory.mktemp("store-template") / "alerts.db")
