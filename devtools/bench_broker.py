"""The broker a benchmark runs against: the one given with --bootstrap, else a local Apache
Kafka started for the run (in the run's temporary folder, stopped with it)."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from dossierflow.kafka.local_broker import LocalKafka, free_port


def bench_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line: its module docstring as the help, and --bootstrap."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    return parser


def bench_bootstrap(stack: ExitStack, tmp: Path, bootstrap: str | None) -> str:
    """`bootstrap`, or the address of a local broker under `tmp` that `stack` stops."""
    if bootstrap is not None:
        return bootstrap
    broker = LocalKafka(tmp / "kafka", free_port(), die_with_parent=True)
    stack.enter_context(broker)
    return broker.bootstrap
