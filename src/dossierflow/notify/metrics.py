"""Prometheus metrics of the notifier (served on /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "dossierflow_notify_deliveries",
    "Messages offered to a channel, by channel and result (sent, failed, dropped)",
    ["channel", "result"],
)
LATENCY = Histogram(
    "dossierflow_notify_alert_to_delivery_seconds",
    "From an alert's firing instant to its message being accepted by the channel",
    ["channel"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 16 * 3600, 72 * 3600),
)
DIGESTS_WAITING = Gauge(
    "dossierflow_notify_digests_waiting",
    "Person × channel messages waiting for their instant (office hours or batch window) or "
    "behind the recipient's message not yet accepted",
)
UNSENT = Gauge(
    "dossierflow_notify_unsent_messages", "Messages claimed but not yet accepted by a channel"
)
FAILING = Gauge(
    "dossierflow_notify_failing_recipients",
    "Person × channel pairs with a message not yet accepted that has failed at least once",
)
ALERTS_RECEIVED = Counter(
    "dossierflow_notify_alerts_received",
    "Sound alerts read from the alerts topic (the others: dossierflow_notify_rejected_records)"
)
UNROUTED = Counter(
    "dossierflow_notify_unrouted_alerts",
    "Alerts that reached nobody: no head listed for the unit nor any of its parents",
)
REJECTED = Counter(
    "dossierflow_notify_rejected_records",
    "Records of the alerts and facts topics not taken (never sent), by the field found wrong "
    "(`record`: not a record at all)",
    ["topic", "field"],
)
