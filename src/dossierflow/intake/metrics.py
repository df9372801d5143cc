"""Prometheus metrics of `dossierflow intake serve`."""

from __future__ import annotations

from prometheus_client import Counter

BODIES = Counter(
    "dossierflow_intake_bodies_total",
    "Sync bodies received, by outcome: accepted (events acknowledged by Kafka), rejected "
    "(a record or the body refused), too_large, unavailable (Kafka did not acknowledge).",
    ["outcome"],
)
EVENTS = Counter("dossierflow_intake_events_total",
                 "Events published from sync bodies and acknowledged by Kafka.")
REJECTIONS = Counter("dossierflow_intake_rejections_total",
                     "Records or bodies rejected, each kept in the rejections file.")
