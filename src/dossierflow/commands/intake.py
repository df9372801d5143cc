"""`dossierflow intake FILE --out EVENTS.jsonl`: the portal's sync bodies (JSON Lines) to events.

Rejections (reason and the body with personal fields removed, docs/intake.md) go to
`--rejections` as JSON Lines; counts go to stderr. Still to do: `--produce` and `intake serve`.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from dossierflow.commands.options import check_events_file


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "intake",
        help="translate the national portal's sync bodies (DongBoHoSoMC, CapNhatTienDoHoSoMC) "
        "to events",
        description="Read JSON Lines of request bodies in the order they were sent and write "
        "events of schema v1 (docs/intake.md). Repeated events are written once.",
    )
    parser.add_argument("bodies", type=Path, metavar="FILE")
    parser.add_argument("--out", type=Path, required=True, metavar="EVENTS.jsonl")
    parser.add_argument("--rejections", type=Path, metavar="REJECTIONS.jsonl",
                        help="where rejected bodies go, personal fields removed "
                        "(default: counted only)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dossierflow.intake.translate import IntakeRules, Memory, translate_raw
    from dossierflow.schemas.event import encode_event, file_lines

    check_events_file(args.bodies)
    memory: Memory = {}
    seen: set[str] = set()
    bodies = events = rejected = 0
    rules = IntakeRules()
    with ExitStack() as files:
        source = files.enter_context(args.bodies.open("rb"))
        out = files.enter_context(args.out.open("wb"))
        dead = (files.enter_context(args.rejections.open("w", encoding="utf-8"))
                if args.rejections else None)
        for line in file_lines(source):
            if not line.strip():
                continue
            bodies += 1
            result = translate_raw(line, memory, rules)
            memory = result.memory
            for event in result.events:
                if event.event_id not in seen:
                    seen.add(event.event_id)
                    out.write(encode_event(event) + b"\n")
                    events += 1
            for rejection in result.rejections:
                rejected += 1
                if dead is not None:
                    print(json.dumps({"line": bodies, **rejection.as_json()},
                                     ensure_ascii=False), file=dead)
    print(f"intake: {bodies} bodies, {events} events, {rejected} rejected", file=sys.stderr)
    return 0
