"""The demo's mailbox run on its own, as the walkthrough's notifier step does: a real SMTP
server in a child process, a real e-mail sent to it with the standard library's client."""

from __future__ import annotations

import email
import email.policy
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from dossierflow.kafka.local_broker import free_port
from tests.child_signals import popen_stoppable_by_sigint

SUBJECT = "[Cảnh báo hồ sơ] Quá hạn: hồ sơ HS08-000052"


def test_it_files_each_email_and_prints_its_to_and_subject(tmp_path: Path) -> None:
    port, maildir = free_port(), tmp_path / "maildir"
    server = popen_stoppable_by_sigint(
        [sys.executable, "-m", "dossierflow.demo.mailbox", "--port", str(port),
         "--maildir", str(maildir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, encoding="utf-8",
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()  # said once Ctrl-C stops it (its readiness)
        assert first == f"SMTP on 127.0.0.1:{port}, filing each e-mail in {maildir}/new; " \
                        "Ctrl-C stops\n"
        message = EmailMessage()
        message["From"], message["To"] = "dossierflow@localhost", "truc-ban@example.invalid"
        message["Subject"] = SUBJECT
        message.set_content("Kính gửi Trực ban,")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.send_message(message)
        assert server.stdout.readline() == (
            f"  ✉ To: truc-ban@example.invalid · Subject: {SUBJECT}\n")
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=60) == 130
    finally:
        server.kill()
    (filed,) = (maildir / "new").iterdir()
    assert email.message_from_bytes(filed.read_bytes(), policy=email.policy.default)[
        "Subject"] == SUBJECT
