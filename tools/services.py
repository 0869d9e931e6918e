"""Install and run real Prometheus, Alertmanager and PostgreSQL servers on 127.0.0.1.

Tests and local runs use these instead of mocks. Stdlib only: it runs before the virtualenv exists.

Conventions: every server is a child process bound to 127.0.0.1 on a free port (or the one given),
with its data, config and log in a fresh temp dir that `ServerHandle.stop` removes. A server that
does not answer in time raises `ServiceStartError` with the tail of its log. Config files are
written as JSON, which is valid YAML. In-process servers get the parent-death signal through
`setpriv`, so a killed test run leaves no daemons behind; CLI-started servers are detached and
recorded in a state file for `stop` and `status`.

Errors::

    ServiceError
    ├── ServiceInstallError   apt-get is missing, we are not root, or the install failed
    └── ServiceStartError     a binary is missing, or the server exited or never became ready

Usage::

    python tools/services.py install [--dry-run]     (also chromium + chromedriver for tests/web)
    python tools/services.py start prometheus --target 127.0.0.1:8000 [--rules r.yml]
    python tools/services.py start alertmanager | start postgres
    python tools/services.py stop NAME
    python tools/services.py status
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BROWSER",
    "PACKAGES",
    "SERVICES",
    "ServerHandle",
    "ServiceError",
    "ServiceInstallError",
    "ServiceStartError",
    "alertmanager_config",
    "free_port",
    "install",
    "main",
    "missing_packages",
    "postgres_binary",
    "prometheus_config",
    "promtool_path",
    "start_alertmanager",
    "start_postgres",
    "start_prometheus",
]

log = logging.getLogger("riskmon.services")

HOST = "127.0.0.1"
# Service name -> (Debian package, its binaries we use; the first one is the server).
SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "prometheus": ("prometheus", ("prometheus", "promtool")),
    "alertmanager": ("prometheus-alertmanager", ("prometheus-alertmanager",)),
    "postgres": ("postgresql", ("postgres", "initdb", "pg_isready", "createdb", "psql")),
}
# Debian packages the browser tests need (tests/web): installed with the services, never started.
BROWSER: dict[str, tuple[str, tuple[str, ...]]] = {
    "chromium": ("chromium", ("chromium",)),
    "chromedriver": ("chromium-driver", ("chromedriver",)),
}
PACKAGES = {**SERVICES, **BROWSER}
# Debian renames alertmanager; accept the upstream name from other installs.
ALIASES = {"prometheus-alertmanager": ("alertmanager",)}
POSTGRES_LIB = Path("/usr/lib/postgresql")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
STATE_DIR = Path(tempfile.gettempdir()) / "riskmon-services"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}
APT_INSTALL = [
    "apt-get", "install", "-y", "-q", "--no-install-recommends",
    "-o", "DPkg::Lock::Timeout=300",
    "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
]  # fmt: skip


class ServiceError(Exception):
    """Base of the errors raised by this module."""


class ServiceInstallError(ServiceError):
    """The packages for a service could not be installed."""


class ServiceStartError(ServiceError):
    """A server could not be started or did not become ready; `log_tail` holds its last output."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(f"{message}\n--- server log ---\n{log_tail}" if log_tail else message)
        self.log_tail = log_tail


# ---------------------------------------------------------------------------- binaries, install


def _which(name: str) -> str | None:
    if name in SERVICES["postgres"][1]:
        return _find_postgres_binary(name)
    search = f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin"
    found = (shutil.which(candidate, path=search) for candidate in (name, *ALIASES.get(name, ())))
    return next((str(path) for path in found if path), None)


def _binary(service: str) -> str:
    """Return the path of the server binary of `service`."""
    if path := _which(name := SERVICES[service][1][0]):
        return path
    raise ServiceStartError(f"{service}: {name} not found; run tools/services.py install")


