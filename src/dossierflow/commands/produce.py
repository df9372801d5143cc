"""`dossierflow produce EVENTS.jsonl`: publish a file of events to the events topic."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dossierflow import config
from dossierflow.commands.options import check_events_file
from dossierflow.commands.setting_options import add_setting_options, settings_from
from dossierflow.config import setting
from dossierflow.errors import ExitCode


@dataclass(frozen=True)
class ProduceSettings:
    bootstrap: str = setting(
        config.BOOTSTRAP,
        "Kafka bootstrap servers, HOST:PORT[,...] (DOSSIERFLOW_KAFKA_BOOTSTRAP, its former "
        "name for `produce`, is still read, with a warning)",
        aliases=("DOSSIERFLOW_KAFKA_BOOTSTRAP",),
        option="--bootstrap", metavar="HOST:PORT[,...]",
    )
    events_topic: str = setting(config.EVENTS_TOPIC, "topic of the dossier events",
                                option="--topic", metavar="TOPIC")
    partitions: int = setting(config.PARTITIONS, "partitions when the topic has to be created",
                              minimum=1, option="--partitions")


def add_commands(subparsers: Any) -> None:
    """Register `produce` on an argparse `add_subparsers()` object."""
    produce = subparsers.add_parser(
        "produce",
        help="publish a JSONL file of events to the events topic, keyed by dossier_id",
        description="Publish events to Kafka. Invalid lines are reported on stderr with "
        "their line number, skipped and counted (then the exit code is 3); the exit code is "
        "1 when an event could not be delivered.",
        options=lambda parser: add_setting_options(parser, ProduceSettings),
    )
    produce.add_argument("events", type=Path, metavar="EVENTS.jsonl")
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
    from dossierflow.kafka.diagnosis import KafkaRefused
    from dossierflow.kafka.producer import produce_file
    from dossierflow.kafka.security import KafkaConfigError, KafkaSecurity
    from dossierflow.kafka.topics import TopicSpec, ensure_topics

    check_events_file(args.events)
    settings = settings_from(
        args, ProduceSettings,
        warn=lambda message: print(f"dossierflow produce: warning: {message}",
                                   file=sys.stderr),
    )
    try:
        security = KafkaSecurity.from_env()
        ensure_topics(
            settings.bootstrap,
            [TopicSpec(settings.events_topic, settings.partitions)],
            security=security,
            timeout_ms=int(args.timeout * 1000),
        )
        result = produce_file(
            settings.bootstrap,
            settings.events_topic,
            args.events,
            progress=not args.no_progress,
            security=security,
        )
    except (KafkaConfigError, KafkaRefused) as exc:
        print(f"dossierflow produce: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # kafka-python errors: no broker, timeouts
        print(f"dossierflow produce: {settings.bootstrap}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    print(
        f"produce: {result.published} events to {settings.events_topic} "
        f"({result.bad} bad lines, {result.failed} not delivered) in {result.seconds:.1f} s, "
        f"{result.events_per_second:,.0f} events/s",
        file=sys.stderr,
    )
    if result.failed:
        return ExitCode.FAILED
    return ExitCode.CHECK_FAILED if result.bad else ExitCode.OK
