"""Logging set-up of the long-running processes (worker, sink).

While Kafka is down, aiokafka and kafka-python log every failed connection attempt: 60 to
80 error lines a second, which bury the one line that matters. `RateLimitFilter` lets the
first record of each kind through and then at most one per `interval` seconds, with the
number it held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

RATE_LIMITED_LOGGERS = ("aiokafka", "kafka")
"""Loggers (and their children) whose records are rate-limited."""
FAUST_SERVICE_LOGGERS = ("dossierflow.streams.faust_patches", "dossierflow.streams.table")
"""The modules of dossierflow's subclasses of Faust services. `mode` logs a service under its
class's module, so Faust's own start-up chatter ("Starting...", the recovery tables) comes
from these names: it follows `--loglevel`, not the level of dossierflow's own lines."""
STARTUP_TRANSIENTS = (
    ("aiokafka.consumer.group_coordinator", "Group Coordinator Request failed"),
    ("aiokafka.consumer.group_coordinator", "Marking the coordinator dead"),
)
"""(logger, message start) of errors a healthy start gives while a new broker creates its
offsets topic (GroupCoordinatorNotAvailableError, for a second or two)."""
STARTUP_GRACE = 30.0
"""Seconds in which `STARTUP_TRANSIENTS` are held back; later ones are real and shown."""
DEFAULT_INTERVAL = 30.0
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error")
"""What `--loglevel` accepts (in any case)."""


class RateLimitFilter(logging.Filter):
    """Passes the first record of each (logger, level, message template), then one per
    `interval` seconds, saying how many like it were held back in between.

    Only records of `loggers` (and their children) are limited; every other record passes.
    Installed on a handler, so it sees the records of child loggers too.
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        loggers: tuple[str, ...] = RATE_LIMITED_LOGGERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.loggers = loggers
        self.clock = clock
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _limited(self, name: str) -> bool:
        return any(name == root or name.startswith(root + ".") for root in self.loggers)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record.name):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self.interval:
                self._last[key] = (last[0], last[1] + 1)
                return False
            self._last[key] = (now, 0)
        if last is not None and last[1]:
            record.msg = f"{record.getMessage()} ({last[1]} like it held back in the last " \
                f"{now - last[0]:.0f} s)"
            record.args = None
        return True


class StartupTransientFilter(logging.Filter):
    """Drops the records of `STARTUP_TRANSIENTS` during the first `grace` seconds of the
    process (from the filter's creation), and at debug level never: an error that lasts
    longer than a start is shown, one that is part of every start on a new broker is not."""

    def __init__(
        self, grace: float = STARTUP_GRACE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.clock = clock
        self.until = clock() + grace

    def filter(self, record: logging.LogRecord) -> bool:
        if self.clock() >= self.until or logging.getLogger().level <= logging.DEBUG:
            return True
        message = str(record.msg)
        return not any(
            record.name == name and message.startswith(start)
            for name, start in STARTUP_TRANSIENTS
        )


def logging_config(level: str | int, interval: float = DEFAULT_INTERVAL) -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration: one stderr handler, rate-limited."""
    root_level = level if isinstance(level, int) else logging.getLevelNamesMapping()[level.upper()]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "rate_limit": {"()": RateLimitFilter, "interval": interval},
            "startup": {"()": StartupTransientFilter},
        },
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "plain",
                "filters": ["startup", "rate_limit"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": root_level, "handlers": ["default"]},
        "loggers": {
            # dossierflow's own lines ("ready: ...", "waiting for Kafka") show at any level.
            "dossierflow": {"level": min(root_level, logging.INFO)},
            **{name: {"level": root_level} for name in FAUST_SERVICE_LOGGERS},
            # Faust's timers say when a burst of events kept the event loop from waking them
            # on time ("woke up too late", "is overlapping"): expected under load, corrected
            # by the next tick, and measured where an operator acts on it (the timer scan's
            # duration and the consumer lag in /metrics). Said only at debug.
            "mode.timers": {
                "level": root_level if root_level <= logging.DEBUG
                else max(root_level, logging.ERROR)
            },
        },
    }


def configure(level: str | int) -> None:
    """Configure the root logger of this process as `logging_config` describes."""
    import logging.config

    logging.config.dictConfig(logging_config(level))
