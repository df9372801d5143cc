"""The demo's run: broker, store, worker, sink, notifier and mailbox, then days played live.

Every part is the product's own command (`dossierflow worker`, `sink`, `notify`, `migrate`) in
a child process, talking to a real local Kafka broker, as in production; only the SMTP server
lives in this process (a thread of aiosmtpd), because it stands for the province's mail
relay. The profile's days of receipts (province-small: four weeks of March 2026) are produced
at a steady rate and the worker runs on event time (`--event-time`), so deadlines
pass as the events go by and the first alerts reach the mailbox within the first minute.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from dossierflow.demo.mailbox import LocalMailbox
from dossierflow.demo.processes import Children
from dossierflow.demo.view import Progress, ProgressView, email_line
from dossierflow.kafka.local_broker import LocalKafka
from dossierflow.reporting.report import Report, report_from_json, report_json
from dossierflow.reporting.report_table import report_table
from dossierflow.rules.catalog import Catalog
from dossierflow.simulate import Profile, generate_events, profile_start

PARTITIONS = 2
"""Enough to show keyed partitioning; more would only load the shared machine."""
TOPICS = {
    "events": "dossier-events",
    "alerts": "dossier-alerts",
    "facts": "dossier-facts",
    "dead_letter": "dossier-dead-letters",
}
"""By role; each child reads DOSSIERFLOW_<ROLE>_TOPIC, set to these whatever the shell has."""
STREAM_SECONDS = 45.0
"""Default wall time of the month's stream: short, yet slow enough to watch."""
_READY_TIMEOUT = 180.0
_SETTLE_TIMEOUT = 300.0
_POLL = 0.5
_AGREE_TIMEOUT = 120.0
"""How long the dashboard may take to agree with the report after the month (the sink asks
for a rebuild of its rollup within seconds of its last write; the schedule is a minute)."""
_SHOWN_MESSAGES = 12
NOTIFY_BATCH_WINDOW = 2
"""Seconds the notifier holds a head's alerts so that a burst leaves as one e-mail: short (the
product's default is 30), so the e-mails keep pace with the stream."""


class DemoError(RuntimeError):
    """The demo cannot go on; the message says what to do."""


@dataclass(frozen=True)
class Ports:
    kafka: int
    http: int
    """The sink: /report, /metrics, /healthz."""
    smtp: int
    worker_metrics: int
    notify_metrics: int


@dataclass
class Counters:
    """What the live view shows; written by the producer and mailbox threads."""

    total: int = 0
    sent: int = 0
    latest_occurred_at: float = 0.0
    """POSIX seconds of the latest `occurred_at` sent: where the worker's clock ends."""
    produced_done: bool = False
    messages: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, subject: str, recipients: list[str]) -> None:
        with self.lock:
            self.messages.append((subject, recipients))


@dataclass(frozen=True)
class DemoResult:
    events: int
    alerts_published: int
    messages_delivered: int
    report: Report


def demo_recipients(catalog: Catalog) -> dict[str, Any]:
    """One head per unit and a province operations desk, reachable at any hour: the demo
    runs whatever the time of day, while `office` people would wait for the next opening."""
    def person(pid: str, name: str, role: str) -> dict[str, Any]:
        return {"id": pid, "name": name, "role": role,
                "email": f"{pid}@demo.dossierflow.invalid", "hours": "always"}

    units = {
        code: {"heads": [person(f"lanh-dao-{code.lower()}", f"Lãnh đạo {unit.name}",
                                "Thủ trưởng")]}
        for code, unit in sorted(catalog.units.items())
    }
    desk = person("truc-ban", "Trực ban Trung tâm phục vụ hành chính công", "Trực ban")
    return {"units": units, "province_operations": [desk]}


