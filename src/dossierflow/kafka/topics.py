"""Topic administration with kafka-python.

Topics are created explicitly (the broker runs with auto-create off), so partition
counts and retention are decisions, not accidents.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dossierflow.kafka.admin import admin_client
from dossierflow.kafka.diagnosis import not_authorized
from dossierflow.kafka.errors import KafkaUnavailable, TopicError
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.kafka.startup_wait import StartupWait

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we want it: partitions, retention and cleanup policy.

    `retention_ms=None` keeps the broker default, -1 keeps data forever.
    `replication_factor=None` uses the broker's `default.replication.factor`.
    """

    name: str
    partitions: int = 1
    retention_ms: int | None = None
    compacted: bool = False
    replication_factor: int | None = None
    configs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 249:
            raise ValueError(f"invalid topic name {self.name!r}")
        if self.partitions < 1:
            raise ValueError(f"topic {self.name}: partitions must be >= 1")

    def topic_configs(self) -> dict[str, str]:
        configs: dict[str, str] = {}
        if self.retention_ms is not None:
            configs["retention.ms"] = str(self.retention_ms)
        if self.compacted:
            configs["cleanup.policy"] = "compact"
        configs.update(self.configs)
        return configs


@dataclass(frozen=True)
class EnsureTopicsResult:
    created: tuple[str, ...]
    existing: tuple[str, ...]
    partition_mismatch: tuple[tuple[str, int, int], ...] = ()
    """(name, wanted, actual) for existing topics whose partition count differs."""


_TOPIC_ALREADY_EXISTS = 36
_TOPIC_AUTHORIZATION_FAILED = 29


def ensure_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    security: KafkaSecurity | None = None,
    timeout_ms: int = 30_000,
) -> EnsureTopicsResult:
    """Create the topics that do not exist yet and wait until they have leaders.

    Existing topics are left as they are (changing partition counts re-partitions keys
    and breaks per-dossier ordering, so that stays a deliberate operator action); a
    partition-count mismatch is reported in the result and logged as a warning.
    """
    wanted = {spec.name: spec for spec in specs}
    if not wanted:
        return EnsureTopicsResult((), ())
    security = security or KafkaSecurity.from_env()
    with admin_client(bootstrap, security, timeout_ms=timeout_ms) as admin:
        return _ensure(admin, bootstrap, security, wanted, timeout_ms)


def _ensure(admin: Any, bootstrap: str, security: KafkaSecurity, wanted: dict[str, TopicSpec],
            timeout_ms: int) -> EnsureTopicsResult:
    from kafka.errors import KafkaTimeoutError, for_code

    try:
        present = set(admin.list_topics())
        missing = [spec for name, spec in wanted.items() if name not in present]
        created: list[str] = []
        if missing:
            request = {
                spec.name: {
                    "num_partitions": spec.partitions,
                    "replication_factor": spec.replication_factor or -1,
                    "configs": spec.topic_configs(),
                }
                for spec in missing
            }
            response = admin.create_topics(request, timeout_ms=timeout_ms, raise_errors=False)
            for topic in response["topics"]:
                code = topic["error_code"]
                if code == 0:
                    created.append(topic["name"])
                elif code == _TOPIC_AUTHORIZATION_FAILED:
                    raise not_authorized(security, f"create topic {topic['name']} (it does "
                                         "not exist, or this principal may not see it)")
                elif code != _TOPIC_ALREADY_EXISTS:  # lost a race with another creator: fine
                    error = for_code(code).__name__
                    detail = topic.get("error_message") or ""
                    raise TopicError(f"creating topic {topic['name']} failed: {error} {detail}")
        admin.wait_for_topics(list(wanted), timeout_ms=timeout_ms)
        mismatch: list[tuple[str, int, int]] = []
        existing = [name for name in wanted if name not in created]
        if existing:
            for info in admin.describe_topics(existing):
                actual = len(info["partitions"])
                if actual != wanted[info["name"]].partitions:
                    mismatch.append((info["name"], wanted[info["name"]].partitions, actual))
                    log.warning(
                        "topic %s exists with %d partitions, %d wanted; left unchanged",
                        info["name"],
                        actual,
                        wanted[info["name"]].partitions,
                    )
        return EnsureTopicsResult(tuple(created), tuple(existing), tuple(mismatch))
    except KafkaTimeoutError as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} stopped answering: {exc}") from None


def ensure_topics_waiting(
    bootstrap: str,
    specs: Iterable[TopicSpec],
    *,
    security: KafkaSecurity | None = None,
    wait: float,
    attempt_seconds: float = 5.0,
    log_every: float = 30.0,
) -> EnsureTopicsResult:
    """`ensure_topics`, retried while no broker answers, as `StartupWait` says."""
    specs = list(specs)
    waiting = StartupWait(bootstrap, wait, log_every)
    while True:
        try:
            return ensure_topics(
                bootstrap, specs, security=security, timeout_ms=int(attempt_seconds * 1000)
            )
        except KafkaUnavailable as exc:
            waiting.failed(exc)

