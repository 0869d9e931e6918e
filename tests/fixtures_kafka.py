"""pytest plugin: a real Apache Kafka broker for the streaming tests.

``kafka_bootstrap`` (session) is the bootstrap string. With ``RISKMON_KAFKA_BOOTSTRAP`` set,
that Kafka is used as is, after a check that it answers. Otherwise ``tools/kafka_broker.py``
fetches and starts the project's own broker on 127.0.0.1 (or reuses a running one).

A broker that cannot be reached or started fails the test (``pytest.fail``); it never skips,
because CI treats a missing broker as a failure.

Lifetime: the session takes a lease on the broker. A broker started by a test session is
stopped when the last session holding a lease ends, so concurrent sessions share it safely; one
started by ``make kafka-up`` / ``kafka_broker.py start`` is left running. Set
``RISKMON_KAFKA_KEEP=1`` to leave a broker the tests start running for the next session.
A broker the tests start keeps its data in ``$RISKMON_CACHE/kafka/test`` and starts it empty.

Topics: ``kafka_topic_name`` is a fresh name per test; ``make_kafka_topic(partitions)``
creates one and returns its name.

``secure_broker`` (session) is a second broker of this session's own, on free ports, with a
SASL_SSL listener beside PLAINTEXT: for the TLS/SASL tests and for chaos that stops the broker.
"""

import dataclasses
import importlib.util
import os
import re
import secrets
import socket
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

_TOOL_PATH = Path(__file__).resolve().parents[1] / "tools" / "kafka_broker.py"


def _load_broker_tool() -> ModuleType:
    """Import tools/kafka_broker.py by path: tools/ is a folder of scripts, not a package."""
    for name in ("kafka_broker", "tools.kafka_broker"):  # already imported one way or the other
        if (existing := sys.modules.get(name)) is not None:
            return existing
    spec = importlib.util.spec_from_file_location("kafka_broker", _TOOL_PATH)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {_TOOL_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["kafka_broker"] = module  # dataclasses look their module up while executing
    spec.loader.exec_module(module)
    return module


broker_tool = _load_broker_tool()


def unique_topic_name(label: str = "topic") -> str:
    """A topic name no other test or run uses: ``t-<label>-<8 hex>``, Kafka-legal, lower case.

    >>> name = unique_topic_name("test_round_trip[aiokafka]")
    >>> name.startswith("t-test-round-trip-aiokafka-"), len(name)
    (True, 35)
    """
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:60] or "topic"
    return f"t-{slug}-{uuid.uuid4().hex[:8]}"


def _session_broker_config() -> tuple[Any, bool]:
    """The broker a test session uses, and whether a start should begin with empty data.

    A broker already running in the default data dir (``make kafka-up``) is reused. Otherwise the
    tests use a data dir of their own, ``$RISKMON_CACHE/kafka/test``, emptied whenever a session
    starts its broker: test topics are throwaway, and a cache that kept every run's partitions
    (thousands of them) makes a start take minutes. ``RISKMON_KAFKA_DATA_DIR`` is used as given.
    """
    config = broker_tool.BrokerConfig.from_env()
    if os.environ.get("RISKMON_KAFKA_DATA_DIR", "").strip() or broker_tool.status(config).running:
        return config, False
    test_dir = config.cache_dir / "kafka" / "test"
    return broker_tool.BrokerConfig.from_env(run_dir=test_dir), True


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real, answering Kafka broker."""
    external = os.environ.get("RISKMON_KAFKA_BOOTSTRAP", "").strip()
    if external:
        try:
            broker_tool.wait_until_ready(external, timeout=30.0)
        except broker_tool.BrokerError as exc:
            failure = f"RISKMON_KAFKA_BOOTSTRAP={external} is not usable: {exc}"
        else:
            failure = ""
        if failure:  # failed outside the except block, so the report is one clean message
            pytest.fail(failure, pytrace=False)
        yield external
        return
    keep = os.environ.get("RISKMON_KAFKA_KEEP", "") not in ("", "0")
    lease_pid = None if keep else os.getpid()
    try:
        config, fresh = _session_broker_config()
        info = broker_tool.ensure_started(config, lease_pid=lease_pid, fresh=fresh)
    except broker_tool.BrokerError as exc:
        failure = f"could not start the Kafka broker with tools/kafka_broker.py: {exc}"
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield info.bootstrap
    finally:
        if lease_pid is not None:
            broker_tool.release(config, lease_pid)


@pytest.fixture
def kafka_topic_name(request: pytest.FixtureRequest) -> str:
    """A unique topic name for this test; the broker auto-creates it with one partition."""
    return unique_topic_name(request.node.name)


@pytest.fixture
def make_kafka_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Callable[..., str]:
    """``make_kafka_topic(partitions=1)`` creates a fresh topic, waits for leaders, returns it."""

    def make(partitions: int = 1) -> str:
        name = unique_topic_name(request.node.name)
        broker_tool.create_topics(kafka_bootstrap, {name: partitions})
        return name

    return make


@dataclass(frozen=True)
class SecureBroker:
    """A second broker on free ports: PLAINTEXT, plus SASL_SSL (PLAIN and SCRAM-SHA-512)."""

    config: Any  # kafka_broker.BrokerConfig
    user: str
    password: str = field(repr=False)

    @property
    def plaintext(self) -> str:
        return str(self.config.bootstrap)

    @property
    def sasl_ssl(self) -> str:
        return str(self.config.sasl_bootstrap)

    @property
    def ca_file(self) -> Path:
        return Path(self.config.ca_file)

    def client_env(self, mechanism: str = "SCRAM-SHA-512", password: str | None = None) -> dict:
        """``RISKMON_*`` settings of a riskmon client connecting over SASL_SSL."""
        return {
            "RISKMON_KAFKA_BOOTSTRAP": self.sasl_ssl,
            "RISKMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "RISKMON_KAFKA_SSL_CAFILE": str(self.ca_file),
            "RISKMON_KAFKA_SASL_MECHANISM": mechanism,
            "RISKMON_KAFKA_SASL_USERNAME": self.user,
            "RISKMON_KAFKA_SASL_PASSWORD": self.password if password is None else password,
        }

    def stop(self) -> None:
        broker_tool.stop(self.config)

    def start(self) -> None:
        broker_tool.ensure_started(self.config, lease_pid=os.getpid())


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture(scope="session")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A broker of its own (never the shared one), for TLS/SASL tests and broker restarts.

    Its CA and certificate are made by ``tools/kafka_broker.py``; its one user has a random
    password. It is stopped at the end of the session (its lease is this process).
    """
    port, controller, sasl = free_ports(3)
    password = secrets.token_urlsafe(16)
    try:
        config = broker_tool.BrokerConfig.from_env(
            port=port, controller_port=controller, run_dir=tmp_path_factory.mktemp("secure-kafka")
        )
        config = dataclasses.replace(config, sasl_port=sasl, sasl_users=(("riskmon", password),))
        broker_tool.ensure_started(config, lease_pid=os.getpid())
    except broker_tool.BrokerError as exc:
        failure = f"could not start the SASL_SSL broker with tools/kafka_broker.py: {exc}"
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield SecureBroker(config, "riskmon", password)
    finally:
        broker_tool.release(config, os.getpid())
