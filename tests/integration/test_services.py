"""The real Prometheus, Alertmanager and PostgreSQL servers started by tools/services.py."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from tests.fixtures_services import PrometheusFactory
from tools import services
from tools.services import ServerHandle

pytestmark = pytest.mark.services

T = TypeVar("T")

RULES = """\
groups:
  - name: riskmon_selftest
    rules:
      - alert: RiskmonSelftestEventsSeen
        expr: riskmon_selftest_events_total > 0
        labels:
          category: selftest
        annotations:
          summary: The services self-test exporter counted events.
"""


@dataclass
class Exporter:
    """A prometheus_client HTTP exporter in this process, on its own registry."""

    address: str
    events: Counter


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    registry = CollectorRegistry()
    events = Counter(
        "riskmon_selftest_events", "Events counted by the services self-test.", registry=registry
    )
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield Exporter(f"127.0.0.1:{server.server_port}", events)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post_json(url: str, body: object) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Return the first truthy result of `probe`, polled until `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing after {timeout} s")
        time.sleep(0.2)
    return result


def query(prometheus: ServerHandle, promql: str) -> list[dict[str, Any]]:
    url = f"{prometheus.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    answer = get_json(url)
    assert answer["status"] == "success"
    return list(answer["data"]["result"])


def alerts(alertmanager: ServerHandle, **labels: str) -> list[dict[str, Any]]:
    matchers = [("filter", f'{name}="{value}"') for name, value in labels.items()]
    return list(get_json(f"{alertmanager.url}/api/v2/alerts?{urllib.parse.urlencode(matchers)}"))


@pytest.mark.slow  # Prometheus applies new targets on a 5 s tick
def test_prometheus_scrapes_a_counter_from_a_real_exporter(
    prometheus_factory: PrometheusFactory, exporter: Exporter
) -> None:
    exporter.events.inc(3)
    prometheus = prometheus_factory([exporter.address])

    series = wait_for(lambda: query(prometheus, "riskmon_selftest_events_total"))

    assert series[0]["metric"]["instance"] == exporter.address
    assert series[0]["metric"]["job"] == "riskmon"
    assert float(series[0]["value"][1]) == 3.0


def test_alertmanager_lists_a_posted_alert(alertmanager: ServerHandle) -> None:
    test_id = uuid.uuid4().hex
    labels = {"alertname": "RiskmonSelftest", "category": "selftest", "test_id": test_id}

    status = post_json(f"{alertmanager.url}/api/v2/alerts", [{"labels": labels}])
    listed = alerts(alertmanager, test_id=test_id)

    assert status == 200
    assert [alert["labels"] for alert in listed] == [labels]


def test_postgres_answers_a_query(postgres_url: str) -> None:
    psql = [services.postgres_binary("psql"), "-X", "-tA", "-v", "ON_ERROR_STOP=1"]
    sql = "select current_user, current_database(), 6 * 7"

    done = subprocess.run([*psql, postgres_url, "-c", sql], capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "riskmon|riskmon_test|42"
    assert postgres_url.startswith("postgresql://riskmon@127.0.0.1:")


def test_promtool_check_metrics_accepts_a_real_scrape(promtool: str, exporter: Exporter) -> None:
    exporter.events.inc()
    with urllib.request.urlopen(f"http://{exporter.address}/metrics", timeout=10) as response:
        scrape = response.read()

    done = subprocess.run([promtool, "check", "metrics"], input=scrape, capture_output=True)

    assert b"riskmon_selftest_events_total 1.0" in scrape
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_a_rule_fires_in_prometheus_and_reaches_alertmanager(
    prometheus_factory: PrometheusFactory,
    alertmanager: ServerHandle,
    promtool: str,
    exporter: Exporter,
    tmp_path: Path,
) -> None:
    rules = tmp_path / "selftest.rules.yml"
    rules.write_text(RULES)
    checked = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exporter.events.inc()

    prometheus_factory([exporter.address], [rules], alertmanager=alertmanager.address)
    fired = wait_for(lambda: alerts(alertmanager, alertname="RiskmonSelftestEventsSeen"))

    assert fired[0]["labels"]["category"] == "selftest"
    assert fired[0]["labels"]["instance"] == exporter.address


def test_stop_ends_the_server_and_removes_its_temp_dir(
    prometheus_factory: PrometheusFactory,
) -> None:
    prometheus = prometheus_factory([])

    prometheus.stop()
    prometheus.stop()

    assert prometheus.process.poll() is not None
    assert not prometheus.workdir.exists()


def test_install_is_a_no_op_once_everything_is_present(
    promtool: str, alertmanager: ServerHandle, postgres_url: str
) -> None:
    assert services.missing_packages() == []
    assert services.install(dry_run=True) == []
