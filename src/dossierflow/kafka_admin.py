"""Kafka administration and bulk publishing with kafka-python.

Topics are created explicitly (the broker runs with auto-create off), so partition
counts and retention are decisions, not accidents. `produce_file` feeds a JSONL history
into the events topic keyed by `dossier_id` (DOMAIN.md), so all events of one dossier
land on one partition, in file order. Connection security comes from the environment
(`KafkaSecurity.from_env`) so production credentials never sit in code or arguments.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from dossierflow.schemas.event import InvalidEvent, decode_event, file_lines

ENV_PREFIX = "DOSSIERFLOW_KAFKA_"
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


class KafkaConfigError(ValueError):
    """Kafka connection settings in the environment are incomplete or contradictory."""


class _RedactSecret(logging.Filter):
    """Masks a secret in log records: kafka-python logs its whole config at DEBUG."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, "***")
            record.args = None
        return True


_redacted: set[str] = set()
_redact_lock = threading.Lock()


def _redact_in_kafka_logs(secret: str) -> None:
    with _redact_lock:
        if secret in _redacted:
            return
        _redacted.add(secret)
        for name in ("kafka", "kafka.admin.client", "kafka.producer.kafka", "aiokafka"):
            logging.getLogger(name).addFilter(_RedactSecret(secret))


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate and encrypt (SASL/SCRAM, TLS); PLAINTEXT for local dev.

    Build it with `from_env()`; the password is read from the environment or a file and
    is left out of `repr()` so it cannot leak through logs or tracebacks.
    """

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def __post_init__(self) -> None:
        protocol = self.security_protocol
        if protocol not in SECURITY_PROTOCOLS:
            raise KafkaConfigError(
                f"{ENV_PREFIX}SECURITY_PROTOCOL={protocol!r}: expected one of "
                + ", ".join(SECURITY_PROTOCOLS)
            )
        if protocol.startswith("SASL"):
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise KafkaConfigError(
                    f"{protocol} needs {ENV_PREFIX}SASL_MECHANISM, one of "
                    + ", ".join(SASL_MECHANISMS)
                    + f" (got {self.sasl_mechanism!r})"
                )
            if not self.sasl_username or not self.sasl_password:
                raise KafkaConfigError(
                    f"{protocol} needs {ENV_PREFIX}SASL_USERNAME and {ENV_PREFIX}SASL_PASSWORD "
                    f"or {ENV_PREFIX}SASL_PASSWORD_FILE"
                )
        elif self.sasl_mechanism or self.sasl_username or self.sasl_password:
            raise KafkaConfigError(
                f"SASL settings are given but {ENV_PREFIX}SECURITY_PROTOCOL is {protocol}; "
                "use SASL_SSL or SASL_PLAINTEXT"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise KafkaConfigError(
                f"{ENV_PREFIX}SSL_CERTFILE and {ENV_PREFIX}SSL_KEYFILE go together"
            )
        if self.sasl_password:
            _redact_in_kafka_logs(self.sasl_password)

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read DOSSIERFLOW_KAFKA_{SECURITY_PROTOCOL,SASL_*,SSL_*}; unset means PLAINTEXT."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        password = env.get(ENV_PREFIX + "SASL_PASSWORD") or None
        password_file = get("SASL_PASSWORD_FILE")
        if password and password_file:
            raise KafkaConfigError(
                f"set only one of {ENV_PREFIX}SASL_PASSWORD and {ENV_PREFIX}SASL_PASSWORD_FILE"
            )
        if password_file:
            try:
                # Secret files (Docker/Kubernetes secrets) usually end with a newline.
                password = Path(password_file).read_text().rstrip("\r\n")
            except OSError as exc:
                raise KafkaConfigError(
                    f"{ENV_PREFIX}SASL_PASSWORD_FILE: cannot read {password_file}: {exc.strerror}"
                ) from None
        for name in ("SSL_CAFILE", "SSL_CERTFILE", "SSL_KEYFILE"):
            path = get(name)
            if path and not Path(path).is_file():
                raise KafkaConfigError(f"{ENV_PREFIX}{name}: {path} is not a file")
        return cls(
            security_protocol=(get("SECURITY_PROTOCOL") or "PLAINTEXT").upper(),
            sasl_mechanism=(get("SASL_MECHANISM") or "").upper() or None,
            sasl_username=get("SASL_USERNAME"),
            sasl_password=password,
            ssl_cafile=get("SSL_CAFILE"),
            ssl_certfile=get("SSL_CERTFILE"),
            ssl_keyfile=get("SSL_KEYFILE"),
        )

    def as_kafka_python_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for KafkaProducer/KafkaConsumer/KafkaAdminClient."""
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        if self.uses_ssl:
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                if getattr(self, key):
                    kwargs[key] = getattr(self, key)
        return kwargs

    def as_aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer/AIOKafkaConsumer: kafka-python's, but
        TLS as an SSLContext instead of file names."""
        kwargs = {
            key: value
            for key, value in self.as_kafka_python_kwargs().items()
            if not key.startswith("ssl_")
        }
        if self.uses_ssl:
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(
                cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile
            )
        return kwargs

    def as_faust_credentials(self) -> Any:
        """`broker_credentials` for a Faust app, or None for PLAINTEXT."""
        if self.security_protocol == "PLAINTEXT":
            return None
        import ssl

        import faust

        context: ssl.SSLContext | None = None
        if self.uses_ssl:
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        if self.sasl_mechanism:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        return faust.SSLCredentials(context)


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we want it: partitions, retention and cleanup policy.

    `retention_ms=None` keeps the broker default, -1 keeps data forever.
    `replication_factor=None` uses the broker's `default.replication.factor`.
    """

    name: str
    partitions: int = 1
    retention_ms: int | None = None
    compacted: bool = False
    replication_factor: int | None = None
    configs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 249:
            raise ValueError(f"invalid topic name {self.name!r}")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name}: partitions must be >= 1")

    def topic_configs(self) -> dict[str, str]:
        configs: dict[str, str] = {}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        configs.update(self.configs)
        return configs


