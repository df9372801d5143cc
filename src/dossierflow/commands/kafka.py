"""`dossierflow kafka start|stop|status`: a local Apache Kafka broker for development."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from dossierflow.errors import ExitCode


def add_commands(subparsers: Any) -> None:
    """Register `kafka` on an argparse `add_subparsers()` object."""
    kafka = subparsers.add_parser(
        "kafka",
        help="manage a local Apache Kafka broker (KRaft, one node) for development",
        description="Manage a local Apache Kafka broker. The jars are fetched from Maven "
        "Central on first start into ~/.cache/dossierflow/kafka/<version>/ (needs Java 17+ "
        "and Maven).",
    )
    kafka.add_argument("action", choices=("start", "stop", "status"))
    kafka.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="broker data dir (default: $DOSSIERFLOW_KAFKA_DATA_DIR, else "
        "~/.local/share/dossierflow/kafka)",
    )
    kafka.add_argument(
        "--port",
        type=int,
        default=None,
        help="client port (default: the running broker's, $DOSSIERFLOW_KAFKA_PORT or 9092)",
    )
    kafka.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for start/stop")
    kafka.set_defaults(func=run_kafka)


def run_kafka(args: argparse.Namespace) -> int:
    from dossierflow.kafka.local_broker import KafkaAlreadyRunning, KafkaLocalError, LocalKafka

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
            # Like `systemctl status`: not running is not an error of the command.
            return ExitCode.CHECK_FAILED
        print(
            f"kafka: running on {running.bootstrap} (pid {running.pid}, up "
            f"{time.time() - running.started_at:.0f} s); data {running.data_dir}, "
            f"log {running.log_file}"
        )
        return 0
    except KafkaLocalError as exc:
        print(f"kafka: {exc}", file=sys.stderr)
        return 1
