"""Each private attribute of Faust the worker uses (streams/faust_internals.py) still exists
and still means what the worker relies on. A failure here after upgrading faust-streaming
means: read the new Faust code behind the failing use before raising the pin."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from faust.streams import _current_event as current_event
from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from faust.tables.table import Table
from faust.transport.consumer import Consumer
from faust.types import TP, FutureMessage

from dossierflow.streams.faust_internals import (
    CHECKED_VERSIONS,
    current_event_of_partition,
    first_recovery_completed,
    internal_topics,
    last_read_offset,
)
from dossierflow.streams.settings import WorkerSettings
from dossierflow.streams.worker import DossierWorker


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[DossierWorker]:
    """A worker's Faust app on the RocksDB store, not started (nothing connects)."""
    yield DossierWorker(WorkerSettings(store="rocksdb://", data_dir=tmp_path, bootstrap="x:1"))


def test_the_installed_faust_is_one_these_uses_were_checked_against() -> None:
    assert version("faust-streaming") in CHECKED_VERSIONS


def test_internal_topics_are_the_changelog_and_the_leader_topic_named_after_the_app(
    tmp_path: Path,
) -> None:
    """The names Faust documents: `<app id>-<table>-changelog` and the leader assignor's
    `<app id>-__assignor-__leader` (kafka/rights.py grants them by the prefix `<app id>-`)."""
    worker = DossierWorker(WorkerSettings(app_id="prov", store="memory://",
                                          data_dir=tmp_path, bootstrap="x:1"))
    assert internal_topics(worker.app) == ["prov-dossiers-changelog",
                                           "prov-__assignor-__leader"]


def test_last_read_offset_is_what_the_fetcher_sets_per_message(worker: DossierWorker) -> None:
    tp = TP(worker.settings.events_topic, 0)
    assert last_read_offset(worker.app, tp) is None
    drain = inspect.getsource(Consumer._drain_messages)
    assert "set_read_offset = self._read_offset.__setitem__" in drain
    assert "set_read_offset(tp, offset)" in drain


def test_recovery_completed_is_set_after_the_seek_to_committed_offsets(
    worker: DossierWorker,
) -> None:
    """The worker reads committed offsets once the flag is set: the seek must come first."""
    assert first_recovery_completed(worker.app) is False
    done = inspect.getsource(Recovery.on_recovery_completed)
    assert done.index("consumer.perform_seek()") < done.index("self.completed.set()")


def test_a_stand_in_event_lets_the_rocksdb_store_write_outside_stream_iteration(
    worker: DossierWorker,
) -> None:
    store: Any = worker.table.data  # Faust's RocksDB store: its private parts are the subject
    with pytest.raises(AssertionError):  # what the stand-in is for
        store._set(b"D-1", b"record")
    with current_event_of_partition(2):
        store._set(b"D-1", b"record")
    assert store._dbs[2][b"D-1"] == b"record"
    assert current_event.get(None) is None  # restored after the block


def test_every_table_write_and_delete_sends_its_changelog_through_send_changelog() -> None:
    """streams/table.py queues the changelog record `send_changelog` is given, to send the
    batch's together and await them before acknowledging it: a write that bypassed it would
    reach no changelog; Faust reads only the partition of what it returns."""
    assert "self.send_changelog(" in inspect.getsource(Table.on_key_set)
    assert "self.send_changelog(" in inspect.getsource(Table.on_key_del)
    for hook in (Table.on_key_set, Table.on_key_del):
        assert "fut.message.partition" in inspect.getsource(hook)
    assert inspect.signature(Collection.send_changelog).return_annotation in (
        FutureMessage, "FutureMessage"
    )


def test_every_table_write_and_delete_takes_its_changelog_partition_from_partition_for_key(
) -> None:
    """streams/table.py overrides `partition_for_key` to keep a partition's progress record
    on that partition's changelog."""
    assert "self.send_changelog(self.partition_for_key(key)" in inspect.getsource(
        Table.on_key_set
    )
    assert "self.partition_for_key(key)" in inspect.getsource(Table.on_key_del)