@dataclass(frozen=True)
class EnsureTopicsResult:
    created: tuple[str, ...]
    existing: tuple[str, ...]
    partition_mismatch: tuple[tuple[str, int, int], ...] = ()
    """(name, wanted, actual) for existing topics whose partition count differs."""


_TOPIC_ALREADY_EXISTS = 36


def _security(security: KafkaSecurity | None) -> KafkaSecurity:
    return security if security is not None else KafkaSecurity.from_env()


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    security: KafkaSecurity | None = None,
    timeout_ms: int = 30_000,
) -> EnsureTopicsResult:
    """Create the topics that do not exist yet and wait until they have leaders.

    Existing topics are left as they are (changing partition counts re-partitions keys
    and breaks per-dossier ordering, so that stays a deliberate operator action); a
    partition-count mismatch is reported in the result and logged as a warning.
    """
    from kafka import KafkaAdminClient
    from kafka.errors import for_code

    wanted = {spec.name: spec for spec in specs}
    if not wanted:
        return EnsureTopicsResult((), ())
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="dossierflow-admin",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
        **_security(security).as_kafka_python_kwargs(),
    )
    try:
        present = set(admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in present]
        created: list[str] = []
        if missing:
            request = {
                spec.name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication_factor or -1,
                    "configs": spec.topic_configs(),
                }
                for spec in missing
            }
            response = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
            for topic in response["topics"]:
                code = topic["error_code"]
                if code == 0:
                    created.append(topic["name"])
                elif code != _TOPIC_ALREADY_EXISTS:  # lost a race with another creator: fine
                    error = for_code(code).__name__
                    detail = topic.get("error_message") or ""
                    raise RuntimeError(f"creating topic {topic['name']} failed: {error} {detail}")
        admin.wait_for_topics(list(wanted), timeout_ms=timeout_ms)
        mismatch: list[tuple[str, int, int]] = []
        existing = [name for name in wanted if name not in created]
        if existing:
            for info in admin.describe_topics(existing):
                actual = len(info["partitions"])
                if actual != wanted[info["name"]].partitions:
                    mismatch.append((info["name"], wanted[info["name"]].partitions, actual))
                    logging.getLogger(__name__).warning(
                        "topic %s exists with %d partitions, %d wanted; left unchanged",
                        info["name"],
                        actual,
                        wanted[info["name"]].partitions,
                    )
        return EnsureTopicsResult(tuple(created), tuple(existing), tuple(mismatch))
    finally:
        admin.close()


