"""CPU of the rules per event on the worker's path, in process, without Kafka (issue 21).

Feeds the synthetic events `devtools/bench_pipeline.py` produces (`generate_events(N, seed)`,
arrival order) through `DossierProcessor.on_event`, with an event-time clock (the largest
`occurred_at` read, less the out-of-orderness bound) and a timer scan every `--scan-every`
events through `streams.timers.TimerIndex` and `on_timer`, as the runtime does; the records
stay in a dict (the runtime's state cache). In the same run, the anchor: a bare msgspec
decode of the same events. Prints µs of CPU per event and a digest of every alert and fact
published, so two versions of the rules can be compared output for output.

    .venv/bin/python -m devtools.bench_rules [--events 60000] [--profile /tmp/rules.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import os
import pstats
import time
import zlib
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from dossierflow.rules.catalog import load_catalog
from dossierflow.schemas.event import DossierEvent, decode_event
from dossierflow.simulate import generate_events
from dossierflow.streams.processor import DossierProcessor, Effects
from dossierflow.streams.state import DossierRecord
from dossierflow.streams.timers import TimerIndex

PARTITIONS = 4
OUT_OF_ORDERNESS = timedelta(days=1)
_encode = msgspec.json.Encoder().encode


def run(raw: list[bytes], scan_every: int) -> tuple[float, str, int, int]:
    """Every event through the processor; (CPU seconds, digest, alerts, facts)."""
    processor = DossierProcessor(load_catalog())
    records: dict[str, DossierRecord] = {}
    timers = TimerIndex()
    digest = hashlib.sha256()
    alerts = facts = 0
    latest: datetime | None = None

    def publish(dossier_id: str, effects: Effects) -> None:
        nonlocal alerts, facts
        for out in (*effects.alerts, *effects.facts):
            digest.update(_encode(out))
        alerts += len(effects.alerts)
        facts += len(effects.facts)
        if effects.record is None:
            records.pop(dossier_id, None)
            timers.unschedule(dossier_id)
        else:
            records[dossier_id] = effects.record
            timers.schedule(dossier_id, effects.record.next_timer_at, effects.record.partition)

    started = time.process_time()
    for count, line in enumerate(raw, 1):
        event = decode_event(line)
        latest = event.occurred_at if latest is None else max(latest, event.occurred_at)
        clock = latest - OUT_OF_ORDERNESS
        partition = zlib.crc32(event.dossier_id.encode()) % PARTITIONS
        effects = processor.on_event(
            records.get(event.dossier_id), event, partition, clock, event.occurred_at < clock
        )
        if not effects.duplicate:
            publish(event.dossier_id, effects)
        if count % scan_every == 0:
            clocks = {p: clock for p in range(PARTITIONS)}
            for dossier_id in timers.pop_due(clocks, limit=10_000):
                record = records.get(dossier_id)
                if record is not None:
                    publish(dossier_id, processor.on_timer(record, clock))
    return time.process_time() - started, digest.hexdigest(), alerts, facts


def decode_only(raw: list[bytes]) -> float:
    decoder = msgspec.json.Decoder(DossierEvent)
    started = time.process_time()
    for line in raw:
        decoder.decode(line)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scan-every", type=int, default=500)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    args = parser.parse_args()
    raw = [_encode(e) for e in generate_events(args.events, args.seed)]
    n = len(raw)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    anchor = decode_only(raw)
    print(f"msgspec decode (anchor): {anchor / n * 1e6:.1f} µs/event")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    took, digest, alerts, facts = run(raw, args.scan_every)
    if args.profile:
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(30)
    print(f"worker path: {took / n * 1e6:.1f} µs/event ({took:.2f} s CPU, {n} events, "
          f"{took / anchor:.1f}× the decode)")
    print(f"alerts {alerts}, facts {facts}, outputs sha256 {digest}")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
