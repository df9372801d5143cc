"""`dossierflow intake FILE (--out EVENTS.jsonl | --produce)`: the portal's sync bodies
(JSON Lines) to events, written to a file or published to the events topic;
`dossierflow intake serve`: the same bodies over HTTP (intake/server.py).

Rejections (reason and the body with personal fields removed, docs/intake.md) are appended
to the rejections file (`--rejections`, DOSSIERFLOW_INTAKE_REJECTIONS_FILE) as JSON Lines;
counts go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from dossierflow.commands.options import check_events_file
from dossierflow.commands.setting_options import add_setting_options, settings_from
from dossierflow.errors import DossierflowError, ExitCode

if TYPE_CHECKING:
    from dossierflow.http_access import HttpAccess
    from dossierflow.intake.memory_file import MemoryFile
    from dossierflow.intake.settings import IntakeSettings

SERVE = "serve"


class IntakeHttpError(DossierflowError):
    """`intake serve` cannot listen on its address."""


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "intake",
        help="translate the national portal's sync bodies (DongBoHoSoMC, CapNhatTienDoHoSoMC) "
        "to events",
        description="Read JSON Lines of request bodies in the order they were sent and write "
        "events of schema v1 to a file (--out) or publish them to the events topic, keyed by "
        "dossier (--produce); or, with `serve`, take the same bodies over HTTP "
        "(docs/intake.md). Repeated events are written once. Exit code 1 when an event could "
        "not be delivered.",
        options=_add_options,
    )
    parser.set_defaults(func=run, parser=parser)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.intake.settings import IntakeSettings

    parser.add_argument("bodies", type=Path, metavar="FILE|serve",
                        help="a file of bodies, or `serve` to take them over HTTP "
                        "(a file named serve: ./serve)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", type=Path, metavar="EVENTS.jsonl")
    target.add_argument("--produce", action="store_true",
                        help="publish to the events topic (as `dossierflow produce` does)")
    add_setting_options(parser, IntakeSettings)


def run(args: argparse.Namespace) -> int:
    serving = str(args.bodies) == SERVE
    if serving and (args.out or args.produce):
        args.parser.error("intake serve takes no --out or --produce")
    if not serving and not (args.out or args.produce):
        args.parser.error("give --out EVENTS.jsonl or --produce (or run `intake serve`)")
    return run_serve(args) if serving else run_file(args)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGINT (exit 130) or SIGTERM (exit 0), as the other processes do."""
    import asyncio

    from dossierflow import logs
    from dossierflow.http_access import HttpAccess

    settings = _settings(args)
    access = HttpAccess.for_listener(settings.http_host, settings.http_allowed_hosts.split(","),
                                     settings.bearer_token())
    logs.configure(settings.loglevel)
    try:
        return asyncio.run(_serve_until_signal(settings, access))
    except OSError as exc:
        raise IntakeHttpError(
            f"cannot serve HTTP on {settings.http_host}:{settings.http_port}: {exc.strerror}; "
            "choose another port with --http-port (or DOSSIERFLOW_INTAKE_HTTP_PORT)"
        ) from None


def _settings(args: argparse.Namespace) -> IntakeSettings:
    """The options given, else the variables, else the defaults; the unit codes file read."""
    from dossierflow.intake.settings import IntakeSettings

    settings = settings_from(args, IntakeSettings)
    settings.rules()
    return settings


async def _serve_until_signal(settings: IntakeSettings, access: HttpAccess) -> int:
    import asyncio

    from dossierflow.intake.server import serve
    from dossierflow.stopping import StopOnSignal

    stopping = StopOnSignal()
    stopping.install(asyncio.get_running_loop())
    await serve(settings, access, stopping.event)
    return stopping.exit_code


def run_file(args: argparse.Namespace) -> int:
    from dossierflow.intake.session import IntakeSession, rejection_line
    from dossierflow.schemas.event import file_lines

    check_events_file(args.bodies, "give a file of sync bodies (DongBoHoSoMC, "
                      "CapNhatTienDoHoSoMC), one JSON object a line, or `serve`")
    settings = _settings(args)
    with ExitStack() as files:
        session = IntakeSession(settings.rules(), _memory_file(settings, files))
        source = files.enter_context(args.bodies.open("rb"))
        dead = _rejections_file(settings, files)
        target = (_KafkaTarget(settings) if args.produce
                  else _FileTarget(files.enter_context(args.out.open("wb"))))
        files.callback(target.close)
        for lineno, line in enumerate(file_lines(source), start=1):
            if not line.strip():
                continue
            result = session.take(line)
            fresh = session.fresh(result.events)
            session.mark_published(fresh)
            target.put(fresh)
            session.counts.events += len(fresh)
            for rejection in result.rejections:
                if dead is not None:
                    print(rejection_line(rejection, line=lineno), file=dead)
        session.counts.failed = target.finish()
        if session.counts.failed == 0:
            # A run that did not deliver everything leaves the memory as it found it, so that
            # running the file again is the same run.
            session.commit()
    print(session.counts.summary(target.destination), file=sys.stderr)
    return ExitCode.OK if session.counts.failed == 0 else ExitCode.FAILED


def _rejections_file(settings: IntakeSettings, files: ExitStack) -> IO[str] | None:
    """Appended to, never truncated: `intake serve` may keep its rejections there too."""
    path = settings.rejections_path(serving=False)
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return files.enter_context(path.open("a", encoding="utf-8"))


def _memory_file(settings: IntakeSettings, files: ExitStack) -> MemoryFile | None:
    from dossierflow.intake.memory_file import MemoryFile

    path = settings.memory_path(serving=False)
    if path is None:
        return None
    memory = MemoryFile(path)
    files.callback(memory.close)
    return memory


class _FileTarget:
    destination = "written"

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def put(self, events: list[Any]) -> None:
        from dossierflow.schemas.event import encode_event

        for event in events:
            self._out.write(encode_event(event) + b"\n")

    def finish(self) -> int:
        return 0

    def close(self) -> None:
        """The file is closed by the caller's stack."""


class _KafkaTarget:
    """The events topic, created when missing as `dossierflow produce` creates it."""

    def __init__(self, settings: IntakeSettings) -> None:
        from dossierflow.intake.publish import EventPublisher
        from dossierflow.kafka.security import KafkaSecurity
        from dossierflow.kafka.topics import TopicSpec, ensure_topics

        security = KafkaSecurity.from_env()
        ensure_topics(settings.bootstrap, [TopicSpec(settings.events_topic,
                                                     settings.partitions)], security=security)
        self.destination = f"published to {settings.events_topic}"
        self._publisher = EventPublisher(settings.bootstrap, settings.events_topic,
                                         security=security)
        self._failures: list[BaseException] = []

    def put(self, events: list[Any]) -> None:
        for future in self._publisher.send(events):
            future.add_errback(self._failures.append)

    def finish(self) -> int:
        """Wait for every acknowledgement; the number of events not delivered."""
        from dossierflow.kafka.diagnosis import KafkaRefused

        try:
            self._publisher.flush()
        except KafkaRefused:
            self._publisher.close_at_once()
            raise
        for failure in self._failures[:20]:
            print(f"intake: not delivered: {failure!r}", file=sys.stderr)
        return len(self._failures)

    def close(self) -> None:
        self._publisher.close()
