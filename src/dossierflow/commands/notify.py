"""`dossierflow notify`: alerts topic -> e-mail, webhooks, Zalo ZNS (docs/notifier.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from dossierflow import logs
from dossierflow.commands.setting_options import add_setting_options, settings_from


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "notify",
        help="send alerts to the people responsible (e-mail, webhook, Zalo ZNS)",
        description="Consume the alerts topic and deliver each alert to its unit's heads, "
        "escalations and province operations, once, holding them outside office hours. "
        "Settings read DOSSIERFLOW_NOTIFY_*, DOSSIERFLOW_SMTP_*, DOSSIERFLOW_ZALO_* "
        "(`dossierflow config --process notify` prints them).",
        options=_add_options,
    )
    parser.set_defaults(func=run)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from dossierflow.notify.settings import NotifySettings

    add_setting_options(parser, NotifySettings)
    # What to do instead of running: these are requests, not settings.
    parser.add_argument("--test", metavar="UNIT",
                        help="send a test message to UNIT's recipients, report per channel, exit")
    parser.add_argument("--check", action="store_true",
                        help="validate the recipients file against the catalogue and exit")


def run(args: argparse.Namespace) -> int:
    from dossierflow.notify.recipients import Channel, RecipientsError, load_recipients
    from dossierflow.notify.runner import build_senders
    from dossierflow.notify.runner import run as run_notifier
    from dossierflow.notify.settings import NotifySettings, smtp_settings, zalo_settings
    from dossierflow.notify.testsend import send_test
    from dossierflow.rules.catalog import load_catalog

    try:
        settings = settings_from(args, NotifySettings)
        logs.configure(settings.loglevel)
        smtp, zalo = smtp_settings(), zalo_settings()
        catalog = load_catalog(settings.catalog)
        book = load_recipients(settings.recipients, catalog.units)
    except (RecipientsError, ValueError) as exc:
        print(f"dossierflow notify: {exc}", file=sys.stderr)
        return 2
    # A recipient on a channel that is not configured would be retried for ever: refused at
    # start and by --check. `--test` reports each channel's failure instead.
    zalo_users = sorted(p.id for p in book.people.values() if Channel.ZALO in p.channels)
    if not args.test and zalo_users and (missing := zalo.missing()):
        print(f"dossierflow notify: {settings.recipients}: {', '.join(zalo_users)} use the "
              f"channel zalo, but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
              "not set; set them, or take zalo out of their channels", file=sys.stderr)
        return 2
    if args.check:
        print(f"{settings.recipients}: {len(book.people)} people, {len(book.units)} units: ok")
        return 0
    if args.test:
        if args.test not in catalog.units:
            print(f"dossierflow notify: --test {args.test}: not a unit of the catalogue",
                  file=sys.stderr)
            return 2
        senders = build_senders(settings, smtp, zalo)

        async def test() -> list[Any]:
            try:
                return await send_test(args.test, book, catalog, senders)
            finally:
                for sender in senders.values():
                    await sender.close()

        results = asyncio.run(test())
        for result in results:
            status = "ok  " if result.ok else "FAIL"
            print(f"{status} {result.channel:8} {result.person}: {result.detail}")
        if not results:
            print(f"no recipients for {args.test} (nor for its parent units)", file=sys.stderr)
        return 0 if results and all(r.ok for r in results) else 1
    return asyncio.run(run_notifier(settings, smtp, zalo, catalog, book))
