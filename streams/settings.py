"""Settings of `dossierflow worker`: defaults for a laptop, each one overridable by its
DOSSIERFLOW_* variable and, where it has one, by a command-line option."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from dossierflow import config
from dossierflow.config import setting
from dossierflow.kafka.topics import TopicSpec
from dossierflow.schemas.event import MAX_EVENT_BYTES
from dossierflow.streams.state import DOSSIERS_KEPT


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap: str = config.bootstrap_setting()
    app_id: str = setting(
        "dossierflow",
        "Faust app id: the consumer group and the prefix of the state changelog topic",
        option="--app-id",
    )
    events_topic: str = setting(config.EVENTS_TOPIC, "topic of the dossier events",
                                metavar="TOPIC", option="--events-topic")
    alerts_topic: str = setting(config.ALERTS_TOPIC, "topic the alerts are produced to",
                                metavar="TOPIC", option="--alerts-topic")
    facts_topic: str = setting(config.FACTS_TOPIC, "topic the facts are produced to",
                               metavar="TOPIC", option="--facts-topic")
    dead_letter_topic: str = setting(
        config.DEAD_LETTER_TOPIC, "topic of the events that could not be read, with the reason",
        metavar="TOPIC", option="--dead-letter-topic",
    )
    partitions: int = setting(config.PARTITIONS, "partitions of the topics the worker creates",
                              minimum=1, option="--partitions")
    retention_days: int = setting(
        90, "retention of the alerts, facts and dead-letter topics it creates, in days",
        minimum=1,
    )
    store: str = setting(
        "rocksdb://", "table store: rocksdb:// (durable, the default) or memory:// (tests)",
        choices=("rocksdb://", "memory://"), option="--store",
    )
    data_dir: Path = setting(Path(".dossierflow/worker"), "folder of the table's RocksDB files",
                             option="--data-dir")
    event_time: bool = setting(
        False,
        "use the event-time watermark as the clock instead of wall time (replays of history)",
        option="--event-time",
    )
    metrics_host: str = setting(
        "127.0.0.1", "address of /healthz, /readyz and /metrics (0.0.0.0: every interface)",
        option="--metrics-host",
    )
    metrics_port: int = setting(9108, "port of /healthz, /readyz and /metrics", minimum=0,
                                option="--metrics-port")
    metrics_allowed_hosts: str = config.allowed_hosts_setting("/healthz, /readyz and /metrics")
    timer_interval: float = setting(0.2, "seconds between scans for due deadline alerts",
                                    minimum=0.01)
    closed_retention_days: float = setting(
        30, "days a closed dossier's state is kept after closing (recovery stays fast)",
        minimum=0,
    )
    batch_size: int = setting(2000, "most events applied in one batch", minimum=1)
    idle_partition_seconds: float = setting(
        10.0,
        "event time: seconds a partition must send nothing new before it stops holding the "
        "clock back, once read to its high-water mark (which may be stale while producers "
        "write) or when its end is unknown",
        minimum=0,
    )
    out_of_orderness: timedelta = setting(
        timedelta(days=1),
        "event time: how far behind the partitions' largest `occurred_at` the clock stays "
        "while a partition has more to read (Flink's bounded out-of-orderness), in seconds or "
        "an ISO 8601 duration (PT10M, P1D); a later event is a late event "
        "(dossierflow_late_events_total). History in Kafka costs no waiting for it",
    )
    session_timeout: float = setting(
        10.0, "seconds before the group gives a silent (crashed) worker's partitions to another",
        minimum=1,
    )
    standby_replicas: int = setting(
        1,
        "warm copies of each table partition that the group's other workers keep (Faust's "
        "table_standby_replicas): a failed worker's partitions resume from one without "
        "reading their whole changelog; while catching up history, two workers did 14-20 % "
        "fewer events per CPU-second than one with a copy each, 0-9 % without "
        "(docs/operations.md, Scaling)",
        minimum=0,
    )
    catalog: Path | None = config.catalog_setting()
    max_event_bytes: int = setting(MAX_EVENT_BYTES, "largest event accepted, in bytes",
                                   minimum=1)
    keep_reason: bool = setting(
        False,
        "keep the events' free-text `reason` in the worker's state (RocksDB and its "
        "changelog topic); off: dropped on arrival, as no rule reads it "
        "(docs/operations.md, What is stored where)",
    )
    dossiers_kept: int = setting(
        DOSSIERS_KEPT,
        "dossiers whose last fold and decoded record the worker keeps in memory, about 3-4 kB "
        "each: an event of one not kept re-folds its whole history (docs/operations.md, "
        "Memory)",
        minimum=1, option="--dossiers-kept",
    )
    startup_wait: float = config.startup_wait_setting()
    loglevel: str = config.loglevel_setting("warning")

    def topics(self) -> list[TopicSpec]:
        """The pipeline's topics as the worker wants them (it creates those missing where it
        may; `dossierflow kafka acls` creates them as the admin)."""
        retention_ms = self.retention_days * 24 * 3600 * 1000
        return [
            TopicSpec(self.events_topic, self.partitions, retention_ms),
            TopicSpec(self.alerts_topic, self.partitions, retention_ms),
            TopicSpec(self.facts_topic, self.partitions, retention_ms),
            TopicSpec(self.dead_letter_topic, 1, retention_ms),
        ]

    @property
    def closed_retention(self) -> timedelta:
        return timedelta(days=self.closed_retention_days)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> WorkerSettings:
        """Defaults, then DOSSIERFLOW_<FIELD> variables, then explicit overrides."""
        return config.load(cls, environ, **overrides)
