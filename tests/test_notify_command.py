"""`dossierflow notify --test UNIT` and `--check` as an operator runs them; addresses are
masked in what they print and log."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from dossierflow.notify.privacy import mask_email, mask_phone
from tests.notify_servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    SmtpInbox,
    WebhookReceiver,
)


async def run_notify(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dossierflow.cli", "notify", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, out.decode(), err.decode()


def test_masks_keep_enough_to_recognise_whom_a_failure_concerns() -> None:
    assert mask_email("nguyen.van.an@stp.example.gov.vn") == "n***@stp.example.gov.vn"
    assert mask_phone("84912345678") == "84******678"


async def test_test_message_reaches_each_channel_and_reports_per_channel(
    tmp_path: Path, inbox: SmtpInbox, receiver: WebhookReceiver,
) -> None:
    recipients = tmp_path / "r.yaml"
    recipients.write_text(
        "units:\n  X-01:\n    heads:\n"
        "      - id: x01-head\n        name: Lê Văn Cường\n"
        "        email: cuong.lv@x01.example.gov.vn\n        channels: [email, webhook]\n"
        f'        webhook: {{url: "{receiver.url}/x01", secret: {WEBHOOK_SECRET},'
        " allow_http: true}\n"
        "    deputies:\n      - {id: x01-deputy, name: Phó chủ tịch, email: d@x01.example.gov.vn,"
        " channels: [email, zalo], phone: '84912345678'}\n",
        encoding="utf-8",
    )
    env = {
        "DOSSIERFLOW_SMTP_HOST": inbox.host, "DOSSIERFLOW_SMTP_PORT": str(inbox.port),
        "DOSSIERFLOW_SMTP_USER": SMTP_USER, "DOSSIERFLOW_SMTP_PASSWORD": SMTP_PASSWORD,
        "DOSSIERFLOW_SMTP_CA_FILE": str(inbox.ca_file),
        "DOSSIERFLOW_SMTP_SENDER": "canhbao@example.gov.vn",
    }
    status, out, err = await run_notify("--recipients", str(recipients), "--test", "X-01",
                                        env=env)
    lines = sorted(out.splitlines())
    assert status == 1, (out, err)  # Zalo has no token configured
    assert [line.split()[:2] for line in lines] == [
        ["FAIL", "zalo"], ["ok", "email"], ["ok", "email"], ["ok", "webhook"],
    ]
    assert "84******678" in out and "c***@x01.example.gov.vn" in out
    assert "cuong.lv@" not in out + err and "84912345678" not in out + err
    assert sorted(m["Subject"] for m in inbox.messages) == [
        "[Cảnh báo hồ sơ] Thư thử nghiệm cho UBND xã Đông Tiến"
    ] * 2
    [call] = receiver.calls
    assert call.payload is not None and call.payload["type"] == "dossier.alerts.test"


async def test_check_reports_a_bad_file_in_one_line_with_its_line_number(
    tmp_path: Path,
) -> None:
    recipients = tmp_path / "r.yaml"
    recipients.write_text("units:\n  X-01:\n    heads:\n      - {id: h, name: H, email: nope}\n",
                          encoding="utf-8")
    status, _, err = await run_notify("--recipients", str(recipients), "--check", env={})
    assert status == 2
    assert err.strip().startswith(f"dossierflow notify: {recipients}:4: units.X-01.heads[0].email:")
    assert len(err.strip().splitlines()) == 1


async def test_check_refuses_zalo_recipients_while_zalo_is_not_configured(tmp_path: Path) -> None:
    recipients = tmp_path / "r.yaml"
    recipients.write_text(
        "units:\n  X-01:\n    heads:\n      - {id: x01-head, name: H, email: h@x01.example.gov.vn,"
        " channels: [email, zalo], phone: '84912345678'}\n", encoding="utf-8",
    )
    status, out, err = await run_notify("--recipients", str(recipients), "--check", env={})
    assert (status, out) == (2, "")
    assert err.splitlines() == [
        f"dossierflow notify: {recipients}: x01-head use the channel zalo, but "
        "DOSSIERFLOW_ZALO_ACCESS_TOKEN, DOSSIERFLOW_ZALO_TEMPLATE_ALERT, "
        "DOSSIERFLOW_ZALO_TEMPLATE_DIGEST are not set; set them, or take zalo out of their "
        "channels"
    ]
    zalo = {"DOSSIERFLOW_ZALO_ACCESS_TOKEN": "t", "DOSSIERFLOW_ZALO_TEMPLATE_ALERT": "1",
            "DOSSIERFLOW_ZALO_TEMPLATE_DIGEST": "2"}
    status, out, err = await run_notify("--recipients", str(recipients), "--check", env=zalo)
    assert status == 0, err
    assert out == f"{recipients}: 1 people, 1 units: ok\n"


async def test_a_missing_recipients_file_names_the_example_where_it_really_is(
    tmp_path: Path,
) -> None:
    import dossierflow

    example = Path(dossierflow.__file__).parent / "data" / "recipients.example.yaml"
    assert example.is_file()
    status, _, err = await run_notify("--recipients", str(tmp_path / "none.yaml"), "--check",
                                      env={})
    assert status == 2 and f"(format: {example})" in err, err
