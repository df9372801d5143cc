"""A webhook's signing secret kept out of the recipients file: `secret_file`, read when a
message is signed (against the real receiver of tests/notify_servers.py, which checks the
Standard Webhooks signature with the reference library), checked when the file is loaded."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from dossierflow.notify.channels.base import DeliveryError
from dossierflow.notify.channels.webhook import WebhookSender
from dossierflow.notify.recipients import (
    Person,
    RecipientsError,
    WebhookTarget,
    load_recipients,
    parse_recipients,
)
from tests.notify_alerts import CATALOG
from tests.notify_servers import WEBHOOK_SECRET, WebhookReceiver
from tests.test_notify_channels import _outgoing


def test_the_shipped_example_holds_no_webhook_secret() -> None:
    text = resources.files("dossierflow").joinpath("data/recipients.example.yaml").read_text()
    data = yaml.safe_load(text)
    webhooks = [p["webhook"] for p in data["province_operations"] if "webhook" in p]
    assert webhooks and all("secret" not in w and w["secret_file"] for w in webhooks)
    assert "whsec_" not in "".join(line.split("#")[0] for line in text.splitlines())


async def test_the_secret_file_is_read_each_time_a_message_is_signed(
    receiver: WebhookReceiver, tmp_path: Path
) -> None:
    secret_file = tmp_path / "ops-webhook-secret"
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    person = Person(id="ops", name="Ops", channels=(), webhook=WebhookTarget(
        # allow_http: the receiver is on this host
        f"{receiver.url}/hook", secret_file=str(secret_file), allow_http=True))
    sender = WebhookSender()
    try:
        await sender.send(_outgoing(person))
        assert len(receiver.verified()) == 1, "the reference library refused the signature"
        secret_file.write_text("whsec_" + "QUJD" * 8 + "\n")  # rotated on our side only
        with pytest.raises(DeliveryError, match="401"):
            await sender.send(_outgoing(person))
        secret_file.unlink()
        with pytest.raises(DeliveryError, match=f"secret_file {secret_file}"):
            await sender.send(_outgoing(person))
    finally:
        await sender.close()
    assert len(receiver.verified()) == 1


RECIPIENTS = """\
province_operations:
  - id: ops
    name: Trực ban
    webhook:
      url: https://ops.example.gov.vn/hooks/dossierflow
      {secret}
    channels: [webhook]
"""


@pytest.mark.parametrize(
    ("secret", "where", "problem"),
    [
        ("secret_file: relative/path", "province_operations[0].webhook.secret_file",
         "must be an absolute path"),
        ("{}", "province_operations[0].webhook", "exactly one of `secret` or `secret_file`"),
        (f"secret: {WEBHOOK_SECRET}\n      secret_file: /run/secrets/x",
         "province_operations[0].webhook", "exactly one of"),
    ],
)
def test_a_webhook_needs_exactly_one_secret_source(secret: str, where: str, problem: str) -> None:
    text = RECIPIENTS.format(secret="" if secret == "{}" else secret)
    with pytest.raises(RecipientsError) as caught:
        parse_recipients(text, "r.yaml", CATALOG.units)
    assert caught.value.where == where and problem in caught.value.problem


@pytest.mark.parametrize("content", [None, "not a secret"])
def test_loading_names_a_secret_file_that_cannot_be_used(
    tmp_path: Path, content: str | None
) -> None:
    secret_file = tmp_path / "secret"
    if content is not None:
        secret_file.write_text(content)
    recipients = tmp_path / "recipients.yaml"
    recipients.write_text(RECIPIENTS.format(secret=f"secret_file: {secret_file}"))
    with pytest.raises(RecipientsError, match=f"ops.webhook: webhook secret_file {secret_file}"):
        load_recipients(recipients, CATALOG.units)
    secret_file.write_text(WEBHOOK_SECRET + "\n")
    book = load_recipients(recipients, CATALOG.units)
    webhook = book.people["ops"].webhook
    assert webhook is not None and webhook.signing_secret() == WEBHOOK_SECRET
