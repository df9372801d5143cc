"""`dossierflow demo`: the whole product live on one machine, on simulated weeks of receipts.

Starts a local Kafka broker, migrates an embedded ClickHouse (chDB), starts the worker, the
sink and the notifier as child processes, and an SMTP server inside the demo's own process
(it stands for the province's mail relay and files every e-mail in a Maildir). Then it
streams the profile's days of receipts in event time with live progress (province-small:
the 28 days from 02/03/2026 to 29/03/2026), prints the report of exactly those days (in
Vietnamese; --lang en), and keeps the dashboard, /report, /metrics and /healthz up until
Ctrl-C (or exits, with --exit-when-done). Everything it started is stopped on Ctrl-C and on
failure.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from dossierflow.commands.options import fail

DEMO_DIR = Path(".dossierflow/demo")
DEFAULT_PROFILE = "province-small"
_PORT_OPTIONS = {
    "kafka": "--kafka-port",
    "http": "--http-port",
    "smtp": "--smtp-port",
    "worker_metrics": "--worker-metrics-port",
    "notify_metrics": "--notify-metrics-port",
}


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole product live on simulated weeks of receipts (Kafka, worker, sink, "
             "notifier, SMTP)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", default=DEFAULT_PROFILE,
                        help=f"simulation profile, name or YAML (default {DEFAULT_PROFILE})")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--days", type=int, help="days of receipts (default: the profile's)")
    parser.add_argument("--rate", type=float,
                        help="events per second (default: all the days in about 45 s)")
    parser.add_argument("--dir", type=Path, default=DEMO_DIR,
                        help=f"where the demo writes; emptied at start (default {DEMO_DIR})")
    for option in _PORT_OPTIONS.values():
        parser.add_argument(option, type=int, default=0, metavar="PORT",
                            help="default: a free port")
    parser.add_argument("--exit-when-done", action="store_true",
                        help="stop everything after the report instead of waiting for Ctrl-C")
    parser.add_argument("--lang", choices=("vi", "en"), default="vi")
    parser.set_defaults(func=run)


def missing_requirements(args: argparse.Namespace) -> list[str]:
    """What stops the demo from starting, one line each with what to do (empty: nothing)."""
    from dossierflow.kafka.local_broker import (
        KafkaLocalError,
        jars_home,
        jars_ready,
        java_executable,
        port_bindable,
    )

    problems = []
    try:
        java_executable()
    except KafkaLocalError as exc:
        problems.append(str(exc))
    try:
        if not jars_ready() and shutil.which("mvn") is None:
            problems.append("`mvn` not found and the Kafka jars are not fetched yet: install "
                            f"Maven 3.8+ (it fetches them once into {jars_home()})")
    except KafkaLocalError as exc:
        problems.append(str(exc))
    for name, option in _PORT_OPTIONS.items():
        port = getattr(args, f"{name}_port")
        if port and not port_bindable("127.0.0.1", port):
            problems.append(f"port {port} ({option}) is in use: stop what listens there, "
                            f"or give another {option} (0 picks a free one)")
    return problems


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dossierflow.demo.processes import ChildFailed
    from dossierflow.demo.stack import Demo, DemoError, Ports
    from dossierflow.kafka.local_broker import KafkaLocalError, free_port
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.simulate import ProfileError, load_profile

    problems = missing_requirements(args)
    for problem in problems:
        print(f"dossierflow demo: {problem}", file=sys.stderr)
    if problems:
        return 2
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        return fail("demo", str(exc))
    if args.days is not None and args.days < 1:
        return fail("demo", "--days must be >= 1")
    if args.rate is not None and args.rate <= 0:
        return fail("demo", "--rate must be a positive number of events per second")
    ports = Ports(**{name: getattr(args, f"{name}_port") or free_port()
                     for name in _PORT_OPTIONS})
    # Ctrl-C, and SIGTERM from a script or `timeout`, stop everything the same way; SIGINT
    # is set explicitly because a shell starting us in the background ignores it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    console = Console()
    demo = Demo(args.dir, ports, profile, load_catalog(), args.seed, args.days or profile.days,
                args.rate, console, args.lang)
    try:
        demo.start()
        outcome = demo.stream_month()
        demo.print_report(outcome.report)
        console.print(
            f"{outcome.events:,} events, {outcome.alerts_published:,} alerts published, "
            f"{outcome.messages_delivered:,} e-mails delivered to {args.dir / 'maildir'}; "
            f"report saved in {args.dir / 'report.json'}"
        )
        if outcome.report.violations:
            return fail("demo", "the report does not reconcile: "
                        + "; ".join(outcome.report.violations), 1)
        if not args.exit_when_done:
            demo.wait_until_dashboard_agrees(outcome.report)
            first, last = demo.period
            month = f"from={first}&through={last}"
            console.print(
                f"\n[bold]Up until Ctrl-C:[/] dashboard {demo.sink_url}/dashboard?{month} · "
                f"{demo.sink_url}/report?{month}&format=table · {demo.sink_url}/metrics · "
                f"{demo.sink_url}/healthz · "
                f"worker http://127.0.0.1:{ports.worker_metrics}/metrics · "
                f"notifier http://127.0.0.1:{ports.notify_metrics}/metrics · "
                f"Kafka {demo.bootstrap}"
            )
            while True:
                demo.children.check()
                time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping …")
        return 130
    except (DemoError, ChildFailed, KafkaLocalError) as exc:
        return fail("demo", str(exc), 1)
    finally:
        demo.stop()
    return 0
