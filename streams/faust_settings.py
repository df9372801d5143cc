"""Every setting the worker gives Faust and its own Kafka producer, each with its reason.

The worker's own settings (streams/settings.py: bootstrap, store, partitions, session
timeout…) are the operator's; what is here is how the worker uses Faust, fixed in code and
changed only with a measurement (docs/benchmarks.md). Faust's defaults are those of the
faust-streaming version pinned in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

from dossierflow.streams.faust_patches import PatchedTableManager
from dossierflow.streams.settings import WorkerSettings

OUTPUT_BATCH_BYTES = 512 * 1024
"""Largest Kafka record batch the worker builds (the broker takes up to 1 MiB)."""


def app_settings(settings: WorkerSettings, credentials: Any) -> dict[str, Any]:
    """The keyword arguments of the worker's `faust.App` (after its id)."""
    return {
        # --- from the operator's settings ---
        "broker": f"kafka://{settings.bootstrap}",
        "broker_credentials": credentials,  # TLS/SASL, dossierflow.kafka.security
        "store": settings.store,
        "datadir": str(settings.data_dir),
        "topic_partitions": settings.partitions,
        # A crashed worker's partitions go to another after this long without heartbeat
        # (Faust's 60 s would leave them unattended, their timers silent, for a minute).
        "broker_session_timeout": settings.session_timeout,
        # Kafka's rule of thumb: three heartbeats or more per session timeout.
        "broker_heartbeat_interval": settings.session_timeout / 4,
        # Faust's default, 1: each worker keeps a warm copy of another's partitions.
        "table_standby_replicas": settings.standby_replicas,
        # --- fixed ---
        # The changelog topic Faust creates: one replica, as the development broker has;
        # a production cluster's default replication is set on the broker.
        "topic_replication_factor": 1,
        # A new group (a new --app-id) reads the events topic from its start: history is
        # applied, not skipped.
        "consumer_auto_offset_reset": "earliest",
        # The worker serves /healthz, /readyz and /metrics itself (dossierflow.health);
        # Faust's web server would be one more open port.
        "web_enabled": False,
        # Records buffered between the fetcher and a table's changelog reader in recovery
        # (the events skip Faust's stream buffers: streams/faust_patches.py).
        "stream_buffer_maxsize": 8192,
        # One poll returns at most one batch: the worker applies the events of a fetch in
        # one call (Faust: unbounded).
        "broker_max_poll_records": settings.batch_size,
        # How long the broker may hold a fetch has no setting in Faust (a literal 1,500 ms):
        # the worker's consumer thread sets it (faust_patches.FETCH_MAX_WAIT_MS, 100 ms).
        # `stream_wait_empty` stays Faust's (True): a rebalance waits for the batch being
        # applied, which holds the runtime's lock from its first event to its changelog's
        # delivery; not waiting would revoke partitions under a batch still writing them.
        # Faust's own producer: the changelog records no longer go through it (the worker's
        # producer sends them, one batch per partition, streams/table.py); these two keep
        # whatever Faust still sends itself from going out record by record.
        "producer_linger_ms": 1,
        "producer_max_batch_size": OUTPUT_BATCH_BYTES,
        # Commit every 5000 acknowledged events or every second, whichever first (Faust:
        # 10 000 or 2.8 s): less to re-apply after a crash, at a commit's small cost.
        "broker_commit_every": 5000,
        "broker_commit_interval": 1.0,
        # Faust's cleanup expires windowed tables' old windows; the dossiers table has no
        # windows (closed dossiers leave it by their own timer), so an hourly pass suffices.
        "table_cleanup_interval": 3600.0,
        # Faust's table manager with its recovery defects corrected (streams/faust_patches.py).
        "TableManager": PatchedTableManager,
    }


def output_producer_settings(settings: WorkerSettings) -> dict[str, Any]:
    """The keyword arguments of the worker's own producer of alerts, facts, dead letters and
    the table's changelog records (streams/outbox.py), but for the security ones."""
    return {
        "bootstrap_servers": settings.bootstrap,
        # Every in-sync replica has the record before the batch's offsets are committed:
        # at-least-once through a broker's failure too.
        "acks": "all",
        "max_batch_size": OUTPUT_BATCH_BYTES,
        "client_id": f"{settings.app_id}-outputs",
    }
