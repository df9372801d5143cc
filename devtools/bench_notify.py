"""Benchmark of `dossierflow notify` on a real Apache Kafka broker (not a timed test).

A webhook receiver in this process verifies each request's Standard Webhooks signature and
records when each alert arrived. Ten recipients (the heads of the sample catalogue's ten
units), all on the webhook channel at any hour, so the working calendar holds nothing back.

  (a) alert -> webhook latency at a steady rate (default 200 alerts/s for 20 s), with the
      batch window at 0 (every alert leaves at the next look at the outbox,
      DOSSIERFLOW_NOTIFY_TICK); latency = arrival at the receiver minus the alert's `at`,
      set to the wall time just before it is produced;
  (b) a backlog of N alerts (default 10,000) already on the topic when the notifier starts
      with the default 30 s window: time until every alert reached its recipient, alerts/s
      and messages (HTTP requests)/s from the first delivery; once with the default 100
      alerts per message, once with one (every alert its own request: the outbox's own
      throughput, each message a committed SQLite transaction).

    .venv/bin/python -m devtools.bench_notify                   # own broker in a temp dir
    .venv/bin/python -m devtools.bench_notify --bootstrap 127.0.0.1:9092 --backlog 20000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiokafka import AIOKafkaProducer
from standardwebhooks import Webhook

from devtools.bench_broker import bench_bootstrap, bench_parser
from dossierflow.kafka.local_broker import free_port
from dossierflow.kafka.topics import TopicSpec, ensure_topics
from dossierflow.rules.alerts import Alert, AlertKind, alert_id
from dossierflow.rules.calendar import VIETNAM
from dossierflow.rules.catalog import load_catalog
from dossierflow.rules.records import alert_record

SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWZvci13ZWJob29rcy0xMjM0NTY="
CATALOG = load_catalog()
UNITS = sorted(CATALOG.units)


class Receiver:
    def __init__(self) -> None:
        self.webhook = Webhook(SECRET)
        self.arrivals: dict[str, float] = {}
        self.latencies: list[float] = []
        self.requests = 0
        self.bad = 0
        self.first = 0.0
        self.last = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        now = time.time()
        try:
            payload: Any = self.webhook.verify(body, dict(request.headers))
        except Exception:
            self.bad += 1
            return web.Response(status=401)
        self.requests += 1
        self.first = self.first or now
        self.last = now
        for alert in payload["data"]["alerts"]:
            if alert["alert_id"] not in self.arrivals:
                self.arrivals[alert["alert_id"]] = now
                at = datetime.fromisoformat(alert["at"]).timestamp()
                self.latencies.append(now - at)
        return web.Response(status=204)

    async def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True


def recipients(url: str) -> str:
    lines = ["units:"]
    for code in UNITS:
        lines.append(
            f"  {code}: {{heads: [{{id: head-{code}, name: {code}, channels: [webhook], "
            f'hours: always, webhook: {{url: "{url}/{code}", secret: {SECRET}}}}}]}}'
        )
    return "\n".join(lines) + "\n"


def make_alert(n: int, at: datetime) -> bytes:
    unit = UNITS[n % len(UNITS)]
    deadline = at - timedelta(hours=1)
    dossier = f"BENCH-{uuid.uuid4().hex[:12]}"
    alert = Alert(alert_id=alert_id(dossier, AlertKind.AT_RISK, deadline),
                  kind=AlertKind.AT_RISK, dossier_id=dossier, at=at, deadline=deadline,
                  unit_code=unit, handling_unit_code=unit, procedure_code="1.000894",
                  apology_issued=False)
    return msgspec.json.encode(alert_record(alert, CATALOG))


def make_topics(bootstrap: str, name: str) -> tuple[str, str]:
    alerts, facts = (f"bench-{kind}-{name}-{uuid.uuid4().hex[:6]}" for kind in ("alerts", "facts"))
    ensure_topics(bootstrap, [TopicSpec(alerts, 4), TopicSpec(facts, 4)])
    return alerts, facts


def start_notifier(bootstrap: str, tmp: Path, name: str, url: str, topics: tuple[str, str],
                   extra: dict[str, str]) -> subprocess.Popen[bytes]:
    alerts, facts = topics
    (tmp / f"{name}.yaml").write_text(recipients(url), encoding="utf-8")
    env = {
        **os.environ,
        "DOSSIERFLOW_BOOTSTRAP": bootstrap,
        "DOSSIERFLOW_ALERTS_TOPIC": alerts,
        "DOSSIERFLOW_FACTS_TOPIC": facts,
        "DOSSIERFLOW_NOTIFY_GROUP_ID": f"bench-{name}-{uuid.uuid4().hex[:6]}",
        "DOSSIERFLOW_NOTIFY_STATE": str(tmp / f"{name}.sqlite"),
        "DOSSIERFLOW_NOTIFY_RECIPIENTS": str(tmp / f"{name}.yaml"),
        "DOSSIERFLOW_NOTIFY_METRICS_PORT": str(free_port()),
        "DOSSIERFLOW_NOTIFY_MORNING_DIGEST": "false",
        **extra,
    }
    log = (tmp / f"{name}.log").open("ab")
    command = [sys.executable, "-m", "dossierflow.cli", "notify", "--loglevel", "warning"]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


async def latency(bootstrap: str, tmp: Path, url: str, receiver: Receiver,
                  rate: int, seconds: float) -> None:
    topics = make_topics(bootstrap, "latency")
    topic = topics[0]
    process = start_notifier(bootstrap, tmp, "latency", url, topics,
                             {"DOSSIERFLOW_NOTIFY_BATCH_WINDOW": "0"})
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    try:
        await producer.send_and_wait(topic, make_alert(0, datetime.now(VIETNAM)))
        if not await receiver.wait_for(1, 120):
            raise SystemExit("the notifier delivered nothing in 120 s")
        receiver.latencies.clear()
        total = int(rate * seconds)
        started = time.monotonic()
        for n in range(1, total + 1):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await producer.send(topic, make_alert(n, datetime.now(VIETNAM)))
        await producer.flush()
        if not await receiver.wait_for(total + 1, 120):
            print(f"(a) only {len(receiver.arrivals) - 1} of {total} alerts arrived")
    finally:
        await producer.stop()
        stop(process)
    values = receiver.latencies
    print(f"(a) {len(values)} alerts at {rate}/s for {seconds:.0f} s, {receiver.requests} "
          f"requests: latency p50 {quantile(values, 0.5) * 1000:.0f} ms, "
          f"p99 {quantile(values, 0.99) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms")


async def backlog(bootstrap: str, tmp: Path, url: str, receiver: Receiver, count: int,
                  per_message: int) -> None:
    receiver.arrivals.clear()
    receiver.requests, receiver.first = 0, 0.0
    topics = make_topics(bootstrap, f"backlog{per_message}")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        at = datetime.now(VIETNAM)
        for n in range(count):
            await producer.send(topics[0], make_alert(n, at))
        await producer.flush()
    finally:
        await producer.stop()
    started = time.monotonic()
    process = start_notifier(bootstrap, tmp, f"backlog{per_message}", url, topics,
                             {"DOSSIERFLOW_NOTIFY_MAX_ALERTS_PER_MESSAGE": str(per_message)})
    try:
        done = await receiver.wait_for(count, 900)
    finally:
        stop(process)
    elapsed = time.monotonic() - started
    span = max(receiver.last - receiver.first, 1e-9)
    delivered = "all" if done else str(len(receiver.arrivals))
    print(f"(b) backlog of {count} alerts, at most {per_message} per message: {delivered} "
          f"delivered in {elapsed:.1f} s from the notifier's start (includes the 30 s batch "
          f"window and the group join); from first to last delivery {span:.2f} s: "
          f"{len(receiver.arrivals) / span:.0f} alerts/s, {receiver.requests} requests, "
          f"{receiver.requests / span:.1f} messages/s")


async def run(bootstrap: str, tmp: Path, args: argparse.Namespace) -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{unit}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    try:
        if not args.skip_latency:
            await latency(bootstrap, tmp, url, receiver, args.rate, args.seconds)
        for per_message in (100, 1):
            await backlog(bootstrap, tmp, url, receiver, args.backlog, per_message)
        if receiver.bad:
            print(f"{receiver.bad} requests had a bad signature")
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dfbench-notify-")))
        asyncio.run(run(bench_bootstrap(stack, tmp, args.bootstrap), tmp, args))
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
