"""A real Apache Kafka broker (KRaft, one node) for development and the test suite.

The broker jars come from Maven Central through the POM shipped in the package
(`dossierflow/kafka/broker/pom.xml`, with the broker's configuration templates) into the
user's cache (`~/.cache/dossierflow/kafka/<version>/`), so `dossierflow kafka start` works
from a plain `pip install` (no Docker, no downloads outside the package registries). The
broker runs as a plain `java` child
process in its own process group, so `dossierflow kafka stop` from another shell, a
test-session teardown and Ctrl-C in the starting terminal all behave predictably.
A pid file in the data dir records pid and ports for `status`/`stop` from other processes.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from xml.etree import ElementTree

from dossierflow import config
from dossierflow.config import setting
from dossierflow.errors import DossierflowError
from dossierflow.kafka.broker_security import BrokerSecurity
from dossierflow.kafka.security import KafkaSecurity

KAFKA_HOME_ENV = "DOSSIERFLOW_KAFKA_HOME"
PORT_ENV = "DOSSIERFLOW_KAFKA_PORT"
DEFAULT_PORT = 9092
DEFAULT_HOST = "127.0.0.1"
DEFAULT_HEAP = ("256m", "512m")
"""(-Xms, -Xmx): the dev/test machine has 2 shared cores; keep the JVM small."""

_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:CICompilerCount=2",
    "-Djava.awt.headless=true",
)
_LOG_TAIL_LINES = 40
_COMPLETE_MARKER = ".complete"


class KafkaLocalError(DossierflowError, RuntimeError):
    """The local broker could not be provisioned, started or stopped."""


class KafkaAlreadyRunning(KafkaLocalError):
    """A broker recorded in the data dir's pid file is still alive."""


def _default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    return (config.data_home(environ) / "kafka").resolve()


def _shipped_home(environ: Mapping[str, str] | None = None) -> Path:
    return Path(str(resources.files("dossierflow.kafka").joinpath("broker")))


