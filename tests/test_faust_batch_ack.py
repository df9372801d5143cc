"""The acknowledgement of a batch (streams/faust_patches.py, `_ack_batch`) against Faust's
own `Consumer.ack` on each message, on Faust's real consumer objects (no broker: nothing
here fetches or commits). Two consumers in the same state, one acknowledging message by
message, the other the batch at once, must end with the same acknowledged offsets, index,
count and committable offsets, and those offsets are the ones worked out by hand: a gap
recorded inside the batch is committed past, a message not in the batch (still in flight)
is not, offsets below the committed one and offsets acknowledged already are not counted.
The gaps a fetch's records leave (`_add_gaps`) are exactly the offsets no record has.
"""

from __future__ import annotations

import asyncio
import uuid
from itertools import chain, zip_longest
from pathlib import Path
from typing import Any, cast

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP, ConsumerMessage, Message

from dossierflow.streams.faust_patches import ActivePartitionsConsumer, use_patched_transport

TOPIC = "events"
GAP = TP(TOPIC, 0)  # offsets 0-4 and 7-9 in the batch, 5-6 a gap (e.g. transaction markers)
IN_FLIGHT = TP(TOPIC, 1)  # committed at 20; 17-23 and 25-27 in the batch, 24 not
ACKED_BEFORE = TP(TOPIC, 2)  # 30-33 in the batch, 32 acknowledged by an earlier batch
BATCH_OFFSETS = {
    GAP: [0, 1, 2, 3, 4, 7, 8, 9],
    IN_FLIGHT: [17, 18, 19, 20, 21, 22, 23, 25, 26, 27],
    ACKED_BEFORE: [30, 31, 32, 33],
}
COMMITTABLE = {GAP: 10, IN_FLIGHT: 24, ACKED_BEFORE: 34}
COUNTED = 8 + 7 + 3  # 17-19 are below the committed offset, 32 was counted before


async def _consumer(tmp: Path) -> ActivePartitionsConsumer:
    """The worker's Faust consumer of an app reading TOPIC with acknowledgements, in the
    state the scenario starts from (as getmany and an earlier batch leave it)."""
    app_id = f"ack-{uuid.uuid4().hex[:8]}"
    app = faust.App(app_id, broker="kafka://127.0.0.1:1", store="memory://",
                    datadir=str(tmp / app_id), web_enabled=False)
    use_patched_transport(app)
    app.topics.add(app.topic(TOPIC, value_serializer="raw"))
    await cast(Any, app.topics)._update_indices()  # Faust's own: acks enabled for TOPIC
    app.flow_control.resume()  # as the recovery leaves it: the flow active
    consumer = cast(ActivePartitionsConsumer, app.consumer)
    consumer._committed_offset[IN_FLIGHT] = 20
    await consumer._add_gap(GAP, 5, 6)  # as getmany records it, reading 7 after 4
    consumer.ack(_message(ACKED_BEFORE, 32))
    return consumer


def _message(tp: TP, offset: int) -> Message:
    return ConsumerMessage(tp.topic, tp.partition, offset, 0.0, 0, [], None, b"", None, 0, 0,
                           tp)


def _batch() -> list[Message]:
    """In the order Faust's getmany hands them on: round robin over the partitions."""
    runs = [[_message(tp, offset) for offset in offsets] for tp, offsets in BATCH_OFFSETS.items()]
    return [m for m in chain.from_iterable(zip_longest(*runs)) if m is not None]


def _state(consumer: ActivePartitionsConsumer) -> dict[str, Any]:
    return {
        "acked": {tp: sorted(offsets) for tp, offsets in consumer._acked.items()},
        "acked index": dict(consumer._acked_index),
        "n acked": consumer._n_acked,
    }


async def test_a_batch_is_acknowledged_as_faust_acknowledges_each_of_its_messages(
    tmp_path: Path
) -> None:
    each, batch = await _consumer(tmp_path), await _consumer(tmp_path)
    one_by_one, at_once = _batch(), _batch()
    for message in one_by_one:
        each.ack(message)
    batch._ack_batch(at_once)
    assert _state(batch) == _state(each)
    assert batch._n_acked == each._n_acked == 1 + COUNTED
    assert all(message.acked for message in at_once)
    tps = list(BATCH_OFFSETS)
    assert batch._filter_committable_offsets(tps) == each._filter_committable_offsets(tps)
    assert _state(batch) == _state(each)  # what the commit left for the next one


