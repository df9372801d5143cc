"""A local SMTP server (aiosmtpd) that files every message it receives in a Maildir.

The demo's notifier sends real e-mail over SMTP to it, so what a unit head would read is on
disk (`maildir/new/`, one file per message, readable by any mail client or `cat`). The
walkthrough (docs/walkthrough.md) runs it on its own, printing each e-mail's To and Subject:
`python -m dossierflow.demo.mailbox --port PORT [--maildir DIR]`.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import mailbox
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from rich.console import Console

from dossierflow.demo.view import email_line


class _MaildirHandler:
    def __init__(self, maildir: Path, on_message: Callable[[str, list[str]], None]) -> None:
        self._box = mailbox.Maildir(maildir, create=True)
        self._on_message = on_message
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content: bytes = envelope.original_content or envelope.content
        with self._lock:
            self._box.add(content)
        message = email.message_from_bytes(content, policy=email.policy.default)
        self._on_message(str(message["Subject"]), list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class LocalMailbox:
    """SMTP on `host:port` (no TLS, no authentication: loopback only) into `maildir`."""

    def __init__(
        self, maildir: Path, port: int, on_message: Callable[[str, list[str]], None],
        host: str = "127.0.0.1",
    ) -> None:
        self.maildir, self.host, self.port = maildir, host, port
        self._controller = Controller(
            _MaildirHandler(maildir, on_message), hostname=host, port=port
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dossierflow.demo.mailbox",
        description="A local SMTP server on the loopback (no TLS, no login) that files each "
        "e-mail in a Maildir and prints its To and Subject, until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, default=Path(".dossierflow/maildir"))
    args = parser.parse_args(argv)

    console = Console(soft_wrap=True, highlight=False)
    server = LocalMailbox(args.maildir, args.port,
                          lambda subject, rcpt: console.print(email_line(subject, rcpt)))
    server.start()
    try:
        # Said inside the try: from this line on, Ctrl-C stops it cleanly (exit 130).
        console.print(f"SMTP on 127.0.0.1:{args.port}, filing each e-mail in "
                      f"{args.maildir / 'new'}; Ctrl-C stops", markup=False)
        threading.Event().wait()  # only Ctrl-C ends it
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 130


if __name__ == "__main__":
    sys.exit(main())
