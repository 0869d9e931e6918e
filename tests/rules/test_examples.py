"""Every shipped rule's own examples hold, run through the real engine."""

from __future__ import annotations

import pytest

from monitor.rule_examples import run_example
from tests.shipped import shipped_rules

RULESET = shipped_rules()
CASES = [
    pytest.param(rule.id, index, example, id=f"{rule.id}[{index}]")
    for rule in RULESET.rules
    for index, example in enumerate(RULESET.specs[rule.id].examples)
]


def test_every_shipped_rule_has_matching_and_non_matching_examples() -> None:
    for rule in RULESET.rules:
        examples = RULESET.specs[rule.id].examples
        assert any(e.expect for e in examples), f"{rule.id} has no example that must match"
        assert any(not e.expect for e in examples), f"{rule.id} has no example that must not match"


@pytest.mark.parametrize(("rule_id", "index", "example"), CASES)
def test_rule_example(rule_id: str, index: int, example: object) -> None:
    from monitor.rules.schema import Example

    assert isinstance(example, Example)
    result = run_example(RULESET, rule_id, index, example)
    assert result.passed, result.detail


def test_shipped_rules_cover_the_four_controls() -> None:
    categories = {rule.meta.category for rule in RULESET.rules}
    assert categories == {"large_transfer", "structuring", "dual_review", "after_hours"}
    kinds = {RULESET.specs[r.id].kind for r in RULESET.rules}
    assert kinds == {"condition", "aggregate", "sequence", "schedule"}
