"""Publishing events with kafka-python, keyed by `dossier_id` (docs/domain.md), so all events
of one dossier land on one partition, in order.

`produce_file` feeds a JSONL history into the events topic as fast as the broker takes it;
`produce_paced` publishes generated events at a given rate (a simulation played live).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec
from kafka.errors import KafkaTimeoutError
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from dossierflow.kafka.diagnosis import KafkaRefused, connection_refusal_now
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.schemas.event import decode_event, file_lines, rejection_reason


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


EVENTS_PRODUCER_CONFIGS: Mapping[str, Any] = {
    "acks": "all",
    "linger_ms": 20,
    "batch_size": 256 * 1024,
}
"""Every event is acknowledged by all in-sync replicas before it counts as published."""


class RefusalCheck:
    """Asks the broker why, when it has settled none of the events waiting for `after`
    seconds: kafka-python retries a refused authentication (a password changed while
    publishing, the connection made anew) until each event's delivery timeout, in silence;
    `check` raises the refusal (`kafka/diagnosis.py`) so the run ends said as such. A
    broker that is only down answers nothing, and the producer goes on waiting."""

    def __init__(self, bootstrap: str, security: KafkaSecurity, after: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.security = security
        self.after = after
        self._sent = self._settled = 0
        self._waiting_since: float | None = None
        """Since when events wait with none settled (None: none waits)."""
        self._asked_at = -float("inf")
        self._lock = threading.Lock()
        """`sent` runs on the caller's thread, `_settle` on the producer's."""

    def sent(self, future: Any) -> None:
        with self._lock:
            self._sent += 1
            if self._waiting_since is None:
                self._waiting_since = time.monotonic()
        future.add_both(self._settle)

    def _settle(self, _outcome: Any) -> None:  # the producer's thread
        with self._lock:
            self._settled += 1
            self._waiting_since = None if self._settled >= self._sent else time.monotonic()

    def flush(self, producer: Any) -> None:
        """`producer.flush()`, checking for a refusal each second: one that comes after the
        last send would otherwise wait out every event's delivery timeout."""
        while True:
            try:
                producer.flush(timeout=1.0)
                return
            except KafkaTimeoutError:
                self.check()

    def check(self) -> None:
        with self._lock:
            waiting_since = self._waiting_since
        now = time.monotonic()
        if waiting_since is None or now - max(waiting_since, self._asked_at) < self.after:
            return
        self.ask()

    def ask(self) -> None:
        """Ask the broker now; raise its refusal, if it refuses this client."""
        self._asked_at = time.monotonic()
        refusal = connection_refusal_now(self.bootstrap, self.security)
        if refusal is not None:
            raise refusal


@contextmanager
def _closed_after(producer: Any) -> Iterator[None]:
    """Close `producer` when the block ends; at once after a refusal, whose pending events
    cannot be delivered (a close would wait for each one's delivery timeout)."""
    try:
        yield
    except KafkaRefused:
        close_at_once(producer)
        raise
    except BaseException:
        producer.close()
        raise
    producer.close()


def close_at_once(producer: Any) -> None:
    """Close a producer whose pending events cannot be delivered (Kafka refused it): they
    fail now (their futures' errbacks), not at their delivery timeout. kafka-python's
    close(timeout) flushes first and raises on what is left, so its sender is stopped
    without sending (`force_close`, kafka-python 3.0.12)."""
    producer._sender.force_close()
    producer._sender.join(10)
    producer.close(timeout=0)


def events_producer(
    bootstrap: str,
    client_id: str,
    *,
    security: KafkaSecurity | None = None,
    configs: Mapping[str, Any] | None = None,
) -> Any:
    """A kafka-python producer of events (`EVENTS_PRODUCER_CONFIGS`, then `configs`), with
    the process's Kafka security (`KafkaSecurity.from_env` unless given)."""
    from kafka import KafkaProducer

    security = security or KafkaSecurity.from_env()
    options = {**EVENTS_PRODUCER_CONFIGS, "client_id": client_id, **(configs or {})}
    return KafkaProducer(
        bootstrap_servers=bootstrap, **options, **security.as_kafka_python_kwargs()
    )


def send_event(producer: Any, topic: str, dossier_id: str, value: bytes) -> Any:
    """Send one encoded event keyed by its dossier (one partition per dossier, in order);
    returns kafka-python's future of its acknowledgement."""
    return producer.send(topic, key=dossier_id.encode("utf-8"), value=value)


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
    path = Path(path)
    err = stderr if stderr is not None else sys.stderr
    total = path.stat().st_size
    security = security or KafkaSecurity.from_env()
    producer = events_producer(bootstrap, "dossierflow-produce", security=security,
                               configs=producer_configs)
    refusals = RefusalCheck(bootstrap, security)
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
    with _closed_after(producer):
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
                        except Exception as exc:  # InvalidEvent; any other is a bug: skip too
                            bad.report(f"{path}:{lineno}: {rejection_reason(exc)}")
                        else:
                            future = send_event(producer, topic, event.dossier_id, line)
                            future.add_errback(on_error(lineno))
                            refusals.sent(future)
                            published += 1
                    refusals.check()
                    if progress_bar is not None and task is not None and lineno % 2000 == 0:
                        progress_bar.update(task, completed=source.tell(), events=published)
                bytes_read = source.tell()
            refusals.flush(producer)
            if progress_bar is not None and task is not None:
                progress_bar.update(task, completed=bytes_read, events=published)
        finally:
            if progress_bar is not None:
                progress_bar.stop()
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


def produce_paced(
    bootstrap: str,
    topic: str,
    events: Iterable[dict[str, Any]],
    rate: float | None = None,
    *,
    security: KafkaSecurity | None = None,
    on_sent: Callable[[dict[str, Any]], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProduceResult:
    """Publish `events` in order, at most `rate` per second (None: as fast as possible).

    `on_sent` sees each event once it is handed to the producer; `should_stop` is asked
    between events. Returns after every sent event is acknowledged (or failed).
    """
    encode = msgspec.json.Encoder().encode
    security = security or KafkaSecurity.from_env()
    producer = events_producer(bootstrap, "dossierflow-simulate", security=security,
                               configs={"linger_ms": 5})
    refusals = RefusalCheck(bootstrap, security)
    failed: list[BaseException] = []
    published = size = 0
    started = time.monotonic()
    with _closed_after(producer):
        for event in events:
            if should_stop():
                break
            if rate:
                # Sleep to the event's slot rather than a fixed pause, so time spent
                # producing does not slow the rate down.
                ahead = started + published / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            value = encode(event)
            future = send_event(producer, topic, event["dossier_id"], value)
            future.add_errback(failed.append)
            refusals.sent(future)
            refusals.check()
            published += 1
            size += len(value)
            if on_sent is not None:
                on_sent(event)
        refusals.flush(producer)
    return ProduceResult(
        published=published - len(failed), bad=0, failed=len(failed), lines=published,
        bytes_read=size, seconds=time.monotonic() - started,
    )
