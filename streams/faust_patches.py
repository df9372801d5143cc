"""Corrections to Faust that the worker applies through Faust's own settings.

**Events lost when a recovery completes** (faust-streaming #596, open). After a table
recovery, Faust's `Recovery.on_recovery_completed` resumes the stream partitions, awaits
the seek to the committed offsets, then resumes the flow control, which empties every
stream buffer (the order since faust-streaming #241). The fetcher already runs (it read
the changelogs), so while the seek awaits the broker it hands the agent events, and:

- the events still buffered when the flow control resumes are thrown away;
- a partition with a committed offset is sought back, but the fetcher finishes the batch
  it was delivering and records its last offset as read, so the events fetched again from
  the committed offset up to there are dropped as already read;
- a partition without a committed offset, or with 0, is not sought at all (aiokafka's
  `seek_to_committed`, aiokafka #1003), so reading goes on after the thrown-away events.

A second path loses events before that: Faust hands aiokafka its live set of active
partitions; when the recovery ends and pauses the changelog partitions, that set is empty
while the stream partitions are still paused, and aiokafka reads an empty set as "every
partition": it returns the stream partitions' events, moving their positions past them,
and Faust drops them as not active. Only a seek back can return them, which aiokafka does
not do for a partition without a committed offset.

A restarted worker applied offsets 0–24 of a partition and then 42 onwards. Here,
`SeekBeforeResumeRecovery` seeks while the stream partitions are still paused (those
without a committed offset to where `consumer_auto_offset_reset` starts reading), empties
the buffers and only then resumes them, with no await in between: the first event the
agent gets is the one at the committed offset.

Checked against faust-streaming 0.15.3 and aiokafka 0.14.0 (pinned in constraints.txt);
`tests/test_faust_patches.py` fails when an upgrade changes the method replaced here, or
when Faust no longer loses the events without this patch.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.tables import TableManager
from faust.tables.recovery import Recovery


class SeekBeforeResumeRecovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's method, with the stream partitions resumed after the seek (see above)."""
        app = cast(Any, self.app)
        consumer = app.consumer
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callbacks = [
            asyncio.ensure_future(
                table.on_recovery_completed(
                    self.actives_for_table[table], self.standbys_for_table[table]
                )
            )
            for table in self.tables.values()
        ]
        if callbacks:
            await asyncio.wait(callbacks)
        if app.consumer_generation_id != generation_id:
            self.log.warning(
                "Recovery rebalancing again app id %s param %s",
                app.consumer_generation_id, generation_id,
            )
            return
        assignment = consumer.assignment()
        streams = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(
                self._seek_to_reading_start(consumer, streams),
                timeout=app.conf.broker_request_timeout,
            )
        self.completed.set()
        app.flow_control.resume()  # empties the stream buffers
        consumer.resume_partitions(streams)
        consumer.resume_flow()
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _seek_to_reading_start(self, consumer: Any, streams: set[Any]) -> None:
        """Every stream partition to its committed offset; one without (or with 0, which
        aiokafka does not seek to either) to where `consumer_auto_offset_reset` starts."""
        await consumer.perform_seek()
        # Faust keeps no public getter for the committed offsets perform_seek read.
        uncommitted = [tp for tp in streams if not consumer._committed_offset.get(tp)]
        if not uncommitted:
            return
        if self.app.conf.consumer_auto_offset_reset == "latest":
            starts = await consumer.highwaters(*uncommitted)
        else:
            starts = await consumer.earliest_offsets(*uncommitted)
        for tp, offset in starts.items():
            await consumer.seek(tp, offset)


class PatchedTableManager(TableManager):
    """Faust's table manager with `SeekBeforeResumeRecovery`; `faust.App(TableManager=...)`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekBeforeResumeRecovery(
                self.app, self, beacon=self.beacon, loop=self.loop
            )
        return self._recovery
