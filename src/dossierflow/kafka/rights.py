"""Who may do what on Kafka: one principal per process, each with only its rights.

The plan is a pure function of the pipeline's names (topics, the worker's app id, the
consumer groups), so the grants follow the processes' own settings; `kafka/acl_admin.py`
applies it with an admin's credentials (`dossierflow kafka acls`).

- worker: reads the events, writes alerts, facts and dead letters; its consumer group is
  its app id, and Faust's internal topics are named after it (`<app>-dossiers-changelog`,
  the table's changelog; `<app>-__assignor-__leader`, the leader assignor's topic), so it
  may CREATE, READ and WRITE topics under the prefix `<app>-`: Faust creates them at start
  with the settings it needs (compaction, the partitions of the events);
- sink: reads facts and alerts, in its group;
- notifier: reads alerts and facts, in its group;
- intake (`produce`, `simulate`): writes events.

No process creates the pipeline's topics: `dossierflow kafka acls` creates them as the
admin. READ and WRITE imply DESCRIBE on the same resource (Kafka's authorizer), and WRITE
on a topic allows an idempotent producer (KIP-679), so nothing more is granted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from dossierflow import config
from dossierflow.config import setting

TOPIC = "topic"
GROUP = "group"
READ, WRITE, CREATE = "READ", "WRITE", "CREATE"


@dataclass(frozen=True)
class KafkaPrincipals:
    """The SASL user of each process (`dossierflow kafka acls` and `kafka users`)."""

    ENV_PREFIX: ClassVar[str] = "DOSSIERFLOW_KAFKA_"

    worker_principal: str = setting("dossierflow-worker", "Kafka user of the worker")
    sink_principal: str = setting("dossierflow-sink", "Kafka user of the sink")
    notify_principal: str = setting("dossierflow-notify", "Kafka user of the notifier")
    intake_principal: str = setting(
        "dossierflow-intake", "Kafka user of what publishes events (produce, simulate)"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaPrincipals:
        return config.load(cls, environ)

    def users(self) -> tuple[str, ...]:
        return (self.worker_principal, self.sink_principal, self.notify_principal,
                self.intake_principal)


@dataclass(frozen=True)
class PipelineNames:
    """The topics and groups the rights are about (from the processes' settings)."""

    events_topic: str
    alerts_topic: str
    facts_topic: str
    dead_letter_topic: str
    worker_app_id: str
    sink_group: str
    notify_group: str


@dataclass(frozen=True, order=True)
class Grant:
    """One ALLOW ACL: `principal` (a user name) may `operation` on a resource."""

    principal: str
    resource: str
    name: str
    operation: str
    prefixed: bool = False

    def line(self) -> str:
        pattern = "names starting with " if self.prefixed else ""
        return (f"User:{self.principal} may {self.operation} {self.resource} "
                f"{pattern}{self.name}")


def plan(names: PipelineNames, principals: KafkaPrincipals) -> tuple[Grant, ...]:
    """Every grant of the pipeline, sorted (the dry run's listing)."""
    worker, sink, notify = (principals.worker_principal, principals.sink_principal,
                            principals.notify_principal)
    grants = [
        Grant(worker, TOPIC, names.events_topic, READ),
        *(Grant(worker, TOPIC, topic, WRITE)
          for topic in (names.alerts_topic, names.facts_topic, names.dead_letter_topic)),
        *(Grant(worker, TOPIC, f"{names.worker_app_id}-", operation, prefixed=True)
          for operation in (CREATE, READ, WRITE)),
        Grant(worker, GROUP, names.worker_app_id, READ),
        *(Grant(reader, TOPIC, topic, READ)
          for reader in (sink, notify) for topic in (names.facts_topic, names.alerts_topic)),
        Grant(sink, GROUP, names.sink_group, READ),
        Grant(notify, GROUP, names.notify_group, READ),
        Grant(principals.intake_principal, TOPIC, names.events_topic, WRITE),
    ]
    return tuple(sorted(set(grants)))