class Demo:
    def __init__(
        self, directory: Path, ports: Ports, profile: Profile, catalog: Catalog, seed: int,
        days: int, rate: float | None, console: Console, lang: str = "vi",
    ) -> None:
        self.dir = directory.resolve()
        self.ports = ports
        self.profile, self.catalog, self.seed, self.days = profile, catalog, seed, days
        self.rate = rate
        self.console = console
        self.lang = lang
        self.counters = Counters()
        self.children = Children(self.dir / "logs")
        self.broker: LocalKafka | None = None
        self.mailbox: LocalMailbox | None = None
        self._stop = threading.Event()
        self._producer: threading.Thread | None = None
        self._produce_error: BaseException | None = None
        self._offsets: Any = None
        """The kafka-python consumer asked for the topics' ends while the pipeline settles:
        one for the run, not a new connection at every look."""

    # --- addresses ----------------------------------------------------------------------

    @property
    def store_url(self) -> str:
        return f"chdb://{self.dir / 'clickhouse'}"

    @property
    def sink_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    @property
    def period(self) -> tuple[date, date]:
        """First and last day of receipts (the report's `from` and `through`)."""
        first = self.profile.start
        return first, first + timedelta(days=self.days - 1)

    # --- start and stop -----------------------------------------------------------------

    def start(self) -> None:
        running = LocalKafka(self.dir / "kafka").status()
        if running is not None:  # wiping its folder would break another demo's run
            raise DemoError(f"a demo already runs from {self.dir} (its broker is pid "
                            f"{running.pid}): stop it with Ctrl-C, or give another --dir")
        self._fresh_directory()
        say = self.console.print
        self.mailbox = LocalMailbox(self.dir / "maildir", self.ports.smtp,
                                    self.counters.on_message)
        self.mailbox.start()
        say(f"[green]✓[/] SMTP server (aiosmtpd, a thread of this process standing for the "
            f"province's mail relay) on 127.0.0.1:{self.ports.smtp}, filing each e-mail in "
            f"{self.dir / 'maildir' / 'new'}")
        self.broker = LocalKafka(self.dir / "kafka", self.ports.kafka, die_with_parent=True)
        say(f"  starting Kafka on {self.bootstrap} …")
        self.broker.start()
        self._create_topics()
        say(f"[green]✓[/] Kafka on {self.bootstrap} (log {self.broker.log_file})")
        say("  migrating the store (`dossierflow migrate`) …")
        self._migrate()
        say(f"[green]✓[/] ClickHouse (embedded chDB) migrated: {self.dir / 'clickhouse'}")
        say("  starting `dossierflow worker`, `sink` and `notify` as child processes, until "
            "each answers …")
        self._start_pipeline()
        self._wait_ready()
        say(f"[green]✓[/] worker (metrics :{self.ports.worker_metrics}), sink "
            f"({self.sink_url}), notifier (metrics :{self.ports.notify_metrics}); "
            f"logs in {self.dir / 'logs'}")
        say(f"  e-mails: the notifier holds a unit head's alerts {NOTIFY_BATCH_WINDOW} s, so "
            "that a burst leaves as one e-mail whose subject counts its alerts; an alert alone "
            "leaves as one whose subject names its kind and dossier")

    def stop(self) -> None:
        self._stop.set()
        if self._producer is not None:
            self._producer.join(timeout=30)
        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        self.children.stop_all()
        if self.broker is not None:
            self.broker.stop()
        if self.mailbox is not None:
            self.mailbox.stop()

    def _fresh_directory(self) -> None:
        # Each run starts from nothing, so its report counts only its own month.
        for name in ("kafka", "clickhouse", "maildir", "logs", "notify.sqlite", "worker"):
            path = self.dir / name
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)

    def _create_topics(self) -> None:
        from dossierflow.kafka.topics import TopicSpec, ensure_topics

        # Created here, before any consumer subscribes, with the partitions the worker wants.
        ensure_topics(self.bootstrap, [TopicSpec(t, PARTITIONS) for t in TOPICS.values()])

    def _migrate(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "dossierflow.cli", "migrate", "--store", self.store_url],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise DemoError(f"migrating the store failed: {proc.stderr.strip()}")

    def _start_pipeline(self) -> None:
        recipients = self.dir / "recipients.yaml"
        recipients.write_text(
            "# Written by `dossierflow demo`: every unit's head, reachable at any hour.\n"
            + yaml.safe_dump(demo_recipients(self.catalog), allow_unicode=True, sort_keys=False)
        )
        kafka = {"DOSSIERFLOW_BOOTSTRAP": self.bootstrap} | {
            f"DOSSIERFLOW_{role.upper()}_TOPIC": topic for role, topic in TOPICS.items()
        }
        self.children.start("worker", [
            "worker", "--bootstrap", self.bootstrap, "--app-id", "dossierflow-demo",
            "--event-time", "--store", "memory://", "--data-dir", str(self.dir / "worker"),
            "--partitions", str(PARTITIONS), "--metrics-port", str(self.ports.worker_metrics),
        ], kafka)
        self.children.start("sink", [
            "sink", "--bootstrap", self.bootstrap, "--store", self.store_url,
            "--http-host", "127.0.0.1", "--http-port", str(self.ports.http),
            "--batch-max-age", "0.5",
        ], kafka)
        self.children.start("notifier", [
            "notify", "--recipients", str(recipients), "--bootstrap", self.bootstrap,
            "--state", str(self.dir / "notify.sqlite"),
            "--metrics-port", str(self.ports.notify_metrics),
        ], {
            **kafka,
            "DOSSIERFLOW_SMTP_HOST": "127.0.0.1",
            "DOSSIERFLOW_SMTP_PORT": str(self.ports.smtp),
            "DOSSIERFLOW_SMTP_STARTTLS": "false",  # the local mailbox, on the loopback only
            "DOSSIERFLOW_NOTIFY_BATCH_WINDOW": str(NOTIFY_BATCH_WINDOW),
            "DOSSIERFLOW_NOTIFY_MORNING_DIGEST": "false",
        })

    def _wait_ready(self) -> None:
        urls = {
            "worker": f"http://127.0.0.1:{self.ports.worker_metrics}/metrics",
            "sink": f"{self.sink_url}/healthz",
            "notifier": f"http://127.0.0.1:{self.ports.notify_metrics}/metrics",
        }
        deadline = time.monotonic() + _READY_TIMEOUT
        waiting = dict(urls)
        while waiting:
            self.children.check()
            for name, url in list(waiting.items()):
                if _get(url) is not None:
                    del waiting[name]
            if time.monotonic() > deadline:
                raise DemoError(f"no answer from {', '.join(waiting)} after "
                                f"{_READY_TIMEOUT:.0f} s; see {self.dir / 'logs'}")
            time.sleep(_POLL)

    # --- the month ----------------------------------------------------------------------

    def stream_month(self) -> DemoResult:
        """Produce the month at the chosen rate while showing progress; returns when the
        worker, the sink and the notifier have handled everything."""
        events = list(generate_events(
            None, self.seed, self.catalog, profile_start(self.profile), self.days,
            profile=self.profile,
        ))
        with (self.dir / "events.jsonl").open("w") as out:
            for event in events:
                out.write(json.dumps(event, ensure_ascii=False) + "\n")
        self.counters.total = len(events)
        rate = self.rate or max(20.0, len(events) / STREAM_SECONDS)
        self.console.print(
            f"  streaming {len(events):,} events of {self.period[0]:%d/%m/%Y}–"
            f"{self.period[1]:%d/%m/%Y} at {rate:,.0f} events/s (the worker runs on event time)"
        )
        self._producer = threading.Thread(
            target=self._produce, args=(events, rate), name="demo-producer", daemon=True
        )
        self._producer.start()
        shown = settled = 0
        started = time.monotonic()
        with ProgressView(self.console, self._progress(_Scrape.empty(), 0)) as view:
            while True:
                self.children.check()
                if self._produce_error is not None:
                    raise DemoError(f"producing failed: {self._produce_error}")
                scrape = self._scrape()
                with self.counters.lock:
                    new = self.counters.messages[shown:]
                    delivered = len(self.counters.messages)
                for subject, rcpt in new:
                    if shown < _SHOWN_MESSAGES:
                        view.note(email_line(subject, rcpt))
                    elif shown == _SHOWN_MESSAGES:
                        view.note(f"  ✉ … the next ones are in {self.dir / 'maildir' / 'new'}")
                    shown += 1
                view.update(self._progress(scrape, delivered))
                # Twice in a row: a fact still in the worker's outbox when the first look
                # found everything consumed shows up in the topic's end by the second.
                settled = settled + 1 if self._settled(scrape, delivered) else 0
                if settled >= 2:
                    break
                if time.monotonic() - started > _SETTLE_TIMEOUT + len(events) / rate:
                    raise DemoError(f"the pipeline did not settle; see {self.dir / 'logs'}")
                time.sleep(_POLL)
        report = self.fetch_report()
        (self.dir / "report.json").write_text(
            json.dumps(report_json(report), ensure_ascii=False, indent=1)
        )
        return DemoResult(len(events), int(scrape.alerts), delivered, report)

    def _produce(self, events: list[dict[str, Any]], rate: float) -> None:
        from dossierflow.kafka.producer import produce_paced

        def sent(event: dict[str, Any]) -> None:
            self.counters.sent += 1
            occurred = datetime.fromisoformat(event["occurred_at"]).timestamp()
            self.counters.latest_occurred_at = max(self.counters.latest_occurred_at, occurred)

        try:
            result = produce_paced(self.bootstrap, TOPICS["events"], events, rate,
                                   on_sent=sent, should_stop=self._stop.is_set)
            if result.failed:
                raise DemoError(f"{result.failed} events were not delivered to Kafka")
        except BaseException as exc:  # reported by the main thread, which owns the console
            self._produce_error = exc
        finally:
            self.counters.produced_done = True

    def _scrape(self) -> _Scrape:
        worker = _metrics(f"http://127.0.0.1:{self.ports.worker_metrics}/metrics")
        notifier = _metrics(f"http://127.0.0.1:{self.ports.notify_metrics}/metrics")
        health = _get(f"{self.sink_url}/healthz")
        committed = json.loads(health).get("committed", {}) if health else {}
        return _Scrape(
            consumed=_total(worker, "dossierflow_events_total"),
            alerts=_total(worker, "dossierflow_alerts_total"),
            watermark=_total(worker, "dossierflow_event_time_watermark_seconds"),
            lag=_total(worker, "dossierflow_consumer_lag"),
            alerts_received=_total(notifier, "dossierflow_notify_alerts_received_total"),
            sent=_total(notifier, "dossierflow_notify_deliveries_total", result="sent"),
            waiting=_total(notifier, "dossierflow_notify_digests_waiting")
            + _total(notifier, "dossierflow_notify_unsent_messages"),
            stored_offsets=sum(
                int(offset) for key, offset in committed.items()
                if key.split("/")[0] in (TOPICS["facts"], TOPICS["alerts"])
            ),
            topic_ends=self._topic_ends() if self.counters.produced_done else -1,
        )

    def _topic_ends(self) -> int:
        from kafka import KafkaConsumer, TopicPartition

        if self._offsets is None:
            self._offsets = KafkaConsumer(bootstrap_servers=self.bootstrap)
        partitions = [TopicPartition(TOPICS[t], p)
                      for t in ("facts", "alerts") for p in range(PARTITIONS)]
        return int(sum(self._offsets.end_offsets(partitions).values()))

    def _settled(self, s: _Scrape, delivered: int) -> bool:
        c = self.counters
        return (
            c.produced_done and s.consumed >= c.sent and s.lag == 0
            and s.stored_offsets == s.topic_ends
            and s.alerts_received >= s.alerts and s.waiting == 0 and delivered >= s.sent
            # The last alerts are due once the clock reaches the last event, which waits
            # until every partition was quiet for a while (streams/watermark.py).
            and s.watermark >= c.latest_occurred_at
        )

    def _progress(self, s: _Scrape, delivered: int) -> Progress:
        clock = (datetime.fromtimestamp(s.watermark, self.catalog.calendar.tz)
                 .strftime("%d/%m/%Y %H:%M") if s.watermark else "–")
        return Progress(clock, self.counters.sent, self.counters.total, int(s.consumed),
                        int(s.alerts), int(s.alerts_received), delivered)

    def fetch_report(self) -> Report:
        first, last = self.period
        body = _get(f"{self.sink_url}/report?from={first.isoformat()}&through="
                    f"{last.isoformat()}&format=json", timeout=120)
        if body is None:
            raise DemoError(f"the sink at {self.sink_url} gave no report")
        return report_from_json(json.loads(body))

    def wait_until_dashboard_agrees(self, report: Report) -> None:
        """Until the dashboard's figures (the rollup, rebuilt after the sink's last writes)
        equal `report` (the live one just printed), so that the link printed next never
        shows other numbers; a DemoError if they still differ after `_AGREE_TIMEOUT`."""
        first, last = self.period
        url = f"{self.sink_url}/api/dashboard?from={first.isoformat()}&through={last.isoformat()}"
        deadline = time.monotonic() + _AGREE_TIMEOUT
        shown: Report | None = None
        while True:
            self.children.check()
            body = _get(url, timeout=60)
            with contextlib.suppress(ValueError):
                shown = report_from_json(json.loads(body)) if body else None
            if shown == report:
                return
            if time.monotonic() > deadline:
                received = shown.total.received if shown else "no answer"
                raise DemoError(
                    f"the dashboard still differs from the report after {_AGREE_TIMEOUT:.0f} s "
                    f"(received {received} against {report.total.received}); see "
                    f"{self.dir / 'logs'}"
                )
            time.sleep(_POLL)

    def report_heading(self) -> str:
        """What the report printed next covers: the days streamed, not a calendar month."""
        first, last = self.period
        return (f"The report of the {self.days} days of receipts streamed, {first:%d/%m/%Y} to "
                f"{last:%d/%m/%Y} (both included), as the sink's /report gives it:")

    def print_report(self, report: Report) -> None:
        self.console.print()
        self.console.print(self.report_heading())
        self.console.print(report_table(report, self.lang))


@dataclass(frozen=True)
class _Scrape:
    consumed: float
    alerts: float
    watermark: float
    lag: float
    alerts_received: float
    sent: float
    waiting: float
    stored_offsets: int
    topic_ends: int

    @classmethod
    def empty(cls) -> _Scrape:
        return cls(0, 0, 0, 0, 0, 0, 0, 0, -1)


def _get(url: str, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return str(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        if exc.code == 503:  # the sink's store is busy: an answer all the same
            return str(exc.read().decode("utf-8"))
        return None
    except OSError:
        return None


Samples = list[tuple[str, dict[str, str], float]]


def _metrics(url: str) -> Samples:
    text = _get(url)
    if text is None:
        return []
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _total(samples: Samples, name: str, **labels: str) -> float:
    return sum(
        value for sample, sample_labels, value in samples
        if sample == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )
