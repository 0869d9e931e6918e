"""Static checks of docker-compose.yml, the Dockerfile and deploy/ (no Docker needed).

What cannot drift silently: RISKMON_* names against :class:`riskmon.settings.Settings`, the metrics
port against Prometheus's scrape targets, mounted files against the repository, the commands the
images run against the real CLI, and the Grafana datasource uid against the dashboards.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from riskmon.cli import app
from riskmon.settings import Settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
RISKMON_VAR = re.compile(r"\bRISKMON_[A-Z0-9_]+")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and data["services"]
    return data


def services(compose: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from compose["services"].items()


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # the KEY=VALUE list form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def dockerfile_env() -> dict[str, str]:
    """``ENV`` of the Dockerfile (``KEY=VALUE`` pairs, backslash continuations joined)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def riskmon_services(compose: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, svc)
        for name, svc in services(compose)
        if "build" in svc or str(svc.get("image", "")).startswith("riskmon")
    ]


def test_every_service_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, service in services(compose):
        assert "image" in service or "build" in service, name
    assert {"kafka", "kafka-init", "prometheus", "alertmanager", "grafana"} <= set(
        compose["services"]
    )
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert len([n for n, s in services(compose) if "worker" in s.get("command", [])]) >= 1


def test_every_riskmon_variable_is_a_setting(compose: dict[str, Any]) -> None:
    prefix = Settings.model_config.get("env_prefix")
    assert prefix == "RISKMON_"
    fields = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    used = set(RISKMON_VAR.findall(COMPOSE.read_text(encoding="utf-8")))
    used |= set(RISKMON_VAR.findall(DOCKERFILE.read_text(encoding="utf-8")))
    assert used, "compose sets no RISKMON_* variable"
    assert used <= fields, f"not settings: {sorted(used - fields)}"


def test_compose_values_are_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for _name, service in riskmon_services(compose):
        for key in list(Settings.model_fields):
            monkeypatch.delenv(f"RISKMON_{key.upper()}", raising=False)
        for key, value in {**dockerfile_env(), **environment(service)}.items():
            monkeypatch.setenv(key, value)
        Settings()  # raises on a value of the wrong type


def test_prometheus_scrapes_the_worker_metrics_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["riskmon-worker"]["static_configs"] for t in sc["targets"]]
    workers = {name: svc for name, svc in services(compose) if "worker" in svc.get("command", [])}
    assert {t.split(":")[0] for t in targets} == set(workers)
    for name, service in workers.items():
        port = {**dockerfile_env(), **environment(service)}["RISKMON_METRICS_PORT"]
        assert f"{name}:{port}" in targets
        addr = {**dockerfile_env(), **environment(service)}["RISKMON_METRICS_ADDR"]
        assert addr == "0.0.0.0", "Prometheus in another container cannot reach 127.0.0.1"
    alerting = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == ["alertmanager:9093"]


def test_prometheus_scrapes_the_dispatcher_metrics_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = [t for sc in jobs["riskmon-dispatch"]["static_configs"] for t in sc["targets"]]
    dispatchers = {n: s for n, s in services(compose) if "dispatch" in s.get("command", [])}
    assert list(dispatchers) == ["dispatch"]
    env = {**dockerfile_env(), **environment(dispatchers["dispatch"])}
    assert targets == [f"dispatch:{env['RISKMON_METRICS_PORT']}"]
    assert env["RISKMON_METRICS_ADDR"] == "0.0.0.0"
    # The shipped sink rules select riskmon jobs, the dispatcher's included.
    assert re.fullmatch("riskmon.*", "riskmon-dispatch")


def test_mounted_files_exist_and_rules_are_loaded(compose: dict[str, Any]) -> None:
    mounts: dict[str, Path] = {}
    for name, service in services(compose):
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} is missing"
                mounts[target] = REPO / source
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    for pattern in config["rule_files"]:
        loaded = [t for t in mounts if Path(t).match(pattern)]
        assert loaded, f"no mounted file matches rule_files {pattern}"
    assert mounts["/etc/prometheus/prometheus.yml"] == PROMETHEUS


def test_grafana_provisioning_matches_the_dashboards(compose: dict[str, Any]) -> None:
    volumes = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    dashboards_dir = {t: s for s, t in volumes.items()}
    provisioning = REPO / "deploy" / "grafana" / "provisioning"
    provider = yaml.safe_load((provisioning / "dashboards" / "riskmon.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert (REPO / dashboards_dir[path]).resolve() == REPO / "deploy" / "grafana" / "dashboards"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    uids = {d["uid"] for d in source["datasources"]}
    files = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
    assert len(files) >= 2
    for file in files:
        board = json.loads(file.read_text(encoding="utf-8"))
        names = {v["name"] for v in board["templating"]["list"]}
        assert "instance" in names, file.name
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] in uids, (file.name, panel["title"])


def _cli_command(argv: list[str]) -> None:
    """Resolve ``argv`` (without the program name) through the Typer app; fail if unknown."""
    command: Any = typer.main.get_command(app)  # typer vendors its own click: duck-type groups
    words = list(argv)
    while hasattr(command, "commands") and words:
        name = words.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"riskmon has no command {name!r}"
        command = sub
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for word in words:
        if word.startswith("--"):
            assert word.split("=")[0] in options, f"{command.name} has no option {word}"


def test_the_images_run_existing_cli_commands(compose: dict[str, Any]) -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    entry = json.loads(re.search(r"^ENTRYPOINT (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (.+)$", text, re.M).group(1))  # type: ignore[union-attr]
    assert entry == ["riskmon"]
    _cli_command(cmd)
    for _name, service in riskmon_services(compose):
        command = service.get("command", [])
        if service.get("entrypoint") is None:
            _cli_command(list(command))
            continue
        for line in command:  # a shell script: check every `riskmon ...` call in it
            for call in re.findall(r"riskmon [^&|;]+", line):
                _cli_command(shlex.split(call)[1:])


def test_metrics_port_is_a_setting() -> None:
    assert Settings(metrics_port=9400).metrics_port == 9400
    assert Settings().metrics_addr == "127.0.0.1"
