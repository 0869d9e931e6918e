"""Fuzzing the rule loader (issue 11, item 6): random YAML structures and random text.

A rule file may only load (a :class:`RuleSet`) or be refused with a :class:`RulePackError` that
names the file. ``RISKMON_FUZZ_EXAMPLES`` raises the example count for a long run.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import RulePackError
from monitor.rules.loader import load_rule_texts, shipped_pack_texts
from monitor.rules.source import parse_rule_text

EXAMPLES = int(os.environ.get("RISKMON_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SHIPPED = shipped_pack_texts()

# The rule vocabulary, so that random structures get past the first key check often enough to
# reach the condition compiler, thresholds, templates and examples.
KEYS = [
    "rule", "id", "desc", "kind", "category", "entity", "condition", "threshold", "output",
    "severity", "tags", "enabled", "examples", "events", "expect", "macro", "list", "items",
    "override", "pack", "version", "currency_table", "base", "rates", "all", "any", "not",
    "field", "eq", "in", "gte", "startswith", "exists", "window", "group_by", "en", "zh-CN",
    "CNY", "USD", "large_cash_single", "is_cash", "amount", "channel", "append",
]  # fmt: skip
VALUES = [
    "condition", "aggregate", "sequence", "schedule", "transaction", "account", "operator",
    "large_transfer", "high", "counter", "1.0.0", "{amount}", "{nope", "default", "CNY",
]  # fmt: skip
scalars = (
    st.sampled_from(VALUES)
    | st.text(max_size=12)
    | st.integers(min_value=-(10**6), max_value=10**6)
    | st.floats(allow_nan=True)
    | st.booleans()
    | st.none()
)
structures = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=25,
)
items = st.lists(
    st.dictionaries(st.sampled_from(KEYS), structures, min_size=1, max_size=8), max_size=4
)


def load(text: str, shipped: bool = False) -> None:
    """Load ``text`` (after the shipped packs if asked); only a rule set or a RulePackError."""
    try:
        ruleset = load_rule_texts([*(SHIPPED if shipped else []), ("fuzz.yaml", text)])
    except RulePackError as exc:
        assert "fuzz.yaml" in str(exc) or "monitor/rules/packs" in str(exc), exc
    else:
        assert ruleset.pack_hash


@pytest.mark.slow
@FUZZ
@given(items)
def test_random_rule_structures_load_or_fail_cleanly(data: list[dict[str, Any]]) -> None:
    load(yaml.safe_dump(data, allow_unicode=True))


# Loading the shipped packs takes ~0.3 s, so overrides of shipped rules get fewer examples.
@pytest.mark.slow
@settings(FUZZ, max_examples=max(10, EXAMPLES // 10))
@given(items.map(lambda xs: [{"override": "large_cash_single", **x} for x in xs]))
def test_random_overrides_of_a_shipped_rule(data: list[dict[str, Any]]) -> None:
    load(yaml.safe_dump(data, allow_unicode=True), shipped=True)


@FUZZ
@given(structures)
def test_random_top_level_documents(data: Any) -> None:
    load(yaml.safe_dump(data, allow_unicode=True))


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    try:
        parse_rule_text(text, "fuzz.yaml")
    except RulePackError as exc:
        assert str(exc).startswith("fuzz.yaml")


@FUZZ
@given(st.lists(st.sampled_from([
    "- ", "rule: ", "&a ", "*a", "!!python/object ", "[", "]", "{", "}", ": ", "\n", "  ",
    "? ", "<<: ", "'", '"', "#", "|", ">", "---\n", "...\n", "%YAML 1.1\n", "!x ", "2026-01-01",
    "\t", ",", "-1e9", ".nan", "~",
]), max_size=60).map("".join))  # fmt: skip
def test_yaml_syntax_soup(text: str) -> None:
    try:
        parse_rule_text(text, "fuzz.yaml")
    except RulePackError as exc:
        assert str(exc).startswith("fuzz.yaml")


def test_found_by_fuzzing_an_override_of_a_list_is_a_clean_error() -> None:
    """``- override: []`` raised TypeError (unhashable list) inside the loader."""
    try:
        load_rule_texts([("fuzz.yaml", "- override: []\n")])
    except RulePackError as exc:
        assert "override of unknown rule []" in str(exc)
    else:
        raise AssertionError("an override of [] loaded")
