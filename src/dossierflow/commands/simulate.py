"""`dossierflow simulate`: a province's simulated dossier history, to a file or to Kafka."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dossierflow.commands.options import fail, local_date
from dossierflow.commands.setting_options import add_setting_options, settings_from

DEFAULT_PROFILE_NAME = "province-small"


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="generate a province's realistic dossier history from a profile",
        description="Simulate a province's dossiers (arrivals by weekday and office hour, "
        "channels, pauses, apologies, withdrawals, late resolutions) from a profile: a "
        "shipped name (province-small, province-2024) or a YAML file. The same profile, "
        "seed and --today always give the same events.",
        options=_add_produce_options,
    )
    parser.add_argument("--profile", default=DEFAULT_PROFILE_NAME,
                        help=f"shipped profile name or YAML path (default {DEFAULT_PROFILE_NAME})")
    parser.add_argument("--start", type=local_date,
                        help="first day of the history, YYYY-MM-DD or dd/mm/yyyy "
                        "(default: the profile's)")
    parser.add_argument("--days", type=int, help="days of history (default: the profile's)")
    parser.add_argument("--count", type=int,
                        help="stop after this many events (default: the whole history)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--today", type=local_date,
                        help="the history ends before this day, YYYY-MM-DD or dd/mm/yyyy "
                        "(default: the machine's date)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, help="JSONL file (default: stdout)")
    target.add_argument("--produce", action="store_true",
                        help="publish to the events topic instead (--bootstrap, --topic)")
    parser.add_argument("--format", choices=("events", "portal"), default="events",
                        help="portal: the request bodies a one-stop system sends the national "
                        "portal, which `dossierflow intake` reads (docs/intake.md); not with "
                        "--produce")
    parser.add_argument("--rate", type=float, help="with --produce: events per second")
    parser.set_defaults(func=run)


PRODUCE_OPTIONS = ("bootstrap", "events_topic", "partitions")
"""The settings of `produce` that `simulate --produce` reads too."""


def _add_produce_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.commands.produce import ProduceSettings

    add_setting_options(parser, ProduceSettings, only=PRODUCE_OPTIONS)


def run(args: argparse.Namespace) -> int:
    from dossierflow.commands.produce import ProduceSettings
    from dossierflow.simulate import (
        ProfileError,
        generate_events,
        load_profile,
        profile_start,
        write_jsonl,
    )

    if args.rate is not None and (not args.produce or args.rate <= 0):
        return fail("simulate", "--rate needs --produce and a positive number of events/s")
    if args.days is not None and args.days < 1:
        return fail("simulate", "--days must be >= 1")
    if args.count is not None and args.count < 0:
        return fail("simulate", "--count must be >= 0")
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        return fail("simulate", str(exc))
    options: dict[str, Any] = {
        "start": profile_start(profile, args.start),
        "days": args.days or profile.days,
        "today": args.today,
        "profile": profile,
    }
    try:
        if args.produce:
            settings = settings_from(args, ProduceSettings)
            return _produce(
                generate_events(args.count, args.seed, **options),
                settings.bootstrap,
                settings.events_topic,
                settings.partitions,
                args.rate,
            )
        if args.format == "portal":
            if args.produce:
                return fail("simulate", "--format portal writes a file (or stdout); publish "
                            "its bodies with `dossierflow intake FILE --produce`")
            return _write_portal(args, options)
        if args.out:
            with args.out.open("wb") as out:
                written = write_jsonl(out, args.count, args.seed, **options)
        else:
            written = write_jsonl(sys.stdout.buffer, args.count, args.seed, **options)
    except ValueError as exc:  # a history with no working day before --today
        return fail("simulate", str(exc))
    except OSError as exc:  # --out in a missing folder, no permission
        return fail("simulate", f"{args.out}: {exc.strerror or exc}")
    start = options["start"]
    print(f"simulate: {written} events of profile {args.profile!r} from "
          f"{start:%d/%m/%Y}, {options['days']} days, to {args.out or 'standard output'}",
          file=sys.stderr)
    return 0


def _write_portal(args: argparse.Namespace, options: dict[str, Any]) -> int:
    import json

    from dossierflow.intake.portal import portal_bodies
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.simulate import generate_events

    bodies = portal_bodies(generate_events(args.count, args.seed, **options), load_catalog())
    with args.out.open("w", encoding="utf-8") if args.out else _stdout() as out:
        written = 0
        for body in bodies:
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
            written += 1
    print(f"simulate: {written} portal bodies of profile {args.profile!r} from "
          f"{options['start']:%d/%m/%Y}, {options['days']} days, to "
          f"{args.out or 'standard output'}", file=sys.stderr)
    return 0


def _stdout() -> Any:
    """Standard output as a context manager that leaves it open."""
    import contextlib

    return contextlib.nullcontext(sys.stdout)


def _produce(
    events: Any, bootstrap: str, topic: str, partitions: int, rate: float | None
) -> int:
    from dossierflow.kafka.diagnosis import KafkaRefused
    from dossierflow.kafka.producer import produce_paced
    from dossierflow.kafka.security import KafkaConfigError
    from dossierflow.kafka.topics import TopicSpec, ensure_topics

    try:
        ensure_topics(bootstrap, [TopicSpec(topic, partitions)])
        result = produce_paced(bootstrap, topic, events, rate)
    except (KafkaConfigError, KafkaRefused) as exc:
        return fail("simulate", str(exc))
    except Exception as exc:  # kafka-python errors: no broker, timeouts
        return fail("simulate", f"{bootstrap}: {type(exc).__name__}: {exc}", 1)
    print(f"simulate: {result.published} events to {topic} ({result.failed} not delivered) "
          f"in {result.seconds:.1f} s", file=sys.stderr)
    return 0 if result.failed == 0 else 1