@dataclass(frozen=True)
class LocalBrokerSettings:
    """Settings of `dossierflow kafka start|stop|status` (a development broker)."""

    ENV_PREFIX: ClassVar[str] = "DOSSIERFLOW_KAFKA_"

    port: int = setting(
        DEFAULT_PORT, "client port of the local broker; when one runs from the data dir, "
        "its port comes first", minimum=1, option="--port", metavar="PORT",
    )
    data_dir: Path | None = setting(
        None, "the broker's data, pid file and log (default: $XDG_DATA_HOME/dossierflow/kafka, "
        "i.e. ~/.local/share/dossierflow/kafka)", option="--data-dir", metavar="DIR",
        fallback=_default_data_dir,
    )
    timeout: float = setting(
        60.0, "seconds `kafka start` waits for the broker to answer and `kafka stop` for it "
        "to exit", minimum=0, option="--timeout", metavar="SECONDS",
    )
    home: Path | None = setting(
        None, "a folder with another pom.xml, server.properties and log4j.properties "
        "(default: the ones shipped in the package)", fallback=_shipped_home,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalBrokerSettings:
        return config.load(cls, environ)


def kafka_home() -> Path:
    """Folder with pom.xml, server.properties and log4j.properties: the package's own, or
    $DOSSIERFLOW_KAFKA_HOME."""
    override = LocalBrokerSettings.from_env().home
    return override.resolve() if override else _shipped_home()


def jars_home() -> Path:
    """Where the jars of each Kafka version are collected: the user's cache."""
    return config.cache_home() / "kafka"


def default_data_dir() -> Path:
    configured = LocalBrokerSettings.from_env().data_dir
    return configured.resolve() if configured else _default_data_dir()


def default_port() -> int:
    try:
        return LocalBrokerSettings.from_env().port
    except config.ConfigError as exc:
        raise KafkaLocalError(str(exc)) from None


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on right now (tests start brokers on these)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise KafkaLocalError("`java` not found: install a JDK 17+ or set JAVA_HOME")
    return found


def _pom_digest(home: Path) -> str:
    return hashlib.sha256((home / "pom.xml").read_bytes()).hexdigest()


def kafka_version(home: Path | None = None) -> str:
    """The Kafka version pinned in pom.xml (`kafka.version`), the single source of truth."""
    pom = (home or kafka_home()) / "pom.xml"
    try:
        root = ElementTree.parse(pom).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise KafkaLocalError(f"cannot read {pom}: {exc}") from None
    node = root.find("m:properties/m:kafka.version", {"m": "http://maven.apache.org/POM/4.0.0"})
    if node is None or not (node.text or "").strip():
        raise KafkaLocalError(f"{pom} has no <kafka.version> property")
    return (node.text or "").strip()


def ensure_jars(home: Path | None = None) -> Path:
    """Make sure the cache's kafka/<kafka.version>/ holds the jars for the current pom.xml;
    returns that folder.

    Maven runs only when that folder is missing or was collected for another pom.xml (a
    marker stores the pom's digest). One folder per version means an upgrade never swaps
    jars under a broker that is running; a file lock serialises concurrent processes
    sharing the cache, so nobody starts a broker from a half-copied folder. Maven runs on a
    copy of the POM in the cache: the package folder may be read-only.
    """
    home = home or kafka_home()
    pom = home / "pom.xml"
    if not pom.is_file():
        raise KafkaLocalError(f"{pom} not found (check {KAFKA_HOME_ENV})")
    version = kafka_version(home)
    libs = jars_home() / version
    digest = _pom_digest(home)
    if _collected(libs, digest):
        return libs
    jars_home().mkdir(parents=True, exist_ok=True)
    with open(jars_home() / "libs.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _collected(libs, digest):
            return libs  # another process finished while we waited
        mvn = shutil.which("mvn")
        if mvn is None:
            raise KafkaLocalError("`mvn` not found: install Maven 3.8+ to fetch the Kafka jars")
        build = jars_home() / "build"
        build.mkdir(exist_ok=True)
        shutil.copyfile(pom, build / "pom.xml")
        # Only copies what is missing (overWriteReleases=false): never deletes a jar.
        cmd = [
            mvn, "-q", "-B", "-f", str(build / "pom.xml"), f"-Dkafka.libs.dir={libs}",
            "dependency:copy-dependencies",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not (libs / f"kafka_2.13-{version}.jar").is_file():
            output = (proc.stdout + proc.stderr).strip().splitlines()[-_LOG_TAIL_LINES:]
            raise KafkaLocalError(
                f"fetching the Kafka jars failed ({' '.join(cmd)}, exit {proc.returncode}):\n"
                + "\n".join(output)
            )
        (libs / _COMPLETE_MARKER).write_text(digest + "\n")
    return libs


def _collected(libs: Path, digest: str) -> bool:
    """`libs` holds every jar of the pom.xml whose digest is `digest` (its marker says so)."""
    marker = libs / _COMPLETE_MARKER
    return marker.is_file() and marker.read_text().strip() == digest


def jars_ready(home: Path | None = None) -> bool:
    """The jars of the current pom.xml are in the cache already (no Maven needed to start)."""
    home = home or kafka_home()
    return _collected(jars_home() / kafka_version(home), _pom_digest(home))


def kafka_classpath(home: Path | None = None) -> str:
    """`-cp` value for Kafka's Java tools (e.g. org.apache.kafka.tools.ConsumerPerformance)."""
    return str(ensure_jars(home) / "*")  # the JVM expands the wildcard itself


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (as Uuid).

    Like Kafka's `Uuid.randomUuid`, never one starting with "-": the storage tool's
    argument parser would take it for an option (1 start in 64 failed that way).
    """
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


@dataclass(frozen=True)
class BrokerStatus:
    """What the pid file records about a running broker."""

    pid: int
    host: str
    port: int
    controller_port: int
    data_dir: str
    log_file: str
    started_at: float

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def _process_alive(pid: int) -> bool:
    """True when `pid` runs (zombies count as dead), and is a Kafka broker if /proc says."""
    proc_dir = Path(f"/proc/{pid}")
    if proc_dir.parent.is_dir():
        try:
            stat = (proc_dir / "stat").read_text()
            cmdline = (proc_dir / "cmdline").read_bytes()
        except OSError:
            return False
        state = stat.rsplit(")", 1)[-1].split()[0]
        # A recycled pid belonging to some other program must never be signalled.
        return state not in ("Z", "X") and b"kafka.Kafka" in cmdline
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def term_with_parent() -> None:
    """In the forked child: ask Linux for SIGTERM when the parent goes (prctl PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no broker log)"
    return "\n".join(text.splitlines()[-lines:]) or "(broker log is empty)"


def _port_accepts(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _admin_lists_topics(bootstrap: str, security: KafkaSecurity) -> bool:
    """The broker answers metadata requests: it has joined its own KRaft quorum."""
    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
            client_id="dossierflow-kafka-local",
            **security.as_kafka_python_kwargs(),
        )
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


class LocalKafka:
    """One local Kafka broker+controller living in `data_dir` and listening on `port`.

    `port=None` means: the port recorded in the pid file when a broker is running there,
    else `DOSSIERFLOW_KAFKA_PORT`, else 9092. The controller listener takes a free port
    chosen at start unless `controller_port` is given. `die_with_parent=True` (tests)
    makes Linux SIGTERM the broker when the starting process dies, even by SIGKILL, so an
    aborted test run leaves no 512 MB JVM behind on a small shared machine. `security`
    turns the client listener into SASL_SSL with an authorizer (kafka/broker_security.py).
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        port: int | None = None,
        *,
        host: str = DEFAULT_HOST,
        controller_port: int | None = None,
        heap: tuple[str, str] = DEFAULT_HEAP,
        home: Path | None = None,
        startup_timeout: float = 60.0,
        die_with_parent: bool = False,
        security: BrokerSecurity | None = None,
    ) -> None:
        self.security = security
        self.data_dir = Path(data_dir).resolve() if data_dir else default_data_dir()
        self.host = host
        self.home = home or kafka_home()
        self.heap = heap
        self.startup_timeout = startup_timeout
        self._controller_port = controller_port
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None
        recorded = self.status()
        self.port = port or (recorded.port if recorded else default_port())

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def admin_security(self) -> KafkaSecurity:
        """How the admin (or anybody, on the PLAINTEXT broker) connects."""
        return self.security.client() if self.security else KafkaSecurity()

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    def status(self) -> BrokerStatus | None:
        """The running broker of this data dir, or None (a stale pid file is removed)."""
        try:
            raw: dict[str, Any] = json.loads(self.pid_file.read_text())
            status = BrokerStatus(**raw)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            self.pid_file.unlink(missing_ok=True)
            return None
        if _process_alive(status.pid):
            return status
        self.pid_file.unlink(missing_ok=True)
        return None

    def is_running(self) -> bool:
        return self.status() is not None

    def start(self) -> BrokerStatus:
        """Provision jars, format storage once, launch the broker and wait until it serves."""
        running = self.status()
        if running is not None:
            raise KafkaAlreadyRunning(
                f"a broker already runs from {self.data_dir} (pid {running.pid}, "
                f"{running.bootstrap})"
            )
        if not port_bindable(self.host, self.port):
            raise KafkaLocalError(f"port {self.host}:{self.port} is already in use")
        classpath = kafka_classpath(self.home)
        controller_port = self._controller_port or free_port(self.host)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_properties(controller_port)
        if not (self.log_dir / "meta.properties").is_file():
            self._format_storage(classpath)

        cmd = [
            java_executable(),
            f"-Xms{self.heap[0]}",
            f"-Xmx{self.heap[1]}",
            *_JVM_FLAGS,
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(self.properties_file),
        ]
        with open(self.log_file, "ab") as log:
            log.write(f"\n===== dossierflow: starting broker at {time.ctime()} =====\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # own process group: Ctrl-C elsewhere leaves it alone
                preexec_fn=term_with_parent if self.die_with_parent else None,
            )
        status = BrokerStatus(
            pid=self._proc.pid,
            host=self.host,
            port=self.port,
            controller_port=controller_port,
            data_dir=str(self.data_dir),
            log_file=str(self.log_file),
            started_at=time.time(),
        )
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(status)))
        tmp.replace(self.pid_file)
        try:
            self._wait_ready()
        except BaseException:
            self.stop(timeout=10.0)
            raise
        return status

    def _write_properties(self, controller_port: int) -> None:
        text = (self.home / "server.properties").read_text()
        if self.security is not None:
            text += "\n" + self.security.properties()
        text = string.Template(text).substitute(
            HOST=self.host,
            ADVERTISED_HOST=self.host,
            PORT=self.port,
            CONTROLLER_PORT=controller_port,
            LOG_DIR=self.log_dir,
        )
        self.properties_file.touch(mode=0o600)  # it may hold the admin's password
        self.properties_file.write_text(text)

    def _format_storage(self, classpath: str) -> None:
        cmd = [
            java_executable(),
            "-Xmx256m",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            new_cluster_id(),
            "--config",
            str(self.properties_file),
            *(self.security.format_arguments() if self.security else ()),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise KafkaLocalError(
                f"formatting {self.log_dir} failed (exit {proc.returncode}):\n"
                + (proc.stdout + proc.stderr).strip()
            )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise KafkaLocalError(
                    f"the Kafka broker exited with code {code} while starting; "
                    f"tail of {self.log_file}:\n{_log_tail(self.log_file)}"
                )
            if _port_accepts(self.host, self.port) and _admin_lists_topics(
                self.bootstrap, self.admin_security
            ):
                return
            time.sleep(0.25)
        raise KafkaLocalError(
            f"the Kafka broker did not serve {self.bootstrap} within {self.startup_timeout:.0f} s; "
            f"tail of {self.log_file}:\n{_log_tail(self.log_file)}"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM the broker's process group (a clean shutdown), SIGKILL after `timeout`.

        Returns False when no broker was running. Works from any process via the pid file.
        """
        status = self.status()
        if status is not None:
            pid = status.pid
        elif self._proc is not None and self._proc.poll() is None:
            pid = self._proc.pid  # our child, pid file lost
        else:
            self._proc = None  # never signal a pid that may have been recycled
            return False
        self._signal_group(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            self._signal_group(pid, signal.SIGKILL)
            self._wait_exit(pid, 10.0)
        self._proc = None
        self.pid_file.unlink(missing_ok=True)
        return True

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)  # pid == pgid: started with start_new_session

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            try:
                self._proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _process_alive(pid):
                return True
            time.sleep(0.1)
        return False

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalKafka(data_dir={str(self.data_dir)!r}, bootstrap={self.bootstrap!r})"
