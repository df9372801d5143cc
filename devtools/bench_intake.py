"""Bodies/s and events/s through `dossierflow intake`: the file path, and `intake serve`
(HTTP → Kafka, each answer after Kafka's acknowledgement), against `dossierflow produce` of
the same events (the anchor: Kafka's own pace for them).

    .venv/bin/python -m devtools.bench_intake [--days 28] [--clients 1,4] [--bootstrap H:P]

The input is `simulate --format portal` of the province-small profile (one body a change of a
dossier). `intake serve` runs as its own process; each client thread posts one dossier's
bodies in their order over a kept-alive connection (a dossier's bodies on one client, so
concurrency keeps each dossier's order). Every run's events are counted on its topic.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

from devtools.bench_broker import bench_bootstrap, bench_parser
from dossierflow.cli import main as cli
from dossierflow.intake.portal import portal_bodies
from dossierflow.kafka.local_broker import free_port
from dossierflow.kafka.producer import produce_file
from dossierflow.kafka.security import KafkaSecurity
from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.rules.catalog import load_catalog
from dossierflow.simulate import generate_events, load_profile, profile_start

TOKEN = uuid.uuid4().hex + uuid.uuid4().hex


def write_bodies(path: Path, days: int) -> int:
    profile = load_profile("province-small")
    events = generate_events(None, 1, start=profile_start(profile), days=days,
                             today=date(2027, 1, 1), profile=profile)
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for body in portal_bodies(events, load_catalog()):
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
            count += 1
    return count


def topic_size(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return sum(consumer.end_offsets(partitions).values())
    finally:
        consumer.close()


def new_topic(bootstrap: str) -> str:
    name = f"bench-intake-{uuid.uuid4().hex[:8]}"
    ensure_topics(bootstrap, [TopicSpec(name, 4)], security=KafkaSecurity())
    return name


def timed(action: Any) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def post_all(port: int, streams: list[list[bytes]]) -> None:
    errors: list[str] = []

    def client(bodies: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        try:
            for body in bodies:
                connection.request("POST", "/", body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{response.status}")
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(s,)) for s in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"intake serve refused {len(errors)} bodies: {errors[:5]}")


def streams_of(bodies_file: Path, clients: int) -> list[list[bytes]]:
    """The bodies split into `clients` streams, each dossier's bodies in one, in order."""
    streams: list[list[bytes]] = [[] for _ in range(clients)]
    owner: dict[str, int] = {}
    for line in bodies_file.read_bytes().splitlines():
        dossier = json.loads(line)["data"][0]["MaHoSo"]
        streams[owner.setdefault(dossier, len(owner) % clients)].append(line)
    return streams


def serve_run(tmp: Path, bootstrap: str, bodies_file: Path, clients: int) -> tuple[float, str]:
    topic, port = new_topic(bootstrap), free_port()
    env = {**os.environ, "DOSSIERFLOW_BOOTSTRAP": bootstrap, "DOSSIERFLOW_EVENTS_TOPIC": topic,
           "DOSSIERFLOW_INTAKE_HTTP_PORT": str(port), "DOSSIERFLOW_INTAKE_TOKEN": TOKEN,
           "DOSSIERFLOW_INTAKE_REJECTIONS_FILE": str(tmp / "rejections.jsonl"),
           "DOSSIERFLOW_INTAKE_MEMORY_FILE": str(tmp / f"memory-{clients}.sqlite3")}
    log = (tmp / f"serve-{clients}.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "dossierflow.cli", "intake", "serve"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        streams = streams_of(bodies_file, clients)
        return timed(lambda: post_all(port, streams)), topic
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--days", type=int, default=28, help="days of province-small (28)")
    parser.add_argument("--clients", default="1,4", help="concurrent clients of serve (1,4)")
    args = parser.parse_args()
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        bootstrap = bench_bootstrap(stack, tmp, args.bootstrap)
        bodies_file, events_file = tmp / "bodies.jsonl", tmp / "events.jsonl"
        bodies = write_bodies(bodies_file, args.days)
        rows: list[tuple[str, float, int, int]] = []
        seconds = timed(lambda: cli(["intake", str(bodies_file), "--out", str(events_file)]))
        events = len(events_file.read_bytes().splitlines())
        rows.append(("intake FILE --out (no Kafka)", seconds, bodies, events))
        topic = new_topic(bootstrap)
        seconds = timed(lambda: produce_file(bootstrap, topic, events_file, progress=False))
        rows.append(("produce EVENTS.jsonl (anchor)", seconds, 0, topic_size(bootstrap, topic)))
        topic = new_topic(bootstrap)
        seconds = timed(lambda: cli(["intake", str(bodies_file), "--produce", "--bootstrap",
                                     bootstrap, "--topic", topic]))
        rows.append(("intake FILE --produce", seconds, bodies, topic_size(bootstrap, topic)))
        for clients in (int(c) for c in args.clients.split(",")):
            seconds, topic = serve_run(tmp, bootstrap, bodies_file, clients)
            rows.append((f"intake serve, {clients} client(s)", seconds, bodies,
                         topic_size(bootstrap, topic)))
    print(f"{bodies} bodies, {events} events (province-small, {args.days} days)\n")
    print("| path | seconds | bodies/s | events/s | events on the topic |")
    print("|---|---|---|---|---|")
    for name, seconds, sent, published in rows:
        per_body = f"{sent / seconds:,.0f}" if sent else "—"
        print(f"| {name} | {seconds:.2f} | {per_body} | {events / seconds:,.0f} | "
              f"{published if 'Kafka' not in name else '—'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
