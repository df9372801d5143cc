"""The broker a benchmark runs against: the one given with --bootstrap, else a local Apache
Kafka started for the run (in the run's temporary folder, stopped with it)."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

from dossierflow.kafka.local_broker import LocalKafka, free_port, kafka_home


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its module docstring as the help, and --bootstrap."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    return parser


def bench_bootstrap(
    stack: ExitStack, tmp: Path, bootstrap: str | None,
    properties: Mapping[str, str] | None = None,
) -> str:
    """`bootstrap`, or the address of a local broker under `tmp` that `stack` stops; with
    `properties`, that broker's server.properties has these lines instead of its own."""
    if bootstrap is not None:
        return bootstrap
    home = kafka_home()
    if properties:
        home = tmp / "kafka-home"
        shutil.copytree(kafka_home(), home)
        kept = [line for line in (home / "server.properties").read_text().splitlines()
                if line.split("=", 1)[0].strip() not in properties]
        (home / "server.properties").write_text(
            "\n".join([*kept, *(f"{k}={v}" for k, v in properties.items())]) + "\n")
    broker = LocalKafka(tmp / "kafka", free_port(), die_with_parent=True, home=home)
    stack.enter_context(broker)
    return broker.bootstrap
