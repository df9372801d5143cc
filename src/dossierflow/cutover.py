"""What going live asks of Kafka, checked before `golive` writes anything.

The worker started after `golive` reads its table from the changelog golive writes, and the
events topic from its beginning (its consumer group, the app id, has no offsets yet:
`consumer_auto_offset_reset` is `earliest`). So golive goes on only when:

- the events topic exists, with the worker's partition count: a dossier's state is on the
  partition of its events, and a topic that does not exist means the events after the
  cut-over are being published somewhere else (a misspelt `--events-topic`);
- the app id's group has no committed offset on it: the worker would start after those
  offsets, skipping the events before them (a worker ran under this app id already);
- the changelog holds no record (a worker or golive wrote state under this app id);
- once the cut-over is known, the events topic holds no event that occurred at or before it:
  the worker would apply the history a second time (for a closed dossier: bring it back and
  re-issue its facts).

Committing the group's offsets "at the cut-over" instead is not offered: the cut-over is an
event time, and the topic's order is the order of publication (a late event occurred before
events published ahead of it), so no offset separates history from live.

Each check returns the sentence that says what is wrong and what to do, or None.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from dossierflow.kafka.admin import admin_client
from dossierflow.kafka.errors import KafkaUnavailable
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.schemas.event import decode_event

NEW_APP_ID = "go live under a new --app-id"


def refusal_before(
    bootstrap: str, security: KafkaSecurity, app_id: str, events: str, partitions: int,
    changelog: str,
) -> str | None:
    """Why the topics or the group do not allow going live (None: they do); the changelog
    is created when it does not exist."""
    with admin_client(bootstrap, security) as admin:
        if events not in set(admin.list_topics()):
            return (f"events topic {events} does not exist: the events after the cut-over "
                    f"must be published to it; create it with {partitions} partitions "
                    "(--partitions), or name the right one with --events-topic")
        [info] = admin.describe_topics([events])
        if len(info["partitions"]) != partitions:
            return _partitions_differ(events, partitions, len(info["partitions"]))
        committed = sorted(
            (tp.partition, meta.offset)
            for tp, meta in _group_offsets(admin, app_id).items()
            if tp.topic == events and meta.offset >= 0
        )
    if committed:
        where = ", ".join(f"partition {p} at offset {o:,}" for p, o in committed)
        return (f"consumer group {app_id} has committed offsets on {events} ({where}): a "
                "worker ran under this app id, and the next would skip the events before "
                f"them; {NEW_APP_ID}")
    result = ensure_topics(bootstrap, [TopicSpec(changelog, partitions, compacted=True)],
                           security=security)
    if result.partition_mismatch:
        _name, want, actual = result.partition_mismatch[0]
        return _partitions_differ(changelog, want, actual)
    held = _records_in(bootstrap, security, changelog)
    if held:
        return (f"{changelog} already holds {held:,} records: app {app_id!r} has state (a "
                f"worker ran, or golive did); {NEW_APP_ID}")
    return None


def _group_offsets(admin: Any, group: str, attempts: int = 30) -> dict[Any, Any]:
    """The group's committed offsets; a broker whose offsets topic is not created yet (its
    first group) answers CoordinatorNotAvailable for a few seconds."""
    from kafka.errors import CoordinatorNotAvailableError

    for _attempt in range(attempts - 1):
        try:
            return dict(admin.list_group_offsets({group: None}).get(group, {}))
        except CoordinatorNotAvailableError:
            time.sleep(1)
    return dict(admin.list_group_offsets({group: None}).get(group, {}))


def _partitions_differ(topic: str, want: int, actual: int) -> str:
    return (f"topic {topic} has {actual} partitions, not {want} (--partitions): the worker "
            "would look for a dossier's state on another partition")


def _records_in(bootstrap: str, security: KafkaSecurity, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **security.as_kafka_python_kwargs())
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
    finally:
        consumer.close()
    return sum(ends[tp] - starts[tp] for tp in partitions)


class _HistoryFound:
    """The events of the topic that occurred at or before the cut-over."""

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[int, int, str] | None = None
        """(partition, offset, event_id) of the first one read."""
        self.earliest: datetime | None = None
        """The earliest `occurred_at` of any event of the topic."""

    def saw(self, message: Any, clock: datetime) -> None:
        try:
            event = decode_event(message.value)
        except Exception:  # the worker dead-letters it: neither history nor live
            return
        if self.earliest is None or event.occurred_at < self.earliest:
            self.earliest = event.occurred_at
        if event.occurred_at <= clock:
            self.count += 1
            if self.first is None:
                self.first = (message.partition, message.offset, event.event_id)


def refusal_after(
    bootstrap: str, security: KafkaSecurity, events: str, clock: datetime,
    quiet_polls: int = 30,
) -> str | None:
    """Why the events topic does not allow going live at `clock`: it holds events that
    occurred at or before it (None: it holds only later ones). Reads it to its end."""
    from kafka import KafkaConsumer, TopicPartition

    found = _HistoryFound()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             max_partition_fetch_bytes=8 * 2**20,
                             **security.as_kafka_python_kwargs())
    try:
        partitions = [TopicPartition(events, p)
                      for p in sorted(consumer.partitions_for_topic(events) or ())]
        ends = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        pending = {tp for tp in partitions if consumer.position(tp) < ends[tp]}
        quiet = 0
        while pending:
            batch = consumer.poll(timeout_ms=1000)
            quiet = 0 if batch else quiet + 1
            if quiet >= quiet_polls:
                stopped = sorted((tp.partition, consumer.position(tp)) for tp in pending)
                raise KafkaUnavailable(f"Kafka at {bootstrap} stopped answering while {events} "
                                       f"was read (partition, offset: {stopped})")
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        found.saw(message, clock)
            pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
    if found.first is None:
        return None
    partition, offset, event_id = found.first
    assert found.earliest is not None
    return (f"{events} already holds {found.count:,} events that occurred at or before the "
            f"cut-over {clock.isoformat()} (the first: partition {partition}, offset "
            f"{offset:,}, event {event_id}): the worker would apply the history a second "
            "time (a closed dossier reopened, its facts re-issued). Go live with --as-of "
            f"earlier than {found.earliest.isoformat()}, the earliest event there, if the "
            "topic holds every event since; else on an events topic that holds only the "
            "events after the cut-over")
