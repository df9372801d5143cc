"""The recipients file: the shipped example is valid; errors name file, line and field."""

from __future__ import annotations

from importlib import resources

import pytest

from dossierflow.notify.recipients import Channel, Hours, RecipientsError, parse_recipients
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import CATALOG

GOOD = """\
province_operations:
  - id: ops
    name: Trực ban
    email: ops@example.gov.vn
units:
  X-01:
    heads:
      - id: x01-head
        name: Chủ tịch xã
        email: head@x01.example.gov.vn
        phone: "84912345678"
        channels: [email, zalo]
        language: en
rules:
  AT_RISK: {deputies: true}
"""


def test_shipped_example_is_valid_against_the_shipped_catalogue() -> None:
    text = resources.files("dossierflow").joinpath("data/recipients.example.yaml").read_bytes()
    book = parse_recipients(text, "recipients.example.yaml", CATALOG.units)
    assert book.people["stp-giamdoc"].channels == (Channel.EMAIL, Channel.ZALO)
    assert book.people["ops-trucban"].hours is Hours.ALWAYS
    assert book.rule("OVERDUE").escalate_to_parent


def test_defaults_language_vi_office_hours_email_and_escalation_of_overdue() -> None:
    book = parse_recipients(GOOD, "r.yaml", CATALOG.units)
    ops = book.people["ops"]
    assert (ops.language, ops.hours, ops.channels) == ("vi", Hours.OFFICE, (Channel.EMAIL,))
    assert book.people["x01-head"].language == "en"
    assert book.rule(AlertKind.AT_RISK).deputies
    assert book.rule(AlertKind.OVERDUE).escalate_to_parent
    assert book.rule(AlertKind.RESCHEDULED_OVERDUE).escalate_to_parent
    assert not book.rule(AlertKind.AT_RISK).escalate_to_parent


def _error(text: str) -> RecipientsError:
    with pytest.raises(RecipientsError) as caught:
        parse_recipients(text, "r.yaml", CATALOG.units)
    return caught.value


def test_bad_email_names_file_line_and_field() -> None:
    error = _error(GOOD.replace("head@x01.example.gov.vn", "not-an-address"))
    assert (error.source, error.line, error.where) == ("r.yaml", 10, "units.X-01.heads[0].email")
    assert str(error).startswith("r.yaml:10: units.X-01.heads[0].email: ")


def test_unknown_field_is_refused_with_its_line() -> None:
    error = _error(GOOD.replace("        language: en\n", "        langauge: en\n"))
    assert error.line == 8  # the person's mapping: the misspelt key is not a field of it
    assert "langauge" in str(error)


def test_zalo_without_phone_is_refused_at_the_channels_line() -> None:
    error = _error(GOOD.replace('        phone: "84912345678"\n', ""))
    assert (error.line, error.where) == (11, "units.X-01.heads[0].channels")
    assert str(error).startswith("r.yaml:11: units.X-01.heads[0].channels: channel zalo")
    assert "phone" in error.problem


def test_unit_missing_from_the_catalogue_is_refused() -> None:
    error = _error(GOOD.replace("  X-01:", "  X-99:"))
    assert (error.line, error.where) == (6, "units.X-99")


def test_one_id_for_two_different_people_is_refused() -> None:
    error = _error(GOOD.replace("id: x01-head", "id: ops"))
    assert error.where == "units.X-01.heads[0].id"
    assert "province_operations[0]" in error.problem


def test_yaml_syntax_error_names_its_line() -> None:
    error = _error(GOOD.replace("    heads:\n", "    heads: [\n"))
    assert error.where == "YAML"
    assert error.line is not None and error.line >= 7


def test_unknown_alert_kind_in_rules_is_refused() -> None:
    error = _error(GOOD.replace("AT_RISK: {deputies: true}", "LATE: {deputies: true}"))
    assert error.where.startswith("rules")