@dataclass(frozen=True)
class ProduceResult:
    """Counts of one `produce_file` run; `bad` lines were reported, never sent."""

    published: int
    bad: int
    failed: int
    lines: int
    bytes_read: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.published / self.seconds if self.seconds > 0 else 0.0


class _Reporter:
    """Bad-line and failure messages on stderr, through the progress console when shown."""

    def __init__(self, console: Console | None, stream: IO[str], limit: int) -> None:
        self._console = console
        self._stream = stream
        self._limit = limit
        self.count = 0

    def report(self, message: str) -> None:
        self.count += 1
        if self.count > self._limit:
            return
        if self._console is not None:
            self._console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self._stream)

    def finish(self, what: str) -> None:
        if self.count > self._limit:
            self.report(f"... and {self.count - self._limit} more {what} not shown")


def produce_file(
    bootstrap: str,
    topic: str,
    path: Path | str,
    progress: bool = True,
    *,
    security: KafkaSecurity | None = None,
    max_reported: int = 1000,
    stderr: IO[str] | None = None,
    producer_configs: Mapping[str, Any] | None = None,
) -> ProduceResult:
    """Publish every valid event of a JSONL file, keyed by `dossier_id`, value = the line.

    The original bytes are sent (not a re-encoding), so consumers see exactly what the
    source wrote. Invalid lines are reported as `FILE:LINE: reason` on stderr and counted,
    never fatal; blank lines are skipped. Returns after every sent event is acknowledged.
    """
    from kafka import KafkaProducer

    path = Path(path)
    err = stderr if stderr is not None else sys.stderr
    total = path.stat().st_size
    configs: dict[str, Any] = {
        "acks": "all",
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "client_id": "dossierflow-produce",
    }
    configs.update(producer_configs or {})
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, **configs, **_security(security).as_kafka_python_kwargs()
    )
    progress_bar: Progress | None = None
    if progress:
        progress_bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[events]} events"),
            TimeRemainingColumn(),
            console=Console(file=err),
            transient=False,
        )
    bad = _Reporter(progress_bar.console if progress_bar else None, err, max_reported)
    failures = _Reporter(progress_bar.console if progress_bar else None, err, 20)
    failed_lock = threading.Lock()

    def on_error(lineno: int) -> Any:
        def errback(exc: BaseException) -> None:
            with failed_lock:
                failures.report(f"{path}:{lineno}: not delivered: {exc!r}")

        return errback

    published = lines = bytes_read = 0
    started = time.monotonic()
    try:
        task = None
        if progress_bar is not None:
            progress_bar.start()
            task = progress_bar.add_task(f"{path.name} → {topic}", total=total, events=0)
        with path.open("rb") as source:
            for lineno, raw in enumerate(file_lines(source), start=1):
                lines = lineno
                line = raw.rstrip(b"\r\n")
                if line.strip():
                    try:
                        event = decode_event(line)
                    except InvalidEvent as exc:
                        bad.report(f"{path}:{lineno}: {exc.reason}")
                    else:
                        future = producer.send(
                            topic, key=event.dossier_id.encode("utf-8"), value=line
                        )
                        future.add_errback(on_error(lineno))
                        published += 1
                if progress_bar is not None and task is not None and lineno % 2000 == 0:
                    progress_bar.update(task, completed=source.tell(), events=published)
            bytes_read = source.tell()
        producer.flush()
        if progress_bar is not None and task is not None:
            progress_bar.update(task, completed=bytes_read, events=published)
    finally:
        if progress_bar is not None:
            progress_bar.stop()
        producer.close()
    bad.finish("bad lines")
    failures.finish("delivery failures")
    return ProduceResult(
        published=published - failures.count,
        bad=bad.count,
        failed=failures.count,
        lines=lines,
        bytes_read=bytes_read,
        seconds=time.monotonic() - started,
    )
