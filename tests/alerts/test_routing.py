"""Route files: validation errors name the file and field; matching, languages and stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.errors import RouteConfigError
from alerts.routing import load_routes, parse_routes
from tests.alerts.alertkit import make_alert

ROUTES = """\
group_window_seconds: 120
routes:
  - name: store-everything
    sinks: [store]
    ignore_silences: true
    group: false
  - name: high-en
    match:
      severity: [high, critical]
      tags: [maturity_stable]
    language: en
    sinks: [alertmanager, webhook]
    stop: true
  - name: high-zh
    match:
      severity: [high, critical]
    language: zh-CN
    sinks: [webhook_zh]
  - name: never-after-stop
    sinks: [jsonl]
rate_limits:
  webhook: {rate_per_second: 0.5, burst: 3}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_loads(tmp_path: Path) -> None:
    config = load_routes(write(tmp_path, ROUTES))
    assert config.group_window_seconds == 120
    assert [route.name for route in config.routes][:2] == ["store-everything", "high-en"]
    assert config.rate_limits["webhook"].burst == 3
    assert config.sink_names() == {"store", "alertmanager", "webhook", "webhook_zh", "jsonl"}


def test_routes_apply_in_order_until_a_stopping_route(tmp_path: Path) -> None:
    config = load_routes(write(tmp_path, ROUTES))

    english = config.routes_for(make_alert(severity="high", language="en"))
    chinese = config.routes_for(make_alert(severity="critical", language="zh-CN"))
    low = config.routes_for(make_alert(severity="low"))
    untagged = config.routes_for(make_alert(severity="high", tags=()))

    assert [r.name for r in english] == ["store-everything", "high-en"]
    assert [r.name for r in chinese] == ["store-everything", "high-zh", "never-after-stop"]
    assert [r.name for r in low] == ["store-everything", "never-after-stop"]
    assert [r.name for r in untagged] == ["store-everything", "never-after-stop"]


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("routes:\n  - name: a\n    sinks: [s]\n    match: {severity: [urgent]}\n",
         "routes.0.match.severity.0", "Input should be"),
        ("routes:\n  - name: a\n    sinks: []\n", "routes.0.sinks", "at least 1"),
        ("routes:\n  - name: a\n    sinks: [s]\n    language: fr\n", "routes.0.language", "Input"),
        ("routes:\n  - name: a\n    sinks: [s]\n    colour: red\n", "routes.0.colour", "Extra"),
        ("routes: []\n", "routes", "at least 1"),
        ("routes:\n  - {name: a, sinks: [s]}\n  - {name: a, sinks: [t]}\n", None, "repeated: a"),
    ],
)  # fmt: skip
def test_invalid_files_name_the_file_and_field(
    tmp_path: Path, text: str, field: str | None, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RouteConfigError, match=problem) as raised:
        load_routes(path)
    assert raised.value.file == str(path)
    assert raised.value.field == field
    assert str(raised.value).startswith(str(path))


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "routes:\n  - name: [unclosed\n")
    with pytest.raises(RouteConfigError, match=r"line \d+: invalid YAML"):
        load_routes(path)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RouteConfigError, match="cannot read"):
        load_routes(tmp_path / "absent.yaml")


def test_unknown_sinks_are_reported_with_their_field() -> None:
    config = parse_routes({"routes": [{"name": "a", "sinks": ["store", "pager"]}]}, file="r.yaml")
    with pytest.raises(RouteConfigError, match=r"^r\.yaml: routes\.0\.sinks\.1: unknown sink"):
        config.check_sinks(["store"], file="r.yaml")
    limited = parse_routes(
        {
            "routes": [{"name": "a", "sinks": ["store"]}],
            "rate_limits": {"x": {"rate_per_second": 1, "burst": 1}},
        }
    )
    with pytest.raises(RouteConfigError, match=r"rate_limits\.x"):
        limited.check_sinks(["store"])
