"""Prometheus metrics of the sink process (served on its HTTP port at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

INSERT_FAILURES = Counter(
    "dossierflow_sink_insert_failures_total",
    "Batches the store refused for a transient reason (each is retried after a backoff).",
)