async def test_a_batch_acknowledged_at_once_commits_past_its_gaps_and_not_past_what_is_missing(
    tmp_path: Path
) -> None:
    consumer = await _consumer(tmp_path)
    consumer._ack_batch(_batch())
    assert consumer._filter_committable_offsets(list(BATCH_OFFSETS)) == COMMITTABLE


async def test_a_batch_acknowledged_earlier_is_not_counted_again(tmp_path: Path) -> None:
    consumer = await _consumer(tmp_path)
    consumer._ack_batch(_batch())
    counted = consumer._n_acked
    again = _batch()  # read again after a seek back, before any commit
    consumer._ack_batch(again)
    assert consumer._n_acked == counted
    assert all(message.acked for message in again)


async def test_a_batch_stays_unacknowledged_until_applied_and_then_is_not(tmp_path: Path) -> None:
    """What makes a rebalance or a stop wait for the batch (`Consumer.wait_empty`)."""
    consumer = await _consumer(tmp_path)
    seen_while_applying: list[bool] = []

    async def apply(messages: Any) -> None:
        seen_while_applying.append(bool(consumer.unacked))

    batch = _batch()
    await consumer._apply_and_ack(apply, batch)
    assert seen_while_applying == [True]
    assert not consumer.unacked
    assert consumer._filter_committable_offsets(list(BATCH_OFFSETS)) == COMMITTABLE


async def test_a_batch_handed_on_as_the_flow_stops_is_waited_for_or_not_applied(
    tmp_path: Path
) -> None:
    """getmany hands a batch on (`asyncio.shield`: a task, which starts only after the
    tasks already ready) once it found the flow active; a rebalance ready by then stops the
    flow and, finding nothing unacknowledged, goes on (wait_empty) while the partitions are
    revoked. The batch must then not be applied: its partitions may be another's."""
    consumer = await _consumer(tmp_path)
    seen: list[str] = []

    async def apply(messages: Any) -> None:
        seen.append("applied")

    async def rebalance() -> None:
        consumer.stop_flow()
        seen.append("a batch to wait for" if consumer.unacked else "nothing to wait for")

    rebalancing = asyncio.ensure_future(rebalance())
    batch = _batch()
    await asyncio.shield(consumer._apply_and_ack(apply, batch))
    await rebalancing
    assert seen in (["nothing to wait for"], ["a batch to wait for", "applied"]), seen
    assert seen[-1] == "applied" or not any(message.acked for message in batch)


async def test_a_batch_acknowledged_wakes_what_waits_for_an_acknowledgement(
    tmp_path: Path
) -> None:
    """As `Consumer.ack` does: `wait_empty` (a rebalance, a stop) looks again at once."""
    consumer = await _consumer(tmp_path)
    waiting = asyncio.get_running_loop().create_future()
    consumer._waiting_for_ack = waiting
    consumer._ack_batch(_batch())
    assert waiting.done()


async def test_a_batch_whose_apply_fails_is_neither_acknowledged_nor_done(tmp_path: Path) -> None:
    consumer = await _consumer(tmp_path)
    counted = consumer._n_acked

    async def apply(messages: Any) -> None:
        raise RuntimeError("the batch's outputs could not be delivered")

    batch = _batch()
    with pytest.raises(RuntimeError):
        await consumer._apply_and_ack(apply, batch)
    assert consumer.unacked
    assert consumer._n_acked == counted
    assert not any(message.acked for message in batch)


@pytest.mark.parametrize(("read_offset", "offsets", "gaps"), [
    (4, [7, 8, 9], {5, 6}),  # contiguous, after a gap (markers between two fetches)
    (9, [10, 11, 14, 15, 17], {12, 13, 16}),  # gaps inside the fetch
    (4, [7, 8, 10], {5, 6, 9}),  # both
    (4, [5, 6, 7], set()),
    (None, [3, 4, 6], {5}),  # the drain loop's rule: no gap after no read offset or 0
    (0, [3, 4], set()),
])
async def test_the_gaps_a_fetch_leaves_are_the_offsets_no_record_has(
    tmp_path: Path, read_offset: int | None, offsets: list[int], gaps: set[int]
) -> None:
    """Not the offset of the record after a gap: the commit would find it twice."""
    consumer = await _consumer(tmp_path)
    tp = TP(TOPIC, 3)
    records = [ConsumerRecord(TOPIC, 3, offset, 0, 0, None, b"", None, 0, 0, [])
               for offset in offsets]
    await consumer._add_gaps(tp, read_offset, records)
    assert {o for interval in consumer._gap[tp] for o in range(interval.begin, interval.end)
            } == gaps
