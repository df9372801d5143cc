"""The anchor of the worker's throughput: an empty per-message Faust agent.

`async for _ in stream: pass` with Faust's default settings (only what reaching the broker
and reading the topic from its start need), as a process of its own, reading `count`
events of `topic`; it prints a JSON line with its first→last event seconds (wall and CPU) and exits.

    python -m devtools.empty_agent BOOTSTRAP TOPIC COUNT
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid

import faust


def main() -> None:
    bootstrap, topic_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = faust.App(
        f"empty-agent-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="empty-agent-"),
        consumer_auto_offset_reset="earliest",  # the topic from its start, as the worker
        web_enabled=False,
    )
    topic = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
    seen = 0
    first = cpu_first = 0.0

    @app.agent(topic)
    async def empty(stream: faust.StreamT[bytes]) -> None:
        nonlocal seen, first, cpu_first
        async for _ in stream:
            if not seen:
                first, cpu_first = time.monotonic(), time.process_time()
            seen += 1  # the count alone: the agent is `pass`
            if seen >= count:
                print(json.dumps({"events": seen, "seconds": time.monotonic() - first,
                                  "cpu_seconds": time.process_time() - cpu_first}),
                      flush=True)
                os._exit(0)

    sys.argv[1:] = ["worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main()
