"""Package-wide checks: doctests run, ``__all__`` is complete, the error tree holds together."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import alerts
from alerts import errors
from monitor.errors import MonitorError


def modules() -> list[ModuleType]:
    found = []
    for info in pkgutil.walk_packages(alerts.__path__, "alerts."):
        if ".migrations" not in info.name:  # Alembic loads those itself, with its context
            found.append(importlib.import_module(info.name))
    return found


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_doctests_pass(module: ModuleType) -> None:
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


@pytest.mark.parametrize("module", modules(), ids=lambda m: m.__name__)
def test_every_name_in_all_exists(module: ModuleType) -> None:
    for name in getattr(module, "__all__", ()):
        assert hasattr(module, name), f"{module.__name__}.__all__ names missing {name!r}"


def test_every_error_is_a_monitor_error() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), MonitorError)


def test_migrations_ship_inside_the_package() -> None:
    from importlib.resources import files

    versions = files("alerts.store.migrations") / "versions"
    assert (files("alerts.store.migrations") / "env.py").is_file()
    assert any(entry.name.endswith("_initial.py") for entry in versions.iterdir())
