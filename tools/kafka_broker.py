#!/usr/bin/env python3
"""Fetch, start and stop a real single-node Apache Kafka 4.x broker (KRaft) on 127.0.0.1.

Stdlib only, so it runs before the virtualenv exists; the Kafka protocol calls it needs
(ApiVersions, Metadata v4, CreateTopics v4) are spoken over a plain socket.

Usage::

    python tools/kafka_broker.py fetch                     # jars from Maven Central, cached once
    python tools/kafka_broker.py start                     # prints the bootstrap servers when ready
    python tools/kafka_broker.py status
    python tools/kafka_broker.py create-topics payments:6 alerts:1
    python tools/kafka_broker.py stop [--wipe]

Environment, read once by `BrokerConfig.from_env` (flags override it):

- ``RISKMON_CACHE``: cache root, default ``~/.cache/riskmon``.
- ``RISKMON_KAFKA_VERSION``: ``org.apache.kafka:kafka_2.13`` version, default ``4.1.1``.
- ``RISKMON_KAFKA_PORT`` / ``RISKMON_KAFKA_CONTROLLER_PORT``: default 19092 / port + 1.
- ``RISKMON_KAFKA_DATA_DIR``: data, logs and pid file, default ``$RISKMON_CACHE/kafka/run``.
- ``RISKMON_KAFKA_HEAP``: JVM max heap, default ``512m``.
- ``RISKMON_KAFKA_SASL_PORT``: also listen for SASL_SSL (TLS with SASL PLAIN and SCRAM-SHA-512)
  on this port. The tool makes a CA and a broker certificate for 127.0.0.1 in ``<data>/tls``
  (``ca.pem`` is what clients trust) with ``openssl``, and creates the users of
  ``RISKMON_KAFKA_SASL_USERS`` (``name:password,...``) for both mechanisms when it formats
  the data dir.

Brokers started with a ``lease_pid`` (the pytest fixture does this) are stopped by `release`
when the last live lease goes; brokers started from the command line run until ``stop``. A
detached reaper (``kafka_broker.py reap``) watches the leases of such a broker, so it is stopped
even when every session holding a lease was killed before it could release it.

Errors::

    BrokerError
    ├── BrokerFetchError      Maven missing, or Maven Central unreachable
    ├── BrokerStartError      java missing, port taken, broker died or never became ready
    ├── BrokerProtocolError   the peer does not speak the protocol versions used here
    └── TopicMismatchError    a topic exists with another partition count
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_VERSION = "4.1.1"
DEFAULT_PORT = 19092
HOST = "127.0.0.1"
CLIENT_ID = "riskmon-kafka-broker"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
ERROR_TOPIC_ALREADY_EXISTS = 36


class BrokerError(Exception):
    """Base class for everything this tool reports."""


class BrokerFetchError(BrokerError):
    """The Kafka jars could not be fetched from Maven Central."""


class BrokerStartError(BrokerError):
    """The broker could not be started or did not become ready."""


class BrokerProtocolError(BrokerError):
    """The peer answered, but not with the Kafka protocol versions this tool speaks."""


class TopicMismatchError(BrokerError):
    """A topic already exists with a different partition count."""


@dataclass(frozen=True)
class BrokerConfig:
    """Which Kafka to run, where its files live and which ports it listens on."""

    version: str
    cache_dir: Path
    run_dir: Path
    port: int = DEFAULT_PORT
    controller_port: int = DEFAULT_PORT + 1
    heap: str = "512m"
    sasl_port: int | None = None
    sasl_users: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        version: str | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        run_dir: Path | None = None,
    ) -> BrokerConfig:
        """Build a config from ``RISKMON_*`` variables; keyword arguments win over them."""
        env = os.environ if env is None else env
        cache = Path(env.get("RISKMON_CACHE") or Path.home() / ".cache" / "riskmon").expanduser()
        version = version or env.get("RISKMON_KAFKA_VERSION") or DEFAULT_VERSION
        try:
            port = port or int(env.get("RISKMON_KAFKA_PORT") or DEFAULT_PORT)
            controller_port = controller_port or int(env.get("RISKMON_KAFKA_CONTROLLER_PORT") or 0)
        except ValueError as exc:
            raise BrokerError(f"RISKMON_KAFKA_PORT / _CONTROLLER_PORT: {exc}") from exc
        run_dir = run_dir or Path(env.get("RISKMON_KAFKA_DATA_DIR") or cache / "kafka" / "run")
        config = cls(
            version=version,
            cache_dir=cache.resolve(),
            run_dir=run_dir.expanduser().resolve(),
            port=port,
            controller_port=controller_port or port + 1,
            heap=env.get("RISKMON_KAFKA_HEAP") or "512m",
            sasl_port=int(env["RISKMON_KAFKA_SASL_PORT"])
            if env.get("RISKMON_KAFKA_SASL_PORT")
            else None,
            sasl_users=_parse_users(env.get("RISKMON_KAFKA_SASL_USERS") or ""),
        )
        config.validate()
        return config

    def validate(self) -> None:
        match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", self.version)
        if match is None or int(match.group(1)) < 4:
            raise BrokerError(f"Kafka version {self.version!r}: this tool needs 4.x.y (KRaft)")
        ports = (self.port, self.controller_port, *([self.sasl_port] if self.sasl_port else []))
        if len(set(ports)) != len(ports) or not all(0 < p < 65536 for p in ports):
            raise BrokerError(f"broker and controller ports must differ and be valid: {ports}")

    @property
    def sasl_bootstrap(self) -> str | None:
        return f"{HOST}:{self.sasl_port}" if self.sasl_port else None

    @property
    def ca_file(self) -> Path:
        """The CA certificate SASL_SSL clients trust (made on the first start)."""
        return self.run_path("tls/ca.pem")

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def kafka_dir(self) -> Path:
        return self.cache_dir / "kafka" / self.version

    @property
    def libs_dir(self) -> Path:
        return self.kafka_dir / "libs"

    def run_path(self, name: str) -> Path:
        """A file in the run dir: server.properties, broker.pid, data, logs/server.log, ..."""
        return self.run_dir / name


def _parse_users(text: str) -> tuple[tuple[str, str], ...]:
    users = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, password = item.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not password:
            raise BrokerError(f"RISKMON_KAFKA_SASL_USERS: expected name:password, got {name!r}")
        if '"' in password or "\\" in password or "," in password:
            raise BrokerError(
                f"RISKMON_KAFKA_SASL_USERS: unsupported character in {name}'s password"
            )
        users.append((name, password))
    return tuple(users)


@dataclass(frozen=True)
class BrokerInfo:
    """A running broker; ``started`` tells whether this call launched it or reused it."""

    bootstrap: str
    pid: int
    version: str
    log_file: Path
    started: bool
    seconds: float


@dataclass(frozen=True)
class BrokerStatus:
    """Whether our broker's process runs, and whether it answers a metadata request."""

    running: bool
    healthy: bool
    pid: int | None
    bootstrap: str
    version: str | None


