"""Routing: roles of docs/domain.md resolved on the catalogue's unit tree, with fallback to the
nearest listed head, escalation to the parent unit and no repeats."""

from __future__ import annotations

import msgspec

from dossierflow.notify.recipients import parse_recipients
from dossierflow.notify.routing import route
from dossierflow.rules.alerts import AlertKind
from tests.notify_alerts import CATALOG, make_alert

# The sample catalogue's tree: P > S-TP, X-01, X-02, H-01 > X-H01-01.
BOOK = parse_recipients(
    """\
province_operations:
  - {id: ops, name: Trực ban, email: ops@example.gov.vn, channels: [email]}
units:
  P:
    heads: [{id: p-head, name: Chủ tịch tỉnh, email: p@example.gov.vn}]
  H-01:
    heads: [{id: h01-head, name: Chủ tịch huyện, email: h01@example.gov.vn}]
  X-01:
    heads:
      - id: x01-head
        name: Chủ tịch xã
        email: x01@example.gov.vn
        phone: "84912345678"
        channels: [email, zalo]
    deputies: [{id: x01-deputy, name: Phó chủ tịch xã, email: x01d@example.gov.vn}]
  S-TP:
    heads: [{id: ops, name: Trực ban, email: ops@example.gov.vn, channels: [email]}]
""",
    "book",
    CATALOG.units,
)


def _pairs(kind: AlertKind, unit: str, handling: str | None = None) -> list[tuple[str, str]]:
    alert = make_alert(kind, "D1", unit, handling_unit=handling)
    return [(t.person.id, t.channel.value) for t in route(alert, BOOK, CATALOG.units)]


def test_at_risk_goes_to_the_handling_unit_head_on_each_channel() -> None:
    assert _pairs(AlertKind.AT_RISK, "X-01") == [("x01-head", "email"), ("x01-head", "zalo")]


def test_unit_without_heads_falls_back_to_the_nearest_ancestor_with_heads() -> None:
    # X-H01-01 lists nobody; its parent H-01 does.
    assert _pairs(AlertKind.AT_RISK, "X-H01-01") == [("h01-head", "email")]
    # X-02 lists nobody and its parent is P.
    assert _pairs(AlertKind.AT_RISK, "X-02") == [("p-head", "email")]


def test_overdue_goes_to_handling_and_receiving_heads_and_escalates_to_their_parents() -> None:
    # Received at X-H01-01 (falls back to H-01), handled at X-01; parents: P and P.
    pairs = _pairs(AlertKind.OVERDUE, "X-H01-01", handling="X-01")
    assert pairs == [
        ("x01-head", "email"), ("x01-head", "zalo"), ("p-head", "email"), ("h01-head", "email"),
    ]


def test_a_step_alert_goes_to_the_head_of_the_steps_department() -> None:
    alert = msgspec.structs.replace(
        make_alert(AlertKind.STEP_OVERDUE, "D1", "X-01"), step_id="2", step_unit_code="S-TP",
        step_department="S-TP",
    )
    assert [(t.person.id, t.reason) for t in route(alert, BOOK, CATALOG.units)] == [
        ("ops", "step_unit_head@S-TP")
    ]


def test_at_risk_is_not_escalated() -> None:
    assert ("p-head", "email") not in _pairs(AlertKind.AT_RISK, "X-01")


def test_reschedule_limit_goes_to_province_operations_only() -> None:
    assert _pairs(AlertKind.RESCHEDULE_LIMIT_EXCEEDED, "X-01") == [("ops", "email")]


def test_a_person_reached_by_two_roles_gets_the_alert_once() -> None:
    # ops is both S-TP's head and province operations.
    pairs = _pairs(AlertKind.RESCHEDULED_OVERDUE, "S-TP")
    assert pairs.count(("ops", "email")) == 1
    assert ("p-head", "email") in pairs


def test_rule_with_deputies_adds_the_units_deputies() -> None:
    book = parse_recipients(
        "units:\n  X-01:\n    heads: [{id: h, name: H, email: h@x.vn}]\n"
        "    deputies: [{id: d, name: D, email: d@x.vn}]\n"
        "rules:\n  AT_RISK: {deputies: true}\n",
        "book", CATALOG.units,
    )
    alert = make_alert(AlertKind.AT_RISK, "D1", "X-01")
    assert [t.person.id for t in route(alert, book, CATALOG.units)] == ["h", "d"]


def test_no_one_listed_anywhere_means_no_targets() -> None:
    book = parse_recipients("units: {}\n", "book", CATALOG.units)
    assert route(make_alert(AlertKind.OVERDUE, "D1", "X-01"), book, CATALOG.units) == ()


def test_rules_in_the_file_turn_escalation_on_for_at_risk_and_off_for_overdue() -> None:
    book = parse_recipients(
        "units:\n  P:\n    heads: [{id: p, name: P, email: p@x.vn}]\n"
        "  X-01:\n    heads: [{id: h, name: H, email: h@x.vn}]\n"
        "rules:\n  AT_RISK: {escalate_to_parent: true}\n"
        "  OVERDUE: {escalate_to_parent: false}\n",
        "book", CATALOG.units,
    )
    at_risk = make_alert(AlertKind.AT_RISK, "D1", "X-01")
    overdue = make_alert(AlertKind.OVERDUE, "D1", "X-01")
    assert [t.person.id for t in route(at_risk, book, CATALOG.units)] == ["h", "p"]
    assert [t.person.id for t in route(overdue, book, CATALOG.units)] == ["h"]
    # RESCHEDULED_OVERDUE keeps its default escalation.
    rescheduled = make_alert(AlertKind.RESCHEDULED_OVERDUE, "D1", "X-01")
    assert [t.person.id for t in route(rescheduled, book, CATALOG.units)] == ["h", "p"]
