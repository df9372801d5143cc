"""The anchor of the worker's throughput: an empty per-message Faust agent.

`async for _ in stream: pass` with Faust's default settings (only what reaching the broker
and reading the topic from its start need), as a process of its own, reading `count`
events of `topic`; it prints a JSON line with its first→last event seconds (wall and CPU) and exits.

With a GROUP, the anchor of the scale-out: several such agents share that application id
(one consumer group), so none knows how many events it will get (COUNT is not used). Each
notes the wall time (`time.time()`, comparable between processes) of its first and latest
event, and leaves once it has read nothing for IDLE_SECONDS after reading something,
printing both, its event count and its CPU up to the last check that saw it read (at most
CHECK_SECONDS after its last event); one that reads nothing is stopped by the bench. What
differs from the agent alone is that one call per event, about 0.05 µs on the agent's
~100 µs an event, and the check every CHECK_SECONDS.

    python -m devtools.empty_agent BOOTSTRAP TOPIC COUNT [GROUP]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid

import faust

IDLE_SECONDS = 3.0
CHECK_SECONDS = 0.2


def main() -> None:
    bootstrap, topic_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    group = sys.argv[4] if len(sys.argv) > 4 else None
    datadir = tempfile.mkdtemp(prefix="empty-agent-")
    app = faust.App(
        group or f"empty-agent-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        consumer_auto_offset_reset="earliest",  # the topic from its start, as the worker
        web_enabled=False,
    )
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    seen = 0
    first = cpu_first = 0.0

    def report(figures: dict[str, float]) -> None:
        print(json.dumps({"events": seen, **figures}), flush=True)
        shutil.rmtree(datadir, ignore_errors=True)  # os._exit skips every cleanup
        os._exit(0)

    if group is None:
        @app.agent(topic)
        async def empty(stream: faust.StreamT[bytes]) -> None:
            nonlocal seen, first, cpu_first
            async for _ in stream:
                if not seen:
                    first, cpu_first = time.monotonic(), time.process_time()
                seen += 1  # the count alone: the agent is `pass`
                if seen >= count:
                    report({"seconds": time.monotonic() - first,
                            "cpu_seconds": time.process_time() - cpu_first})
    else:
        latest = 0.0
        checked, cpu_checked = 0, 0.0

        @app.agent(topic)
        async def empty_member(stream: faust.StreamT[bytes]) -> None:
            nonlocal seen, first, latest, cpu_first
            async for _ in stream:
                latest = time.time()
                if not seen:
                    first, cpu_first = latest, time.process_time()
                seen += 1

        async def leave_when_idle() -> None:
            nonlocal checked, cpu_checked
            if seen != checked:
                checked, cpu_checked = seen, time.process_time()
            elif seen and time.time() - latest > IDLE_SECONDS:
                report({"first": first, "last": latest, "cpu_seconds": cpu_checked - cpu_first})

        app.timer(CHECK_SECONDS)(leave_when_idle)

    sys.argv[1:] = ["worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
