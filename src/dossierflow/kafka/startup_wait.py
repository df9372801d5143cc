"""How a process waits for Kafka at start-up: for at most `DOSSIERFLOW_STARTUP_WAIT` seconds
(0: for ever), one log line when it starts waiting and one every `log_every` seconds, and the
sentence that says what to do when it gives up. The retry loops (blocking in `kafka/topics.py`,
asyncio in the sink) differ; the policy is this one."""

from __future__ import annotations

import logging
import time

from dossierflow.kafka.errors import KafkaUnavailable

log = logging.getLogger(__name__)


class StartupWait:
    def __init__(self, bootstrap: str, wait: float, log_every: float = 30.0) -> None:
        self.bootstrap = bootstrap
        self.wait = wait
        self.log_every = log_every
        self._started = time.monotonic()
        self._logged_at: float | None = None

    def failed(self, exc: Exception) -> None:
        """One attempt failed with `exc`: log it (sparingly), or raise `KafkaUnavailable`
        once the time allowed has passed."""
        waited = time.monotonic() - self._started
        if self.wait and waited >= self.wait:
            raise KafkaUnavailable(
                f"no Kafka broker answered at {self.bootstrap} for {waited:.0f} s; start it or "
                "give its address (--bootstrap, DOSSIERFLOW_BOOTSTRAP); "
                "DOSSIERFLOW_STARTUP_WAIT sets how long to wait"
            ) from None
        if self._logged_at is None or time.monotonic() - self._logged_at >= self.log_every:
            log.warning("waiting for Kafka (%.0f s so far): %s", waited, exc)
            self._logged_at = time.monotonic()
