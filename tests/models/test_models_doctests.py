"""The docstring examples of the model modules run as tests."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "monitor.models.evaluation",
    "monitor.models.evidence",
    "monitor.models.explain",
    "monitor.models.histogram",
    "monitor.models.hst",
    "monitor.models.quantile",
    "monitor.models.tails",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0
    assert result.attempted > 0
