"""Hostile rule files (issue 11, item 4): refused within fixed time and memory, nothing executed.

Whoever can edit a rule file is not necessarily whoever runs riskmon. Each hostile file is tried
through the real ``riskmon rules validate`` process, with a timeout and a memory limit that the
test sets itself, so a hang or an explosion fails the test rather than the machine.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path
from textwrap import dedent

import pytest

from monitor.errors import RulePackError
from monitor.rules.loader import load_rules
from monitor.rules.source import MAX_DEPTH, MAX_RULE_FILE_BYTES, parse_rule_text

BILLION_LAUGHS = dedent(
    """\
    - lol0: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    - lol1: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    - lol2: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    - lol3: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    - lol4: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    - lol5: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    - lol6: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    - lol7: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    - lol8: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
    - rule: *i
    """
)

TIME_LIMIT = 60.0  # seconds for one `riskmon rules validate`; refusals take about one
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space of the validating process


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def validate_all(paths: list[Path]) -> list[tuple[int, str, float]]:
    """``riskmon rules validate path``, one process per path, in parallel: code, stderr, seconds."""
    began = time.monotonic()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "riskmon.cli", "rules", "validate", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_limit_memory,
            env={"PATH": "/usr/bin:/bin", "COLUMNS": "400"},
            cwd=path.parent,
        )
        for path in paths
    ]
    results = []
    try:
        for process in processes:
            # A hang raises TimeoutExpired: the test fails (and the finally kills the rest).
            _out, err = process.communicate(
                timeout=max(1.0, TIME_LIMIT - (time.monotonic() - began))
            )
            results.append((process.returncode, err, time.monotonic() - began))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


HOSTILE = {
    "billion_laughs": (BILLION_LAUGHS, "YAML anchors (&a) are not allowed"),
    "alias_only": ("- list: a\n  items: *x\n", "YAML aliases (*x) are not allowed"),
    "anchor_only": ("- list: a\n  items: &x [1]\n", "anchors"),
    "merge_key": ("- &base {list: a}\n- <<: *base\n", "anchors"),
    "python_object_apply": (
        '- !!python/object/apply:os.system ["touch PWNED"]\n',
        "tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed",
    ),
    "python_name": ("- list: !!python/name:os.system\n", "python/name:os.system"),
    "python_module": ("- !!python/module:os {}\n", "python/module:os"),
    "include": ("- !include /etc/passwd\n", "tag '!include' is not allowed"),
    "binary_tag": ("- list: x\n  items: [!!binary aGVsbG8=]\n", "binary"),
    "set_tag": ("- !!set {a, b}\n", "tag:yaml.org,2002:set"),
    "complex_key": ("- ? [a, b]\n  : c\n", "a key must be a plain value"),
    "deep_nesting": ("- " + "[" * 5000 + "]" * 5000 + "\n", f"deeper than {MAX_DEPTH}"),
    "bad_timestamp": ("- list: x\n  items: [2026-13-45]\n", "invalid value '2026-13-45'"),
    "regex_operator": (
        # no condition operator compiles a pattern; an attempt is an unknown operator
        "- macro: user_known_large_transfer_exceptions\n"
        "  condition: {field: branch_id, matches: '(a+)+$'}\n",
        "matches",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_refused_in_process(name: str) -> None:
    text, fragment = HOSTILE[name]
    with pytest.raises(RulePackError) as info:
        if name == "regex_operator":  # a well-formed file; the loader refuses the operator
            from monitor.rules.loader import load_rule_texts, shipped_pack_texts

            load_rule_texts([*shipped_pack_texts(), ("evil.yaml", text)])
        else:
            parse_rule_text(text, "evil.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("evil.yaml")


@pytest.mark.slow
def test_hostile_files_end_quickly_through_the_cli(tmp_path: Path) -> None:
    """Billion laughs, a 10 MB file, code execution: one error line each, fast, no side effect."""
    files = {}
    for name in ("billion_laughs", "python_object_apply", "deep_nesting", "include"):
        files[name] = tmp_path / f"{name}.yaml"
        files[name].write_text(HOSTILE[name][0], encoding="utf-8")
    huge = tmp_path / "huge.yaml"
    huge.write_text("- list: big\n  items:\n" + "    - item\n" * 1_000_000, encoding="utf-8")
    assert huge.stat().st_size > 10_000_000
    files["huge"] = huge
    results = validate_all(list(files.values()))
    for (name, path), (code, err, seconds) in zip(files.items(), results, strict=True):
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2, (name, err)
        assert len(lines) == 1 and "Traceback" not in err, (name, err)
        assert str(path) in lines[0], (name, err)
        assert seconds < TIME_LIMIT
    assert "limit for rule files" in results[-1][1]
    assert not (tmp_path / "PWNED").exists()  # os.system never ran


def test_the_size_limit_is_checked_before_parsing() -> None:
    text = "# " + "x" * MAX_RULE_FILE_BYTES + "\n"
    with pytest.raises(RulePackError, match="limit for rule files"):
        parse_rule_text(text, "big.yaml")


def test_shipped_packs_still_load_under_the_limits() -> None:
    assert load_rules().rules  # no alias, tag or depth in the shipped packs trips a limit
