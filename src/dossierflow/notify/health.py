"""The notifier's readiness for `/readyz`: Kafka reachable, the consumer started, partitions
of its topics assigned. Deliveries that fail do not make it unready: restarting or routing
around the notifier would not mend an SMTP server, and `/metrics` counts them
(`dossierflow_notify_failing_recipients`)."""

from __future__ import annotations

from typing import Any

from dossierflow.health import KafkaProbe, Readiness


class NotifierReadiness:
    """Asked from the health server's thread; the consumer is set once it has started."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.kafka = KafkaProbe(bootstrap)
        self.topics = topics
        self.consumer: Any | None = None

    def readiness(self) -> Readiness:
        reasons: list[str] = []
        if not self.kafka.reachable():
            reasons.append(self.kafka.reason)
        if self.consumer is None:
            reasons.append("starting: connecting to Kafka")
        elif not self.consumer.assignment():
            reasons.append(
                f"waiting for the consumer group to assign partitions of {', '.join(self.topics)}"
            )
        return Readiness(tuple(reasons))
