"""`dossierflow produce EVENTS.jsonl`: publish a file of events to the events topic."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

BOOTSTRAP_ENV = "DOSSIERFLOW_BOOTSTRAP"  # the same variable as the worker and the sink
TOPIC_ENV = "DOSSIERFLOW_EVENTS_TOPIC"
DEFAULT_BOOTSTRAP = "localhost:9092"
DEFAULT_TOPIC = "dossier-events"
DEFAULT_PARTITIONS = 4


def add_commands(subparsers: Any) -> None:
    """Register `produce` on an argparse `add_subparsers()` object."""
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
    produce.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dossierflow.kafka.producer import produce_file
    from dossierflow.kafka.security import KafkaConfigError, KafkaSecurity
    from dossierflow.kafka.topics import TopicSpec, ensure_topics

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
