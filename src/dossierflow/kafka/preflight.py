"""Before a process hands Kafka to a framework: may its principal do what the framework
will? Faust creates its internal topics and joins its group deep inside its start, and a
refusal there ends the worker in Faust's log; asked first, it is one line naming the topic
or group and the principal (`KafkaNotAuthorized`).

Both questions change nothing: CreateTopics with `validate_only` (the broker checks the
right and the request, and creates nothing), and the group's committed offsets (DESCRIBE,
which READ implies), whose other errors are left to the framework's client.
"""

from __future__ import annotations

from collections.abc import Sequence

from dossierflow.kafka.admin import admin_client
from dossierflow.kafka.diagnosis import KafkaNotAuthorized, not_authorized
from dossierflow.kafka.security import KafkaSecurity

_TOPIC_AUTHORIZATION_FAILED = 29


def check_rights(bootstrap: str, security: KafkaSecurity, *, may_create: Sequence[str],
                 groups: Sequence[str]) -> None:
    """Raise `KafkaNotAuthorized` for the first topic of `may_create` this principal may
    not create, or group of `groups` it may not use."""
    from kafka.errors import GroupAuthorizationFailedError, KafkaError

    with admin_client(bootstrap, security, client_id="dossierflow-preflight") as admin:
        if may_create:
            request = {name: {"num_partitions": 1, "replication_factor": -1, "configs": {}}
                       for name in may_create}
            response = admin.create_topics(request, validate_only=True, raise_errors=False)
            for topic in response["topics"]:
                if topic["error_code"] == _TOPIC_AUTHORIZATION_FAILED:
                    raise not_authorized(security, f"create topic {topic['name']}")
        for group in groups:
            try:
                admin.list_group_offsets(group)
            except GroupAuthorizationFailedError:
                raise not_authorized(security, f"use the consumer group {group}") from None
            except KafkaError:
                # The right is checked first; anything else (a new broker without its offsets
                # topic yet, for one) is for the process's own client to wait out or report.
                continue


def committed_offsets_refusal(bootstrap: str, security: KafkaSecurity, group: str,
                              topic: str, partitions: Sequence[int]) -> KafkaNotAuthorized | None:
    """Whether the broker refuses `group`'s committed offsets of `topic` to this principal.

    aiokafka's admin (0.14.0) raises a partition's error in OffsetFetch as `NoError: Unable
    to get offset info` (it reads the response's code instead of the partition's), so a
    caller that saw it asks again here, with kafka-python's admin, which raises it as
    itself."""
    from kafka import TopicPartition
    from kafka.errors import (
        GroupAuthorizationFailedError,
        KafkaError,
        TopicAuthorizationFailedError,
    )

    with admin_client(bootstrap, security, client_id="dossierflow-offsets-check") as admin:
        try:
            admin.list_group_offsets({group: [TopicPartition(topic, p) for p in partitions]})
        except TopicAuthorizationFailedError:
            return not_authorized(security, f"read the topic {topic}")
        except GroupAuthorizationFailedError:
            return not_authorized(security, f"use the consumer group {group}")
        except KafkaError:
            return None
    return None
