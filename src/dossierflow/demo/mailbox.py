"""A local SMTP server (aiosmtpd) that files every message it receives in a Maildir.

The demo's notifier sends real e-mail over SMTP to it, so what a unit head would read is on
disk (`maildir/new/`, one file per message, readable by any mail client or `cat`).
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


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
