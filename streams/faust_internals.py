"""Every use of a private attribute of Faust (faust-streaming) by the worker, in one place.

Faust has no public getter for these; each function says why the worker needs it. They were
checked against the faust-streaming versions pinned in pyproject.toml, and
tests/test_faust_internals.py fails loudly if an upgrade removes or changes one of them:
run it before raising the pin. The Faust classes the worker replaces, with the private
attributes they use, are in streams/faust_patches.py (tests/test_faust_patches.py). One more
reliance lives where it is used: `streams/table.py` writes its own records straight into
`Table.data` (the store) and queues their changelog records itself, overrides
`Collection.send_changelog` for any write through Faust's own path, counting on Faust reading
only `.message.partition` of what it returns, and `Collection.partition_for_key`, counting on
every write and delete taking its changelog partition from it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.types import TP, AppT, EventT

CHECKED_VERSIONS = frozenset({"0.15.3"})
"""faust-streaming versions these uses were checked against (pyproject.toml pins them)."""


def last_read_offset(app: faust.App, tp: TP) -> int | None:
    """The offset of the last message Faust's fetcher read from `tp` (after a seek, the
    offset sought to), or None: the consumer-lag gauge. `Consumer._read_offset`."""
    value = cast(Any, app.consumer)._read_offset.get(tp)
    return int(value) if value is not None else None


def first_recovery_completed(app: faust.App) -> bool:
    """Whether the tables' first recovery after start has completed (Faust never clears
    the flag: a later rebalance shows in `app.rebalancing`). The timer must not read or
    write the table before it. `app.tables.recovery.completed`, an event Faust sets."""
    return bool(cast(Any, app.tables).recovery.completed.is_set())


@dataclass(frozen=True)
class _StandInMessage:
    partition: int


@dataclass(frozen=True)
class _StandInEvent:
    """All that Faust's stores read of the current event: `event.message.partition`."""

    message: _StandInMessage


def partition_stand_in(partition: int) -> Any:
    """A stand-in for what Faust reads of an event or a sent changelog record alike:
    `.message.partition`."""
    return _StandInEvent(_StandInMessage(partition))


@contextmanager
def current_event_of_partition(partition: int) -> Iterator[None]:
    """Make a stand-in event of `partition` Faust's current stream event for the block.

    Faust's RocksDB store files a table write under the partition of the current stream
    event (`faust.streams._current_event`, a context variable) and asserts there is one;
    the worker writes after a batch or from a timer, where there is none."""
    stand_in = partition_stand_in(partition)  # held here: Faust keeps only a weak reference
    token = _current_event.set(weakref.ref(cast(EventT[Any], stand_in)))
    try:
        yield
    finally:
        _current_event.reset(token)


def leader_topic(app: AppT) -> str:
    """The leader assignor's topic, `App._leader_assignor._leader_topic_name`: Faust assigns
    its one partition to one member of the group and never writes to it."""
    return str(cast(Any, app)._leader_assignor._leader_topic_name)


def internal_topics(app: faust.App) -> list[str]:
    """The topics Faust creates for `app` at start: each table's changelog (public) and the
    leader assignor's topic. The worker checks before starting Faust that its principal may
    create them (kafka/rights.py grants them by the prefix `<app id>-`)."""
    tables = [table.changelog_topic.get_topic_name() for table in app.tables.values()]
    return [*tables, leader_topic(app)]
