"""The worker's keyed state: dossier records and partition progress over a `StateTable`,
with the changes of the batch or timer scan in progress held back until its outputs are
delivered (streams/runtime.py), and the state's format checked (streams/state.py).

The records' layout and reserved keys are in streams/state.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

import msgspec

from dossierflow.streams.ports import StateTable
from dossierflow.streams.state import (
    DOSSIERS_KEPT,
    STATE_FORMAT,
    DossierRecord,
    PartitionProgress,
    decode_progress,
    decode_record,
    encode_progress,
    encode_record,
    is_reserved,
    progress_key,
)


class StateFormatError(RuntimeError):
    """A partition's state is in a format this worker does not read."""


class DossierState:
    def __init__(self, table: StateTable, app_id: str, records_kept: int = DOSSIERS_KEPT) -> None:
        self.table = table
        self._app_id = app_id
        self._records_kept = records_kept
        """Records kept decoded beside their bytes, those saved most recently."""
        self._unsaved: dict[str, DossierRecord | None] = {}
        """Records changed by the batch or scan in progress, not yet in the table."""
        self._unsaved_latest: dict[int, datetime] = {}
        """The largest `occurred_at` the batch in progress read from each partition, not yet
        in the partition's progress record."""
        self._decoded: dict[str, tuple[bytes, DossierRecord]] = {}
        """The records saved most recently and the bytes written for each, the oldest first
        (at most `records_kept`): loading one whose bytes are still those in the table
        copies it instead of decoding them, and its events stay the objects the processor's
        kept fold holds (compared by identity before equality)."""

    def load(self, dossier_id: str) -> DossierRecord | None:
        """The dossier's record as the batch in progress left it (None: not in the table)."""
        if dossier_id in self._unsaved:
            return self._unsaved[dossier_id]
        data = self.table.get(dossier_id.encode())
        if data is None:
            return None
        decoded = self._decoded.get(dossier_id)
        if decoded is not None and decoded[0] == data:  # else written otherwise (a recovery)
            # A copy: the caller may change the record (a timer does), and a batch whose
            # outputs fail is not saved.
            return msgspec.structs.replace(decoded[1], emitted=list(decoded[1].emitted))
        return decode_record(data)

    def stage(self, dossier_id: str, record: DossierRecord | None) -> None:
        """The dossier's record is `record` (None: it leaves the table) once saved."""
        self._unsaved[dossier_id] = record

    def note_read(self, partition: int, occurred_at: datetime) -> None:
        latest = self._unsaved_latest.get(partition)
        if latest is None or occurred_at > latest:
            self._unsaved_latest[partition] = occurred_at

    def dossiers(self) -> Iterator[tuple[str, DossierRecord]]:
        """Every dossier record in the table (not the reserved records)."""
        for key, data in self.table.items():
            if not is_reserved(key):
                yield key.decode(), decode_record(data)

    def saved_latest(self, partition: int) -> datetime | None:
        """The largest `occurred_at` applied from `partition` as its progress record says."""
        data = self.table.get(progress_key(partition))
        return decode_progress(data).latest_occurred_at if data is not None else None

    def discard(self) -> None:
        """Forget the changes in progress (their outputs were not delivered)."""
        self._unsaved.clear()
        self._unsaved_latest.clear()

    def save(self) -> dict[str, DossierRecord | None]:
        """Write the changes in progress to the table; the dossiers' changes written."""
        changes, self._unsaved = self._unsaved, {}
        decoded = self._decoded
        # Each partition's records written together: one stand-in event each (streams/table.py).
        writes: defaultdict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
        for dossier_id, record in changes.items():
            key = dossier_id.encode()
            decoded.pop(dossier_id, None)
            if record is None:
                self.table.delete(key)
            else:
                data = encode_record(record)
                writes[record.partition].append((key, data))
                decoded[dossier_id] = (data, msgspec.structs.replace(
                    record, emitted=list(record.emitted)))
        while len(decoded) > self._records_kept:
            del decoded[next(iter(decoded))]
        for partition, latest in self._unsaved_latest.items():
            saved = self.saved_latest(partition)
            if saved is None or latest > saved:
                progress = PartitionProgress(latest_occurred_at=latest,
                                             state_format=STATE_FORMAT)
                writes[partition].append((progress_key(partition), encode_progress(progress)))
        self._unsaved_latest.clear()
        for partition, records in writes.items():
            self.table.put_all(partition, records)
        return changes

    def check_format(self, partitions: frozenset[int]) -> None:
        """Refuse the state of `partitions` unless their progress records say it is in
        `STATE_FORMAT` (a partition without one holds no record of a newer format)."""
        for partition in sorted(partitions):
            data = self.table.get(progress_key(partition))
            if data is None:
                continue
            try:
                found: int | None = decode_progress(data).state_format
            except msgspec.DecodeError:  # ValidationError included
                found = None
            if found != STATE_FORMAT:
                raise StateFormatError(self._refusal(partition, found))

    def _refusal(self, partition: int, found: int | None) -> str:
        if found is None:
            what = "has a progress record this worker cannot read"
        elif found > STATE_FORMAT:
            what = f"is in format {found}, written by a newer dossierflow"
        else:
            what = f"is in format {found}, written by an older dossierflow"
        return (
            f"the state of events partition {partition} (table 'dossiers' of app "
            f"{self._app_id!r}) {what}; this worker reads format {STATE_FORMAT} only. Run "
            "the dossierflow version that wrote it, or start from empty state under a new "
            "--app-id (it reads the events topic from its start, so only if the topic still "
            "holds the dossiers' whole history)"
        )
