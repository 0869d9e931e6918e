"""The repository's docs cite only the repository, and their links resolve."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXT = (".py", ".md", ".yaml", ".yml", ".toml", ".cfg", ".txt")
SKIP = {".venv", ".git", "build", "out", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def repository_files() -> list[Path]:
    return [
        path
        for path in REPO.rglob("*")
        if path.is_file()
        and path.suffix in TEXT
        and not SKIP & set(path.relative_to(REPO).parts)
        and not any(part.endswith(".egg-info") for part in path.relative_to(REPO).parts)
    ]


def test_nothing_cites_a_design_document_outside_the_repository() -> None:
    pattern = re.compile(r"DESIGN\.md|\.\./shared|/work/shared")
    this = Path(__file__).resolve()
    citing = [
        str(path.relative_to(REPO))
        for path in repository_files()
        if path != this and pattern.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert citing == []


def test_relative_links_of_the_markdown_docs_resolve() -> None:
    link = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
    broken = []
    for doc in [
        REPO / "README.md",
        REPO / "CONTRIBUTING.md",
        *sorted((REPO / "docs").glob("*.md")),
    ]:
        for target in link.findall(doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.name}: {target}")
    assert broken == []


def test_the_architecture_document_and_the_license_exist() -> None:
    architecture = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    sections = ("## Data flow", "## Stages and timers", "## State", "## Where each part lives")
    for section in (*sections, "## Delivery guarantee: at least once"):
        assert section in architecture
    assert "Apache License" in (REPO / "LICENSE").read_text(encoding="utf-8")


def test_every_test_security_md_names_exists() -> None:
    """SECURITY.md names a test for each control: ``tests/x.py::name``, or ``::name`` for another
    test of the file named last."""
    text = (REPO / "SECURITY.md").read_text(encoding="utf-8")
    cited = re.compile(r"`(tests/[\w/]+\.py)(?:::(\w+))?|`::(\w+)")
    last: Path | None = None
    missing = []
    named = 0
    for match in cited.finditer(text):
        path, name, follow = match.groups()
        if path:
            last = REPO / path
            if not last.exists():
                missing.append(path)
                continue
        name = name or follow
        if name and last is not None:
            named += 1
            if f"def {name}(" not in last.read_text(encoding="utf-8"):
                missing.append(f"{last.relative_to(REPO)}::{name}")
    assert named > 20 and not missing, missing