def _find_postgres_binary(name: str) -> str | None:
    found = sorted(POSTGRES_LIB.glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    return str(found[-1]) if found else None


def postgres_binary(name: str) -> str:
    """Return PostgreSQL's `name` (psql, pg_dump...) from the newest /usr/lib/postgresql/*/bin."""
    if path := _find_postgres_binary(name):
        return path
    raise ServiceStartError(f"{POSTGRES_LIB}/*/bin/{name} not found; run tools/services.py install")


def promtool_path() -> str:
    """Return the path of `promtool`, which Debian ships in the prometheus package."""
    if path := _which("promtool"):
        return path
    raise ServiceStartError("promtool not found; run tools/services.py install")


def missing_packages(services: Iterable[str] = PACKAGES) -> list[str]:
    """Return the Debian packages of `services` (or browser tools) with a binary absent."""
    return [PACKAGES[s][0] for s in services if not all(_which(b) for b in PACKAGES[s][1])]


def _run(
    cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    log.info("+ %s", " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=cwd)


def _apt_knows(packages: Sequence[str]) -> bool:
    """Tell whether the apt lists have an installable candidate for every package."""
    out = _run(["apt-cache", "policy", *packages]).stdout
    return out.count("Candidate:") == len(packages) and "Candidate: (none)" not in out


@contextlib.contextmanager
def _no_service_starts() -> Iterator[None]:
    """Forbid maintainer scripts to start daemons (there is no init system to run them)."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text("#!/bin/sh\n# riskmon tools/services.py: no daemons\nexit 101\n")
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)


def install(services: Iterable[str] = PACKAGES, *, dry_run: bool = False) -> list[list[str]]:
    """Install the Debian packages of `services` whose binaries are missing.

    Returns the apt commands that were run (or, with `dry_run`, would run); none when all present.
    """
    packages = missing_packages(services)
    if not packages:
        return []
    if shutil.which("apt-get") is None:
        raise ServiceInstallError(f"apt-get not found; install {' '.join(packages)} yourself")
    update = not _apt_knows(packages)
    plan = [["apt-get", "update", "-q"]] if update else []
    plan.append([*APT_INSTALL, *packages])
    if dry_run:
        return plan
    if os.geteuid() != 0:
        raise ServiceInstallError(f"installing {' '.join(packages)} needs root (try sudo)")
    with _no_service_starts():
        _run_apt(plan, retry_with_update=not update)
    if still := missing_packages(services):
        raise ServiceInstallError(f"installed, but binaries of {still} are still missing")
    return plan


def _run_apt(plan: list[list[str]], *, retry_with_update: bool) -> None:
    env = {**os.environ, **APT_ENV}
    for cmd in plan:
        done = _run(cmd, env=env)
        if done.returncode != 0 and retry_with_update and cmd[1] == "install":
            # Stale package lists answer 404: refresh them once and try again.
            _run_apt([["apt-get", "update", "-q"], cmd], retry_with_update=False)
            return
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise ServiceInstallError(f"`{' '.join(cmd)}` failed ({done.returncode}):\n{tail}")


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A running server: `url` to reach it, `stop()` to end it and remove its temp dir."""

    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    stop_signal: int = signal.SIGTERM
    config_path: Path | None = None
    startup_seconds: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as a Prometheus target or Alertmanager address."""
        return f"{HOST}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        """Return the last `lines` lines of the server's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def reload(self) -> None:
        """Make the server re-read its config file (POST /-/reload; SIGHUP for PostgreSQL)."""
        if not self.url.startswith("http"):
            self.process.send_signal(signal.SIGHUP)
            return
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server (signal, wait, then kill) and remove its temp dir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _terminate(self.process, self.stop_signal, timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _terminate(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _os_user() -> str | None:
    """PostgreSQL refuses to run as root: return the OS user to run it as, None for ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _wrap(argv: Sequence[str], *, user: str | None, death_signal: int | None) -> list[str]:
    """Prefix `argv` with setpriv to drop root and/or die with this process."""
    opts = [f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    if death_signal is not None:
        opts += ["--pdeathsig", signal.Signals(death_signal).name.removeprefix("SIG")]
    return ["setpriv", *opts, "--", *argv] if opts else list(argv)


@dataclass(frozen=True)
class _Launch:
    """How to run and probe one server on one port."""

    name: str
    argv: list[str]
    url: str
    port: int
    workdir: Path
    ready: Callable[[], bool]
    stop_signal: int = signal.SIGTERM
    user: str | None = None
    config_path: Path | None = None


def _launch(spec: _Launch, *, timeout: float, detached: bool) -> ServerHandle:
    """Start `spec` and wait until its probe answers; on failure stop it and raise."""
    log_path = spec.workdir / f"{spec.name}.log"
    death = None if detached else spec.stop_signal
    argv = _wrap(spec.argv, user=spec.user, death_signal=death)
    started = time.monotonic()
    log.info("+ %s", " ".join(argv))
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=spec.workdir, start_new_session=detached,
        )  # fmt: skip
    handle = ServerHandle(
        spec.name, spec.url, spec.port, process, spec.workdir, log_path,
        spec.stop_signal, spec.config_path,
    )  # fmt: skip
    try:
        _wait_ready(spec.ready, process, started + timeout)
    except ServiceStartError as exc:
        _terminate(process, spec.stop_signal, 10)
        message = f"{spec.name} on port {spec.port}: {exc}"
        raise ServiceStartError(message, handle.log_tail()) from None
    handle.startup_seconds = time.monotonic() - started
    return handle


def _wait_ready(ready: Callable[[], bool], process: subprocess.Popen[bytes], end: float) -> None:
    while (code := process.poll()) is None:
        if ready():
            return
        if time.monotonic() > end:
            raise ServiceStartError("not ready before the timeout")
        time.sleep(0.1)
    raise ServiceStartError(f"exited with code {code} before it was ready")


def _on_free_port(port: int | None, launch: Callable[[int], ServerHandle]) -> ServerHandle:
    """Run `launch` on `port`, or on a free port, retrying if another process took it first."""
    if port is not None:
        return launch(port)
    attempts = 3
    while True:
        try:
            return launch(free_port())
        except ServiceStartError as exc:
            attempts -= 1
            if not attempts or "address already in use" not in exc.log_tail.lower():
                raise


@contextlib.contextmanager
def _workdir(name: str, owner: str | None = None) -> Iterator[Path]:
    """Yield a fresh temp dir (owned by `owner`); remove it if starting the server fails."""
    path = Path(tempfile.mkdtemp(prefix=f"riskmon-{name}-"))
    if owner:
        shutil.chown(path, owner, owner)
    try:
        yield path
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def _http_probe(url: str) -> Callable[[], bool]:
    """Return a probe that tells whether GET `url` answers 200."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as exc:
            exc.close()
            return False
        except OSError:
            return False

    return probe


def _write_config(path: Path, config: object) -> Path:
    path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
    return path


# ---------------------------------------------------------------------------- the three servers


def prometheus_config(
    targets: Sequence[str],
    rule_files: Sequence[str | os.PathLike[str]] = (),
    *,
    alertmanager: str | None = None,
    scrape_interval: str = "1s",
) -> dict[str, object]:
    """Return a Prometheus config scraping `targets` (``host:port``) as job ``riskmon``."""
    interval = {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval}
    config: dict[str, object] = {"global": interval}
    if targets:
        job = {"job_name": "riskmon", "static_configs": [{"targets": [*targets]}]}
        config["scrape_configs"] = [job]
    if rule_files:
        config["rule_files"] = [str(Path(f).resolve()) for f in rule_files]
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return config


def start_prometheus(
    targets: Sequence[str] = (),
    rule_files: Sequence[str | os.PathLike[str]] = (),
    *,
    alertmanager: str | None = None,
    scrape_interval: str = "1s",
    port: int | None = None,
    timeout: float = 60.0,
    detached: bool = False,
) -> ServerHandle:
    """Start Prometheus scraping `targets`, with `rule_files`, alerting to `alertmanager`."""
    binary = _binary("prometheus")
    config = prometheus_config(
        targets, rule_files, alertmanager=alertmanager, scrape_interval=scrape_interval
    )
    with _workdir("prometheus") as workdir:
        config_path = _write_config(workdir / "prometheus.yml", config)

        def launch(port: int) -> ServerHandle:
            url = f"http://{HOST}:{port}"
            argv = [
                binary, f"--config.file={config_path}", f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={HOST}:{port}", "--web.enable-lifecycle",
            ]  # fmt: skip
            ready = _http_probe(f"{url}/-/ready")
            spec = _Launch("prometheus", argv, url, port, workdir, ready, config_path=config_path)
            return _launch(spec, timeout=timeout, detached=detached)

        return _on_free_port(port, launch)


def alertmanager_config(webhook_url: str | None = None) -> dict[str, object]:
    """Return an Alertmanager config: one receiver, grouped by alertname and category."""
    receiver: dict[str, object] = {"name": "default"}
    if webhook_url:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    route = {
        "receiver": "default",
        "group_by": ["alertname", "category"],
        "group_wait": "1s",
        "group_interval": "1s",
        "repeat_interval": "1h",
    }
    return {"route": route, "receivers": [receiver]}


def start_alertmanager(
    *,
    webhook_url: str | None = None,
    port: int | None = None,
    timeout: float = 60.0,
    detached: bool = False,
) -> ServerHandle:
    """Start a single (unclustered) Alertmanager, optionally notifying `webhook_url`."""
    binary = _binary("alertmanager")
    with _workdir("alertmanager") as workdir:
        config_path = _write_config(workdir / "alertmanager.yml", alertmanager_config(webhook_url))

        def launch(port: int) -> ServerHandle:
            url = f"http://{HOST}:{port}"
            argv = [
                binary, f"--config.file={config_path}", f"--storage.path={workdir / 'data'}",
                f"--web.listen-address={HOST}:{port}", "--cluster.listen-address=",
            ]  # fmt: skip
            ready = _http_probe(f"{url}/-/ready")
            spec = _Launch("alertmanager", argv, url, port, workdir, ready, config_path=config_path)
            return _launch(spec, timeout=timeout, detached=detached)

        return _on_free_port(port, launch)


def start_postgres(
    *,
    database: str = "riskmon_test",
    user: str = "riskmon",
    port: int | None = None,
    timeout: float = 60.0,
    detached: bool = False,
) -> ServerHandle:
    """Start a fresh PostgreSQL cluster with superuser `user` (trust auth on 127.0.0.1 only).

    The handle's `url` is ``postgresql://USER@127.0.0.1:PORT/DATABASE``.
    """
    owner, started = _os_user(), time.monotonic()
    with _workdir("postgres", owner) as workdir:
        _initdb(workdir / "data", user, owner)

        def launch(port: int) -> ServerHandle:
            argv = [
                postgres_binary("postgres"), "-D", str(workdir / "data"), "-p", str(port),
                "-k", str(workdir), "-c", f"listen_addresses={HOST}", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            ]  # fmt: skip
            url = f"postgresql://{user}@{HOST}:{port}/{database}"
            ready = _pg_ready_probe(port, user)
            spec = _Launch("postgres", argv, url, port, workdir, ready, signal.SIGINT, owner)
            return _launch(spec, timeout=timeout, detached=detached)

        handle = _on_free_port(port, launch)
        _createdb(handle, database, user)
        handle.startup_seconds = time.monotonic() - started  # initdb and createdb included
        return handle


def _initdb(datadir: Path, user: str, owner: str | None) -> None:
    argv = [
        postgres_binary("initdb"), "-D", str(datadir), "-U", user, "--auth=trust",
        "--encoding=UTF8", "--locale=C", "--no-sync",
    ]  # fmt: skip
    done = _run(_wrap(argv, user=owner, death_signal=None), cwd=datadir.parent)
    if done.returncode != 0:
        raise ServiceStartError(f"initdb failed ({done.returncode})", done.stdout + done.stderr)


def _pg_ready_probe(port: int, user: str) -> Callable[[], bool]:
    argv = [postgres_binary("pg_isready"), "-q", "-t", "1", "-h", HOST, "-p", str(port)]
    argv += ["-U", user, "-d", "postgres"]
    return lambda: subprocess.run(argv, check=False).returncode == 0


def _createdb(handle: ServerHandle, database: str, user: str) -> None:
    argv = [postgres_binary("createdb"), "-h", HOST, "-p", str(handle.port), "-U", user]
    done = _run([*argv, database])
    if done.returncode != 0:
        handle.stop()
        raise ServiceStartError(f"createdb {database} failed", done.stdout + done.stderr)


STARTERS: dict[str, Callable[..., ServerHandle]] = {
    "prometheus": start_prometheus,
    "alertmanager": start_alertmanager,
    "postgres": start_postgres,
}


# ---------------------------------------------------------------------------- CLI


def _state_path(name: str) -> Path:
    return STATE_DIR / f"{name}.json"


def _pid_alive(pid: int) -> bool:
    """Tell whether `pid` runs; a zombie (nobody reaps orphans here) counts as ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _cli_start(args: argparse.Namespace) -> int:
    state = _state_path(args.name)
    if state.exists() and _pid_alive((running := json.loads(state.read_text()))["pid"]):
        print(f"{args.name} already runs: {running['url']}", file=sys.stderr)
        return 1
    install([args.name])
    kwargs: dict[str, object] = {"port": args.port, "detached": True}
    if args.name == "prometheus":
        kwargs |= {"targets": args.target, "rule_files": args.rules, "alertmanager": args.am}
        kwargs["scrape_interval"] = args.scrape_interval
    if args.name == "alertmanager":
        kwargs["webhook_url"] = args.webhook
    handle = STARTERS[args.name](**kwargs)
    STATE_DIR.mkdir(exist_ok=True)
    record = {"pid": handle.process.pid, "url": handle.url, "signal": handle.stop_signal}
    state.write_text(json.dumps({**record, "workdir": str(handle.workdir)}))
    print(f"{args.name} ready in {handle.startup_seconds:.2f} s: {handle.url}")
    print(f"  log {handle.log_path}; stop with: python tools/services.py stop {args.name}")
    return 0


def _cli_stop(args: argparse.Namespace) -> int:
    state = _state_path(args.name)
    if not state.exists():
        print(f"{args.name} is not running (no {state})", file=sys.stderr)
        return 1
    record = json.loads(state.read_text())
    pid, deadline = record["pid"], time.monotonic() + 15
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, record["signal"])
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(record["workdir"], ignore_errors=True)
    state.unlink()
    print(f"{args.name} stopped")
    return 0


def _cli_status(_: argparse.Namespace) -> int:
    for name in SERVICES:
        try:
            where = _binary(name)
        except ServiceStartError:
            where = "not installed"
        state = _state_path(name)
        record = json.loads(state.read_text()) if state.exists() else None
        running = record is not None and _pid_alive(record["pid"])
        status = f"pid {record['pid']} {record['url']}" if running and record else "stopped"
        print(f"{name:13} {status:60} {where}")
    return 0


def _cli_install(args: argparse.Namespace) -> int:
    started = time.monotonic()
    plan = install(dry_run=args.dry_run)
    for cmd in plan:
        print(("would run: " if args.dry_run else "ran: ") + " ".join(cmd))
    print(f"install: {len(plan)} command(s), {time.monotonic() - started:.1f} s")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tools/services.py", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="apt-get install what is missing").add_argument(
        "--dry-run", action="store_true", help="print the apt commands, run nothing"
    )
    start = sub.add_parser("start", help="start a detached server, print its URL")
    start.add_argument("name", choices=SERVICES)
    start.add_argument("--port", type=int, help="default: a free port")
    start.add_argument("--target", action="append", default=[], help="prometheus: host:port")
    start.add_argument("--rules", action="append", default=[], help="prometheus: rule file")
    start.add_argument("--am", help="prometheus: alertmanager host:port")
    start.add_argument("--scrape-interval", default="1s", help="prometheus (default 1s)")
    start.add_argument("--webhook", help="alertmanager: receiver webhook URL")
    sub.add_parser("stop", help="stop a server started here").add_argument("name", choices=SERVICES)
    sub.add_parser("status", help="installed binaries and running servers")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    commands = {
        "install": _cli_install, "start": _cli_start, "stop": _cli_stop, "status": _cli_status,
    }  # fmt: skip
    try:
        return commands[args.command](args)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
