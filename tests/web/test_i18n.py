"""The workspace's page text: every key a template uses exists, in English and in Chinese."""

from __future__ import annotations

import re
from pathlib import Path

from alerts.web import i18n

TEMPLATES = Path(i18n.__file__).parent / "templates"
HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_text_a_template_asks_for_exists() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+)["']""", template.read_text("utf-8")))
    assert used, "the templates use the text table"
    assert used <= i18n._TEXT.keys(), f"missing: {sorted(used - i18n._TEXT.keys())}"


def test_every_chinese_text_is_chinese() -> None:
    for key, (english, chinese) in i18n._TEXT.items():
        if key == "language":  # the switch names the other language
            continue
        assert HAN.search(chinese), f"{key}: {chinese!r}"
        assert chinese != english, key
    for kind, values in i18n._VALUES.items():
        for code, (_, chinese) in values.items():
            assert HAN.search(chinese), f"{kind}.{code}: {chinese!r}"


def test_every_value_a_template_names_has_its_kind() -> None:
    kinds = set()
    for template in TEMPLATES.glob("*.html"):
        kinds |= set(re.findall(r"""t\.value\(\s*["']([a-z_]+)["']""", template.read_text("utf-8")))
    assert kinds <= i18n._VALUES.keys() | {"severity", "status", "category", "reason"}
    assert {"status", "severity", "category", "reason", "role", "outcome"} <= i18n._VALUES.keys()
