"""The notifier's readiness before Kafka answers (the process test sees it ready)."""

from __future__ import annotations

from dossierflow.notify.health import NotifierReadiness
from tests.test_kafka_sink import free_port


def test_not_ready_while_kafka_is_unreachable_and_the_consumer_not_started() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    readiness = NotifierReadiness(bootstrap, ["alerts", "facts"]).readiness()
    assert readiness.http_status == 503
    assert readiness.reasons == (
        f"Kafka at {bootstrap} is unreachable", "starting: connecting to Kafka",
    )
