"""The shipped rule packs, loaded once per test session and shared (a RuleSet is immutable)."""

from __future__ import annotations

from functools import cache

from monitor.rules.loader import load_rules
from monitor.rules.ruleset import RuleSet


@cache
def shipped_rules() -> RuleSet:
    """``load_rules()``, once: what a test that needs the shipped packs as they are uses."""
    return load_rules()
