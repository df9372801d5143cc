"""CLI commands `dossierflow kafka start|stop|status` and `dossierflow produce EVENTS.jsonl`.

Kept out of cli.py so the CLI module only wires sub-commands; `add_commands` receives
the argparse sub-parsers object and each sub-command sets `func(args) -> int`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

BOOTSTRAP_ENV = "DOSSIERFLOW_BOOTSTRAP"  # the same variable as the worker and the sink
TOPIC_ENV = "DOSSIERFLOW_EVENTS_TOPIC"
DEFAULT_BOOTSTRAP = "localhost:9092"
DEFAULT_TOPIC = "dossier-events"
DEFAULT_PARTITIONS = 4


def add_commands(subparsers: Any) -> None:
    """Register `kafka` and `produce` on an argparse `add_subparsers()` object."""
    kafka = subparsers.add_parser(
        "kafka",
        help="manage a local Apache Kafka broker (KRaft, one node) for development",
        description="Manage a local Apache Kafka broker. The jars are fetched from Maven "
        "Central on first start (deploy/kafka/pom.xml).",
    )
    kafka.add_argument("action", choices=("start", "stop", "status"))
    kafka.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="broker data dir (default: $DOSSIERFLOW_KAFKA_DATA_DIR or .dossierflow/kafka)",
    )
    kafka.add_argument(
        "--port",
        type=int,
        default=None,
        help="client port (default: the running broker's, $DOSSIERFLOW_KAFKA_PORT or 9092)",
    )
    kafka.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for start/stop")
    kafka.set_defaults(func=run_kafka)

    produce = subparsers.add_parser(
        "produce",
        help="publish a JSONL file of events to the events topic, keyed by dossier_id",
        description="Publish events to Kafka. Invalid lines are reported on stderr with "
        "their line number and skipped (exit code 0); the exit code is 1 when an event "
        "could not be delivered.",
    )
    produce.add_argument("events", type=Path, metavar="EVENTS.jsonl")
    produce.add_argument(
        "--bootstrap",
        default=os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
        help=f"HOST:PORT[,...] (default: ${BOOTSTRAP_ENV} or {DEFAULT_BOOTSTRAP})",
    )
    produce.add_argument(
        "--topic",
        default=os.environ.get(TOPIC_ENV, DEFAULT_TOPIC),
        help=f"events topic (default: ${TOPIC_ENV} or {DEFAULT_TOPIC})",
    )
    produce.add_argument(
        "--partitions",
        type=int,
        default=DEFAULT_PARTITIONS,
        help=f"partitions when the topic has to be created (default {DEFAULT_PARTITIONS})",
    )
    produce.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the broker to answer admin requests (default 30)",
    )
    produce.add_argument(
        "--no-progress", action="store_true", help="no progress bar (e.g. in scripts)"
    )
    produce.set_defaults(func=run_produce)


def run_kafka(args: argparse.Namespace) -> int:
    from dossierflow.kafka_local import KafkaAlreadyRunning, KafkaLocalError, LocalKafka

    try:
        broker = LocalKafka(args.data_dir, args.port, startup_timeout=args.timeout)
        if args.action == "start":
            began = time.monotonic()
            try:
                status = broker.start()
            except KafkaAlreadyRunning as exc:
                print(f"kafka: {exc}", file=sys.stderr)
                return 0
            print(
                f"kafka: started on {status.bootstrap} (pid {status.pid}) in "
                f"{time.monotonic() - began:.1f} s; data {broker.data_dir}, log {broker.log_file}"
            )
            return 0
        if args.action == "stop":
            if broker.stop(timeout=args.timeout):
                print(f"kafka: stopped the broker of {broker.data_dir}")
            else:
                print(f"kafka: no broker running from {broker.data_dir}")
            return 0
        running = broker.status()
        if running is None:
            print(f"kafka: not running (data {broker.data_dir})")
            return 3  # like `systemctl status`: not running is not an error of the command
        print(
            f"kafka: running on {running.bootstrap} (pid {running.pid}, up "
            f"{time.time() - running.started_at:.0f} s); data {running.data_dir}, "
            f"log {running.log_file}"
        )
        return 0
    except KafkaLocalError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1


def run_produce(args: argparse.Namespace) -> int:
    from dossierflow.kafka_admin import (
        KafkaConfigError,
        KafkaSecurity,
        TopicSpec,
        ensure_topics,
        produce_file,
    )

    if not args.events.is_file():
        print(f"produce: {args.events}: no such file", file=sys.stderr)
        return 2
    if args.partitions < 1:
        print("produce: --partitions must be >= 1", file=sys.stderr)
        return 2
    try:
        security = KafkaSecurity.from_env()
        ensure_topics(
            args.bootstrap,
            [TopicSpec(args.topic, args.partitions)],
            security=security,
            timeout_ms=int(args.timeout * 1000),
        )
        result = produce_file(
            args.bootstrap,
            args.topic,
            args.events,
            progress=not args.no_progress,
            security=security,
        )
    except KafkaConfigError as exc:
        print(f"produce: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kafka-python errors: no broker, auth, timeouts
        print(f"produce: {args.bootstrap}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(
        f"produce: {result.published} events to {args.topic} "
        f"({result.bad} bad lines, {result.failed} not delivered) in {result.seconds:.1f} s, "
        f"{result.events_per_second:,.0f} events/s",
        file=sys.stderr,
    )
    return 0 if result.failed == 0 else 1