@dataclass(frozen=True)
class ClusterMetadata:
    """What a Metadata request said: live brokers and partition counts of the asked topics."""

    cluster_id: str | None
    brokers: tuple[str, ...]
    partitions: Mapping[str, int]


def _note(message: str) -> None:
    print(f"kafka_broker: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise fetch/start/stop between processes (two pytest sessions, a CLI call)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


# --- fetch ---------------------------------------------------------------------------------------

LOG4J_FALLBACK = "2.24.3"  # what the Kafka 4.0 and 4.1 distributions ship


def _pom(name: str, artifacts: Sequence[str]) -> str:
    """A pom whose only content is ``artifacts`` ("group:artifact:version") as dependencies."""
    dependencies = "".join(
        "<dependency><groupId>{}</groupId><artifactId>{}</artifactId><version>{}</version>"
        "</dependency>\n".format(*artifact.split(":"))
        for artifact in artifacts
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>\n'
        f"<groupId>riskmon.tools</groupId><artifactId>{name}</artifactId><version>1</version>\n"
        f"<packaging>pom</packaging><dependencies>\n{dependencies}</dependencies></project>\n"
    )


def fetch(config: BrokerConfig) -> Path:
    """Put the broker's jars in ``<cache>/kafka/<version>/libs`` (once) and return that folder."""
    marker = config.kafka_dir / "libs.complete"
    if marker.exists():
        return config.libs_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerFetchError("Maven ('mvn') is not on PATH; install it (apt-get install maven)")
    with _locked(config.kafka_dir / ".lock"):
        if marker.exists():  # another process fetched while we waited for the lock
            return config.libs_dir
        began = time.monotonic()
        _note(f"fetching org.apache.kafka:kafka_2.13:{config.version} from Maven Central ...")
        shutil.rmtree(config.libs_dir, ignore_errors=True)
        kafka = [f"org.apache.kafka:kafka_2.13:{config.version}"]
        _copy_dependencies(mvn, config, "kafka", kafka, "-DincludeScope=runtime")
        logging = _missing_logging_jars(config.libs_dir)
        if logging:
            _copy_dependencies(mvn, config, "logging", logging, "-DexcludeTransitive=true")
        marker.write_text(f"{config.version}\n")
        _note(f"fetched {config.libs_dir} in {time.monotonic() - began:.1f} s")
    return config.libs_dir


def _copy_dependencies(
    mvn: str, config: BrokerConfig, name: str, artifacts: Sequence[str], *flags: str
) -> None:
    pom = config.kafka_dir / f"{name}-pom.xml"
    pom.write_text(_pom(f"riskmon-{name}-classpath", artifacts))
    goal = f"{DEPENDENCY_PLUGIN}:copy-dependencies"
    command = [mvn, "-q", "-B", "-f", str(pom), goal, f"-DoutputDirectory={config.libs_dir}"]
    try:
        done = subprocess.run(
            [*command, *flags], capture_output=True, text=True, timeout=1200, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerFetchError(f"Maven took over 20 minutes to fetch {artifacts}") from exc
    if done.returncode != 0:
        output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr).strip()
        tail = "\n".join(output.splitlines()[-25:])
        raise BrokerFetchError(
            f"Maven could not fetch {', '.join(artifacts)} (exit {done.returncode}). Check that "
            "Maven Central (https://repo.maven.apache.org) can be reached (proxies go in "
            f"~/.m2/settings.xml) and that the version exists.\n--- mvn output ---\n{tail}"
        )


def _missing_logging_jars(libs: Path) -> list[str]:
    """Kafka's poms leave out the log4j2 jars its distribution ships (4.0 all of them, 4.1+
    the slf4j binding); without them the broker logs nothing. Match the fetched versions."""
    names = [jar.name for jar in libs.glob("*.jar")]
    core = next((m.group(1) for n in names if (m := re.fullmatch(r"log4j-core-(.+)\.jar", n))), "")
    slf4j = next((m for n in names if (m := re.fullmatch(r"slf4j-api-(\d+)\..+\.jar", n))), None)
    if slf4j is None:
        raise BrokerFetchError(f"no slf4j-api jar in {libs}; Kafka's dependencies changed")
    binding = "log4j-slf4j2-impl" if int(slf4j.group(1)) >= 2 else "log4j-slf4j-impl"
    wanted = ("log4j-api", "log4j-core", binding)
    missing = [a for a in wanted if not any(re.fullmatch(rf"{a}-\d.*\.jar", n) for n in names)]
    return [f"org.apache.logging.log4j:{a}:{core or LOG4J_FALLBACK}" for a in missing]


# --- Kafka protocol, just enough for readiness and topic creation ---------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def _take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self._data, self._at)
        self._at += struct.calcsize(fmt)
        return int(value)

    def int8(self) -> int:
        return self._take(">b")

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def string(self) -> str | None:
        size = self.int16()
        if size < 0:
            return None
        self._at += size
        return self._data[self._at - size : self._at].decode()

    def int32s(self) -> list[int]:
        return [self.int32() for _ in range(self.int32())]


def _string(value: str) -> bytes:
    raw = value.encode()
    return struct.pack(">h", len(raw)) + raw


class _Connection:
    """One blocking connection; every request here uses request header v1, response header v0."""

    def __init__(self, bootstrap: str, timeout: float) -> None:
        self._sock = _connect_any(bootstrap, timeout)
        self._correlation = 0

    def __enter__(self) -> _Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()

    def request(self, api_key: int, version: int, body: bytes) -> _Reader:
        self._correlation += 1
        header = struct.pack(">hhi", api_key, version, self._correlation) + _string(CLIENT_ID)
        self._sock.sendall(struct.pack(">i", len(header) + len(body)) + header + body)
        reply = _Reader(self._receive(_Reader(self._receive(4)).int32()))
        if reply.int32() != self._correlation:
            raise BrokerProtocolError("the broker answered with another correlation id")
        return reply

    def _receive(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = self._sock.recv(size - len(chunks))
            if not chunk:
                raise ConnectionError("the broker closed the connection")
            chunks += chunk
        return bytes(chunks)

    def check_versions(self) -> None:
        """ApiVersions v0, which every broker answers; then make sure ours are supported."""
        reply = self.request(18, 0, b"")
        error = reply.int16()
        supported = {}
        for _ in range(reply.int32()):
            key, low, high = reply.int16(), reply.int16(), reply.int16()
            supported[key] = (low, high)
        if error != 0:
            raise BrokerProtocolError(f"ApiVersions failed with error code {error}")
        for key, name in ((3, "Metadata"), (19, "CreateTopics")):
            low, high = supported.get(key, (1, 0))
            if not low <= 4 <= high:
                raise BrokerProtocolError(f"the broker does not support {name} v4 ({low}..{high})")


def _connect_any(bootstrap: str, timeout: float) -> socket.socket:
    errors = []
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition("://")[2].rpartition(":")
        try:
            return socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        except (OSError, ValueError) as exc:
            errors.append(f"{address.strip()}: {exc}")
    raise ConnectionError("; ".join(errors) or f"no address in {bootstrap!r}")


def _metadata(conn: _Connection, topics: Sequence[str]) -> ClusterMetadata:
    """Metadata v4 for ``topics`` without auto-creating them; counts only fully led topics."""
    body = struct.pack(">i", len(topics)) + b"".join(map(_string, topics)) + b"\x00"
    reply = conn.request(3, 4, body)
    reply.int32()  # throttle_time_ms
    brokers = []
    for _ in range(reply.int32()):
        reply.int32()  # node_id
        host, port = reply.string(), reply.int32()
        reply.string()  # rack
        brokers.append(f"{host}:{port}")
    cluster_id = reply.string()
    reply.int32()  # controller_id
    partitions = {}
    for _ in range(reply.int32()):
        topic_error, name = reply.int16(), reply.string()
        reply.int8()  # is_internal
        led = []
        for _ in range(reply.int32()):
            error, _index, leader = reply.int16(), reply.int32(), reply.int32()
            reply.int32s()  # replicas
            reply.int32s()  # in-sync replicas
            led.append(error == 0 and leader >= 0)
        if topic_error == 0 and name is not None and led and all(led):
            partitions[name] = len(led)
    return ClusterMetadata(cluster_id, tuple(brokers), partitions)


def probe(bootstrap: str, timeout: float = 2.0) -> ClusterMetadata:
    """Ask a broker for its metadata; raises OSError or BrokerProtocolError if it cannot answer."""
    with _Connection(bootstrap, timeout) as conn:
        conn.check_versions()
        return _metadata(conn, [])


def wait_until_ready(bootstrap: str, timeout: float = 30.0) -> ClusterMetadata:
    """Poll `probe` until the cluster lists at least one live broker."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            metadata = probe(bootstrap)
            if metadata.brokers:
                return metadata
            problem = "no live brokers in the metadata yet"
        except (OSError, struct.error) as exc:
            problem = str(exc)
        if time.monotonic() > deadline:
            raise BrokerStartError(f"{bootstrap} did not answer a metadata request: {problem}")
        time.sleep(0.2)


def create_topics(bootstrap: str, topics: Mapping[str, int], timeout: float = 30.0) -> None:
    """Create ``{name: partitions}`` with the cluster's default replication factor; idempotent.

    Returns once every partition has a leader. Raises `TopicMismatchError` when a topic exists
    with another partition count.
    """
    try:
        with _Connection(bootstrap, timeout) as conn:
            conn.check_versions()
            _request_topics(conn, topics, timeout)
            counts = _await_leaders(conn, list(topics), time.monotonic() + timeout)
    except (OSError, struct.error) as exc:
        raise BrokerError(f"cannot create topics on {bootstrap}: {exc}") from exc
    wrong = [
        f"{name} has {counts[name]}, not {n}" for name, n in topics.items() if counts[name] != n
    ]
    if wrong:
        raise TopicMismatchError(f"topics exist with other partition counts: {'; '.join(wrong)}")


def _request_topics(conn: _Connection, topics: Mapping[str, int], timeout: float) -> None:
    """CreateTopics v4; a topic that already exists is fine here (its count is checked later)."""
    body = struct.pack(">i", len(topics))
    for name, count in topics.items():
        # replication factor -1: the broker default (1 on ours); no assignments, no configs
        body += _string(name) + struct.pack(">ihii", count, -1, 0, 0)
    reply = conn.request(19, 4, body + struct.pack(">ib", int(timeout * 1000), 0))
    reply.int32()  # throttle_time_ms
    for _ in range(reply.int32()):
        topic, error, message = reply.string(), reply.int16(), reply.string()
        if error not in (0, ERROR_TOPIC_ALREADY_EXISTS):
            raise BrokerError(f"cannot create topic {topic!r}: error {error}: {message}")


def _await_leaders(conn: _Connection, topics: list[str], deadline: float) -> Mapping[str, int]:
    while True:
        counts = _metadata(conn, topics).partitions
        missing = sorted(set(topics) - set(counts))
        if not missing:
            return counts
        if time.monotonic() > deadline:
            raise BrokerError(f"topics {missing} still have partitions without a leader")
        time.sleep(0.1)


# --- broker lifecycle -----------------------------------------------------------------------------


def _server_properties(config: BrokerConfig) -> str:
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static voters: `StorageTool format --standalone` refuses them, and unlike a dynamic
        # quorum they do not pin the controller port into the formatted data.
        "controller.quorum.voters": f"1@{HOST}:{config.controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{config.port},CONTROLLER://{HOST}:{config.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{config.port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(config.run_path("data")),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "auto.create.topics.enable": "true",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",  # 50 by default: slower first group, more files
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
    }
    if config.sasl_port:
        settings.update(_sasl_ssl_properties(config))
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _sasl_ssl_properties(config: BrokerConfig) -> dict[str, str]:
    """A SASL_SSL listener beside PLAINTEXT: TLS (our CA), SASL PLAIN and SCRAM-SHA-512."""
    plain_users = " ".join(f'user_{name}="{password}"' for name, password in config.sasl_users)
    listeners = f"PLAINTEXT://{HOST}:{config.port},SASL_SSL://{HOST}:{config.sasl_port}"
    return {
        "listeners": f"{listeners},CONTROLLER://{HOST}:{config.controller_port}",
        "advertised.listeners": listeners,
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
        ),
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
        ),
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(config.run_path("tls/broker-keystore.pem")),
    }


def make_certificates(tls_dir: Path) -> None:
    """A CA and a broker certificate for 127.0.0.1 and localhost, made once with openssl."""
    if (tls_dir / "broker-keystore.pem").exists():
        return
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BrokerStartError("openssl is not on PATH; it makes the SASL_SSL test certificates")
    tls_dir.mkdir(parents=True, exist_ok=True)
    (tls_dir / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
         "-days", "30", "-subj", "/CN=riskmon test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "broker.pem", "-days", "30", "-extfile", "san.cnf"],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(
            [openssl, *step], cwd=tls_dir, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BrokerStartError(f"openssl {step[0]} failed: {done.stderr.strip()}")
    keystore = (tls_dir / "broker.key").read_text() + (tls_dir / "broker.pem").read_text()
    (tls_dir / "broker-keystore.pem").write_text(keystore)


def _log4j2_properties(config: BrokerConfig) -> str:
    log = config.run_path("logs/server.log")
    return f"""status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if java is None or not Path(java).exists():
        raise BrokerStartError(
            "no Java found (set JAVA_HOME or put java on PATH); Kafka 4 needs 17+"
        )
    return java


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # an unreaped zombie is as good as dead
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _running_pid(config: BrokerConfig) -> int | None:
    """The pid in the pid file if that process is alive and is our broker, else None."""
    try:
        pid = int(config.run_path("broker.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not _alive(pid):
        return None
    with contextlib.suppress(OSError):  # no /proc (macOS): trust the pid file
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if str(config.run_path("server.properties")).encode() not in cmdline:
            return None  # the pid was reused by another process
    return pid


def _read_state(config: BrokerConfig) -> dict[str, object]:
    try:
        state = json.loads(config.run_path("broker.json").read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(config: BrokerConfig, state: Mapping[str, object]) -> None:
    config.run_path("broker.json").write_text(json.dumps(state, indent=2) + "\n")


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise BrokerStartError(
                f"{HOST}:{port} is in use by another process ({exc.strerror}); stop it or pick "
                "other ports (RISKMON_KAFKA_PORT, --port), or point RISKMON_KAFKA_BOOTSTRAP at it"
            ) from exc


def _format_storage(config: BrokerConfig, java: str, classpath: str) -> None:
    # No --standalone: it is for a dynamic quorum and refuses static controller.quorum.voters.
    tool = [java, "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool"]
    cluster_id = _run_tool([*tool, "random-uuid"]).splitlines()[-1]
    scram = []
    for name, password in config.sasl_users:
        scram += ["--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]"]
    _run_tool(
        [*tool, "format", "-t", cluster_id, "-c", str(config.run_path("server.properties")), *scram]
    )


def _run_tool(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise BrokerStartError(
            f"{' '.join(command[-5:])} failed (exit {done.returncode}):\n"
            f"{(done.stdout + done.stderr).strip()}"
        )
    return done.stdout.strip()


def _launch(config: BrokerConfig, java: str, classpath: str) -> int:
    """Start the JVM detached (own session, reparented to init) and return its pid."""
    command = [
        java,
        f"-Xmx{config.heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config.run_path('log4j2.properties')}",
        # log4j's own shutdown hook races Kafka's and leaves a "JVM is shutting down" warning
        "-Dlog4j2.shutdownHookEnabled=false",
        f"-Dkafka.logs.dir={config.run_path('logs')}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(config.run_path("server.properties")),
    ]
    # The shell backgrounds java and exits at once, so no Popen object outlives this call and
    # java does not become a zombie child of a long-lived caller such as pytest.
    script = 'out=$1; shift; "$@" </dev/null >"$out" 2>&1 & echo $!'
    out = str(config.run_path("logs/broker.out"))
    shell = subprocess.run(
        ["/bin/sh", "-c", script, "sh", out, *command],
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if shell.returncode != 0 or not shell.stdout.strip().isdigit():
        raise BrokerStartError(f"could not launch java: {shell.stdout}{shell.stderr}")
    return int(shell.stdout.strip())


def ensure_started(
    config: BrokerConfig | None = None,
    *,
    timeout: float = 90.0,
    lease_pid: int | None = None,
    fresh: bool = False,
) -> BrokerInfo:
    """Fetch and start the broker unless ours already runs, then wait until it answers metadata.

    With ``lease_pid``, a lease is recorded for that process, and a broker this call starts is
    stopped by `release` once no live process holds a lease. With ``fresh``, a broker this call
    starts begins with an empty data dir: for test brokers, whose topics are throwaway, because
    a data dir holding thousands of old partitions takes minutes to load. A running broker is
    reused as it is.

    ``timeout`` bounds a start that makes no progress: while the broker is still writing its log
    (loading partitions), the wait goes on, up to ``LOADING_TIMEOUT_FACTOR`` times ``timeout``.
    """
    config = config or BrokerConfig.from_env()
    began = time.monotonic()
    libs = fetch(config)
    with _locked(config.run_path(".lock")):
        pid = _running_pid(config)
        started = pid is None
        if pid is None:
            if fresh and config.run_path("data").exists():
                _note(f"starting with an empty data dir: removing {config.run_path('data')}")
                shutil.rmtree(config.run_path("data"))
            pid = _start(config, libs, managed=lease_pid is not None)
        state = _read_state(config)
        if lease_pid is None and state.get("managed"):
            state["managed"] = False  # asked for by hand: keep it running past the test sessions
            _write_state(config, state)
        bootstrap = str(state.get("bootstrap", config.bootstrap))
        if bootstrap != config.bootstrap:
            raise BrokerStartError(
                f"the broker in {config.run_dir} listens on {bootstrap}, not {config.bootstrap}; "
                "stop it first or use another --data-dir"
            )
        _wait_ready(config, pid, began + timeout, stop_on_failure=started)
        if lease_pid is not None:
            config.run_path("leases").mkdir(exist_ok=True)
            config.run_path(f"leases/{lease_pid}").touch()
    version = str(state.get("version", config.version))
    log_file = config.run_path("logs/server.log")
    return BrokerInfo(bootstrap, pid, version, log_file, started, time.monotonic() - began)


def _start(config: BrokerConfig, libs: Path, *, managed: bool) -> int:
    java = _java()
    _check_port_free(config.port)
    _check_port_free(config.controller_port)
    config.run_path("logs").mkdir(parents=True, exist_ok=True)
    config.run_path("server.properties").write_text(_server_properties(config))
    config.run_path("log4j2.properties").write_text(_log4j2_properties(config))
    if config.sasl_port:
        _check_port_free(config.sasl_port)
        make_certificates(config.run_path("tls"))
    classpath = str(libs / "*")
    if not config.run_path("data/meta.properties").exists():
        _note(f"formatting {config.run_path('data')} (first start)")
        _format_storage(config, java, classpath)
    pid = _launch(config, java, classpath)
    config.run_path("broker.pid").write_text(f"{pid}\n")
    if managed:
        _launch_reaper(config)
    state = {
        "pid": pid,
        "bootstrap": config.bootstrap,
        "controller_port": config.controller_port,
        "version": config.version,
        "managed": managed,
        "started_at": time.time(),
    }
    _write_state(config, state)
    return pid


LOADING_TIMEOUT_FACTOR = 5
"""How much longer than its timeout a start may take while the broker's log keeps growing."""


def _still_loading(config: BrokerConfig, quiet_for: float = 15.0) -> bool:
    """Whether the broker wrote its log in the last ``quiet_for`` seconds (loading partitions)."""
    try:
        return time.time() - config.run_path("logs/server.log").stat().st_mtime < quiet_for
    except OSError:
        return False


def _wait_ready(config: BrokerConfig, pid: int, deadline: float, *, stop_on_failure: bool) -> None:
    problem = "timed out before the first probe"
    began = time.monotonic()
    hard_deadline = began + (deadline - began) * LOADING_TIMEOUT_FACTOR
    told = False
    while time.monotonic() < deadline or (
        time.monotonic() < hard_deadline and _still_loading(config)
    ):
        if time.monotonic() >= deadline and not told:
            told = True
            _note(f"the broker is still loading its data ({config.run_path('data')}); waiting on")
        if not _alive(pid):
            problem = "the broker process exited during startup"
            break
        try:
            if probe(config.bootstrap).brokers:
                return
            problem = "no live brokers in the metadata yet"
        except (OSError, struct.error, BrokerProtocolError) as exc:
            problem = f"{config.bootstrap} did not answer a metadata request: {exc}"
        time.sleep(0.2)
    else:
        problem = f"not ready in time; last problem: {problem}"
    if stop_on_failure:
        _stop_locked(config, wipe=False, timeout=10.0)
    log, out = config.run_path("logs/server.log"), config.run_path("logs/broker.out")
    raise BrokerStartError(
        f"{problem}\n--- {log} (tail) ---\n{_tail(log)}\n--- {out} (tail) ---\n{_tail(out, 10)}\n"
        "If the data dir was formatted by another Kafka version or cluster, "
        "`python tools/kafka_broker.py stop --wipe` starts afresh."
    )


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM (Kafka shuts down cleanly), then SIGKILL if it takes longer than ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return
    _note(f"broker pid {pid} still running {timeout:.0f} s after SIGTERM; sending SIGKILL")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0):
        raise BrokerError(f"broker pid {pid} survived SIGKILL")


def _stop_locked(config: BrokerConfig, *, wipe: bool, timeout: float) -> bool:
    pid = _running_pid(config)
    if pid is not None:
        _terminate(pid, timeout)
    for name in ("broker.pid", "broker.json"):
        config.run_path(name).unlink(missing_ok=True)
    if wipe:
        for name in ("data", "logs", "leases"):
            shutil.rmtree(config.run_path(name), ignore_errors=True)
    return pid is not None


def stop(config: BrokerConfig | None = None, *, wipe: bool = False, timeout: float = 30.0) -> bool:
    """Stop our broker (SIGTERM, then SIGKILL); ``wipe`` also deletes its data and logs.

    Returns whether a running broker was stopped.
    """
    config = config or BrokerConfig.from_env()
    with _locked(config.run_path(".lock")):
        return _stop_locked(config, wipe=wipe, timeout=timeout)


def _launch_reaper(config: BrokerConfig) -> None:
    """Start ``reap`` for this broker, detached, so it outlives the session that started it."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "reap",
        "--kafka-version",
        config.version,
        "--port",
        str(config.port),
        "--controller-port",
        str(config.controller_port),
        "--data-dir",
        str(config.run_dir),
    ]
    # Backgrounded by a shell, like the broker, so no Popen object outlives this call.
    script = 'out=$1; shift; "$@" </dev/null >>"$out" 2>&1 &'
    out = str(config.run_path("logs/reaper.log"))
    subprocess.run(
        ["/bin/sh", "-c", script, "sh", out, *command], start_new_session=True, check=False
    )


def _live_leases(config: BrokerConfig) -> list[Path]:
    """Lease files of live processes; those of dead ones are removed."""
    holders = [p for p in config.run_path("leases").glob("*") if p.name.isdigit()]
    live = [p for p in holders if _alive(int(p.name))]
    for dead in set(holders) - set(live):
        dead.unlink(missing_ok=True)
    return live


def reap(config: BrokerConfig, *, interval: float = 2.0, timeout: float = 30.0) -> bool:
    """Wait while a managed broker runs; stop it once no live process holds a lease.

    Returns whether it stopped the broker (``False``: it stopped, or became unmanaged, first).
    """
    while True:
        time.sleep(interval)
        with _locked(config.run_path(".lock")):
            if _running_pid(config) is None or not _read_state(config).get("managed"):
                return False
            if not _live_leases(config):
                _note(f"no live lease on the broker in {config.run_dir}; stopping it")
                return _stop_locked(config, wipe=False, timeout=timeout)


def release(config: BrokerConfig, lease_pid: int, *, timeout: float = 30.0) -> bool:
    """Drop ``lease_pid``'s lease; stop the broker if a lease started it and none is left alive.

    Returns whether the broker was stopped.
    """
    with _locked(config.run_path(".lock")):
        config.run_path(f"leases/{lease_pid}").unlink(missing_ok=True)
        if _live_leases(config) or not _read_state(config).get("managed"):
            return False
        return _stop_locked(config, wipe=False, timeout=timeout)


def status(config: BrokerConfig | None = None) -> BrokerStatus:
    """Whether our broker runs and answers; does not start or change anything."""
    config = config or BrokerConfig.from_env()
    pid = _running_pid(config)
    state = _read_state(config) if pid is not None else {}
    bootstrap = str(state.get("bootstrap", config.bootstrap))
    healthy = False
    if pid is not None:
        with contextlib.suppress(OSError, struct.error, BrokerProtocolError):
            healthy = bool(probe(bootstrap).brokers)
    version = str(state["version"]) if "version" in state else None
    return BrokerStatus(pid is not None, healthy, pid, bootstrap, version)


# --- command line ---------------------------------------------------------------------------------


def _cmd_fetch(config: BrokerConfig, args: argparse.Namespace) -> int:
    print(fetch(config))
    return 0


def _cmd_start(config: BrokerConfig, args: argparse.Namespace) -> int:
    info = ensure_started(config, timeout=args.timeout)
    verb = "started" if info.started else "already running"
    _note(
        f"Kafka {info.version} {verb} at {info.bootstrap} (pid {info.pid}, "
        f"{info.seconds:.1f} s); log: {info.log_file}"
    )
    print(info.bootstrap)
    return 0


def _cmd_stop(config: BrokerConfig, args: argparse.Namespace) -> int:
    stopped = stop(config, wipe=args.wipe, timeout=args.timeout)
    _note(("stopped the broker" if stopped else "no broker was running") + f" ({config.run_dir})")
    if args.wipe:
        _note("wiped its data and logs")
    return 0


def _cmd_status(config: BrokerConfig, args: argparse.Namespace) -> int:
    state = status(config)
    if not state.running:
        print(f"not running (run dir {config.run_dir})")
        return 3
    health = "healthy" if state.healthy else "NOT answering metadata requests"
    print(f"running pid={state.pid} bootstrap={state.bootstrap} version={state.version} {health}")
    return 0 if state.healthy else 1


def _cmd_create_topics(config: BrokerConfig, args: argparse.Namespace) -> int:
    topics = {}
    for spec in args.topics:
        name, _, count = spec.rpartition(":")
        if not name or not count.isdigit() or int(count) < 1:
            raise BrokerError(f"expected NAME:PARTITIONS, got {spec!r}")
        topics[name] = int(count)
    bootstrap = args.bootstrap or os.environ.get("RISKMON_KAFKA_BOOTSTRAP") or config.bootstrap
    create_topics(bootstrap, topics)
    for name, count in topics.items():
        print(f"{name}: {count} partition(s) on {bootstrap}")
    return 0


def _cmd_reap(config: BrokerConfig, args: argparse.Namespace) -> int:
    reap(config)
    return 0


_COMMANDS = {
    "reap": _cmd_reap,
    "fetch": _cmd_fetch,
    "start": _cmd_start,
    "stop": _cmd_stop,
    "status": _cmd_status,
    "create-topics": _cmd_create_topics,
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--kafka-version", help=f"default $RISKMON_KAFKA_VERSION or {DEFAULT_VERSION}"
    )
    common.add_argument("--port", type=int, help=f"default $RISKMON_KAFKA_PORT or {DEFAULT_PORT}")
    common.add_argument("--controller-port", type=int, help="default port + 1")
    common.add_argument("--data-dir", type=Path, help="default $RISKMON_CACHE/kafka/run")
    parser = argparse.ArgumentParser(prog="kafka_broker.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", parents=[common], help="download the jars (cached)")
    start = commands.add_parser("start", parents=[common], help="start and print bootstrap")
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for ready")
    stop = commands.add_parser("stop", parents=[common], help="stop the broker")
    stop.add_argument("--wipe", action="store_true", help="also delete its data and logs")
    stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    commands.add_parser("status", parents=[common], help="exit 0 running, 1 unhealthy, 3 stopped")
    commands.add_parser("reap", parents=[common], help="stop a leased broker with no live lease")
    topics = commands.add_parser("create-topics", parents=[common], help="create topics")
    topics.add_argument("topics", nargs="+", metavar="NAME:PARTITIONS")
    topics.add_argument("--bootstrap", help="default $RISKMON_KAFKA_BOOTSTRAP, else this broker")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = BrokerConfig.from_env(
            version=args.kafka_version,
            port=args.port,
            controller_port=args.controller_port,
            run_dir=args.data_dir,
        )
        return _COMMANDS[args.command](config, args)
    except BrokerError as exc:
        print(f"kafka_broker: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
