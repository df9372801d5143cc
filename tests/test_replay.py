"""`dossierflow replay` through the real CLI, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import WORKED_EXAMPLES, WORKED_EXAMPLES_EXPECTED

KEYS = [
    "dossier_id",
    "status",
    "unit_code",
    "handling_unit_code",
    "procedure_code",
    "channel",
    "received_at",
    "due_at",
    "rescheduled_due_at",
    "outcome",
    "overdue",
    "alerts",
]


def replay(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "replay", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def rows(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def line(event_id: str, kind: str, at: str, dossier: str = "D1", **fields: Any) -> str:
    body = {
        "schema_version": 1,
        "event_id": event_id,
        "dossier_id": dossier,
        "type": kind,
        "occurred_at": at,
        **fields,
    }
    return json.dumps(body)


BARE_RECEIVED = {"unit_code": "X-01", "procedure_code": "1.000894", "channel": "IN_PERSON"}
ONE_WORKING_DAY = {"value": 1, "unit": "working_days"}
RECEIVED: dict[str, Any] = {**BARE_RECEIVED, "processing_time": ONE_WORKING_DAY}
"""The sample's copy certification is same-day; these cases were worked for one working
day, which the event states (a certification extended by agreement)."""


@pytest.fixture(scope="module")
def worked() -> dict[str, dict[str, Any]]:
    result = replay(WORKED_EXAMPLES, "--as-of", "2026-09-01T00:00:00+07:00")
    assert result.returncode == 0, result.stderr
    return {row["dossier_id"]: row for row in rows(result.stdout)}


def test_worked_examples_file_matches_expected(worked: dict[str, dict[str, Any]]) -> None:
    expected = rows(WORKED_EXAMPLES_EXPECTED.read_text(encoding="utf-8"))
    assert list(worked.values()) == expected
    assert list(worked) == sorted(worked)
    assert all(list(row) == KEYS for row in worked.values())


def test_example_1_tet(worked: dict[str, dict[str, Any]]) -> None:
    row = worked["EX-01"]
    assert row["due_at"] == "2026-02-25T10:00:00+07:00"
    assert row["outcome"] == "ON_TIME"  # resolved 25/2 15:20, the due date
    assert row["alerts"] == [{"kind": "AT_RISK", "at": "2026-02-24T10:00:00+07:00"}]


def test_example_2_after_hours(worked: dict[str, dict[str, Any]]) -> None:
    row = worked["EX-02"]
    assert row["received_at"] == "2026-03-02T18:30:00+07:00"
    assert row["due_at"] == "2026-03-03T17:00:00+07:00"
    assert row["status"] == "RETURNED" and row["outcome"] == "ON_TIME"
    assert row["alerts"] == []  # at risk 07:30 is the clock start itself


def test_example_3_restart(worked: dict[str, dict[str, Any]]) -> None:
    row = worked["EX-03"]
    assert row["due_at"] == "2026-03-12T14:00:00+07:00"
    assert row["outcome"] == "OVERDUE"  # resolved 13/3
    assert [a["kind"] for a in row["alerts"]] == ["AT_RISK", "OVERDUE"]


def test_pending_and_duplicates(worked: dict[str, dict[str, Any]]) -> None:
    assert worked["EX-09"]["status"] == "PENDING"
    assert worked["EX-09"]["handling_unit_code"] == "X-02"
    assert worked["EX-07"]["status"] == "WITHDRAWN"  # its RECEIVED appears twice


def test_bad_lines_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(
        "\n".join(
            [
                line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED),
                "not json",
                line("E2", "TRANSFERRED", "2026-03-02T09:00:00+07:00"),  # no unit_code
                "",
                line("E3", "RESOLVED", "2026-03-02T10:00:00"),  # naive
                line("E4", "RESOLVED", "2026-03-02T16:00:00+07:00"),
            ]
        ).encode()
        + b"\n\xff\xfe\n"
    )
    result = replay(events)
    assert result.returncode == 3  # the README's table: ran, but its input was not all good
    *errors, count = result.stderr.splitlines()
    assert [e.split(": skipped")[0].rsplit(":", 1)[1] for e in errors] == ["2", "3", "5", "7"]
    assert "unit_code" in errors[1] and "occurred_at" in errors[2]
    assert count == (
        "dossierflow replay: skipped 4 malformed lines and 0 events the rules failed on "
        "(listed above); replayed 2 events"
    )
    (row,) = rows(result.stdout)
    assert row["status"] == "RESOLVED" and row["outcome"] == "EARLY"


def test_an_unknown_procedure_is_flagged_and_warned_about(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    unknown = {**BARE_RECEIVED, "procedure_code": "9.999999"}
    events.write_text(
        "\n".join(
            [
                line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", dossier="D1", **unknown),
                line("E2", "RECEIVED", "2026-03-02T09:00:00+07:00", dossier="D2", **unknown),
                line("E3", "RECEIVED", "2026-03-02T10:00:00+07:00", dossier="D3", **RECEIVED),
            ]
        ),
        encoding="utf-8",
    )
    result = replay(events)
    assert result.returncode == 0
    by_dossier = {row["dossier_id"]: row for row in rows(result.stdout)}
    assert by_dossier["D1"]["procedure_unknown"] is True
    assert by_dossier["D1"]["due_at"] is None and by_dossier["D1"]["alerts"] == []
    assert by_dossier["D2"]["procedure_unknown"] is True
    assert list(by_dossier["D3"]) == KEYS  # a known procedure: the contract's keys only
    (warning,) = result.stderr.splitlines()
    assert "warning: 2 dossiers have no deadline" in warning
    assert "9.999999 (2)" in warning and "catalogue" in warning


def test_a_byte_order_mark_at_the_start_of_a_file_is_not_part_of_the_first_event(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(  # as Notepad and Excel save "UTF-8 with BOM"
        line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED)
        + "\n"
        + line("E2", "RESOLVED", "2026-03-02T16:00:00+07:00")
        + "\n",
        encoding="utf-8-sig",
    )
    assert events.read_bytes().startswith(b"\xef\xbb\xbf")
    result = replay(events)
    assert result.returncode == 0
    assert result.stderr == ""
    (row,) = rows(result.stdout)
    assert row["status"] == "RESOLVED" and row["outcome"] == "EARLY"


def test_as_of_defaults_to_the_largest_occurred_at(tmp_path: Path) -> None:
    # D1: 3 days from Monday 2/3 08:00, due Thursday 5/3 08:00, at risk Wednesday 08:00.
    # D2's event sets the clock to Wednesday 4/3 12:00 (arrives first, is latest).
    events = tmp_path / "events.jsonl"
    events.write_text(
        line("E9", "SUBMITTED", "2026-03-04T12:00:00+07:00", dossier="D2")
        + "\n"
        + line(
            "E1",
            "RECEIVED",
            "2026-03-02T08:00:00+07:00",
            processing_time={"value": 3, "unit": "working_days"},
            **BARE_RECEIVED,
        )
        + "\n",
        encoding="utf-8",
    )
    d1, d2 = rows(replay(events).stdout)
    assert d1["due_at"] == "2026-03-05T08:00:00+07:00"
    assert d1["alerts"] == [{"kind": "AT_RISK", "at": "2026-03-04T08:00:00+07:00"}]
    assert d1["overdue"] is False
    assert d2["status"] == "SUBMITTED"
    later = rows(replay(events, "--as-of", "2026-03-06T00:00:00+07:00").stdout)[0]
    assert [a["kind"] for a in later["alerts"]] == ["AT_RISK", "OVERDUE"]
    assert later["overdue"] is True


def test_events_after_as_of_are_not_history_yet_and_a_date_is_that_day_s_start(
    tmp_path: Path,
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED)
        + "\n"
        + line("E2", "RESOLVED", "2026-03-05T08:00:00+07:00")
        + "\n",
        encoding="utf-8",
    )
    at_midnight = replay(events, "--as-of", "2026-03-04T00:00:00+07:00")
    (row,) = rows(at_midnight.stdout)
    assert row["status"] == "OPEN" and row["overdue"] is True
    assert row["alerts"] == [{"kind": "OVERDUE", "at": "2026-03-04T00:00:00+07:00"}]
    # Issue 19: `--as-of 2026-03-04` was refused with a hint, `2026-03-04+07:00`, that was
    # refused too. A date is the start of that day in Vietnam.
    for form in ("2026-03-04", "04/03/2026", "4/3/2026"):
        by_date = replay(events, "--as-of", form)
        assert (by_date.returncode, by_date.stderr) == (0, ""), form
        assert by_date.stdout == at_midnight.stdout, form


def test_times_are_printed_in_plus_seven(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(line("E1", "RECEIVED", "2026-03-02T01:00:00Z", **RECEIVED) + "\n")
    (row,) = rows(replay(events).stdout)
    assert row["received_at"] == "2026-03-02T08:00:00+07:00"
    assert row["due_at"] == "2026-03-03T08:00:00+07:00"


def test_a_directory_given_as_the_events_file_is_named_as_such(tmp_path: Path) -> None:
    result = replay(tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"dossierflow replay: {tmp_path}: cannot read it: Is a directory; give a file of "
        "events, one JSON object a line"
    ]


def test_bad_as_of_and_missing_file(tmp_path: Path) -> None:
    missing = replay(tmp_path / "none.jsonl")
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == [
        f"dossierflow replay: {tmp_path / 'none.jsonl'}: cannot read it: No such file or "
        "directory; give a file of events, one JSON object a line"
    ]
    no_catalogue = replay(WORKED_EXAMPLES, "--catalog", tmp_path / "none.yaml")
    assert no_catalogue.returncode == 2
    assert no_catalogue.stderr.splitlines() == [
        f"dossierflow replay: catalogue {tmp_path / 'none.yaml'}: cannot read it: No such "
        "file or directory"
    ]
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = replay(events, "--as-of", "2026-03-04T00:00:00")
    assert result.returncode == 2 and "offset" in result.stderr


def test_new_year_2026_swap_moves_the_deadline_and_the_overdue_alert(tmp_path: Path) -> None:
    """Công văn 12729/VPCP-KGVX: Friday 2/1/2026 off. Received Wed 31/12/2025 09:00 with 1
    working day: due Mon 5/1/2026 09:00 (6 h on 31/12, 2 h on 5/1), so at Sat 3/1 it is not
    overdue and its OVERDUE alert comes at 00:00 after the due date (docs/domain.md,
    Outcomes), Tuesday 6/1, not at 00:00 of Saturday 3/1 as with a 2/1 that was a working day."""
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({
        "schema_version": 1, "event_id": "NY-1", "dossier_id": "NY", "type": "RECEIVED",
        "occurred_at": "2025-12-31T09:00:00+07:00", "unit_code": "X-01",
        "procedure_code": "1.000894", "channel": "IN_PERSON",
        "processing_time": {"value": 1, "unit": "working_days"},
    }) + "\n", encoding="utf-8")
    (on_saturday,) = rows(replay(events, "--as-of", "2026-01-03T12:00:00+07:00").stdout)
    assert on_saturday["due_at"] == "2026-01-05T09:00:00+07:00"
    assert on_saturday["overdue"] is False
    (on_tuesday,) = rows(replay(events, "--as-of", "2026-01-06T10:00:00+07:00").stdout)
    overdue = [a["at"] for a in on_tuesday["alerts"] if a["kind"] == "OVERDUE"]
    assert (on_tuesday["overdue"], overdue) == (True, ["2026-01-06T00:00:00+07:00"])


def test_hostile_lines_are_skipped_with_their_reason(tmp_path: Path) -> None:
    """Issue 18: a 1,001-level line raised RecursionError and one of year 9999 OverflowError
    in the calendar: replay exited 70 on them."""
    events = tmp_path / "events.jsonl"
    nested = line("E2", "RESUMED", "2026-03-02T09:00:00+07:00")[:-1] + ', "x": '
    nested += "[" * 1000 + "]" * 1000 + "}"
    events.write_text("\n".join([
        line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED),
        nested,
        line("E3", "RECEIVED", "9999-12-31T09:00:00+07:00", dossier="D2", **RECEIVED),
        line("E4", "RECEIVED", "0001-01-01T00:30:00+07:00", dossier="D3", **RECEIVED),
        line("E5", "RESOLVED", "2026-03-02T16:00:00+07:00"),
    ]) + "\n")
    result = replay(events)
    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines()[:-1] == [
        f"{events}:2: skipped: too deeply nested: 1001 levels, the limit is 32",
        f"{events}:3: skipped: invalid: `occurred_at` must be in the years 2000-2099, not 9999"
        " - at `$.occurred_at`",
        f"{events}:4: skipped: invalid: `occurred_at` must be in the years 2000-2099, not 1"
        " - at `$.occurred_at`",
    ]
    (row,) = rows(result.stdout)
    assert row["dossier_id"] == "D1" and row["outcome"] == "EARLY"


MARCH_2026_ONLY = """\
calendar:
  weekend: [mon, tue, wed, thu, fri, sat, sun]
  overrides: {2026: {working_days: [2026-03-02, 2026-03-03, 2026-03-04, 2026-03-05]}}
"""


def test_an_event_the_rules_fail_on_is_skipped_as_the_worker_dead_letters_it(
    tmp_path: Path,
) -> None:
    """A restart in 2045 with a calendar that has no working time after March 2026: the
    rules raise on that event; the dossier is what the other events give."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(MARCH_2026_ONLY)
    one_day: dict[str, Any] = {**RECEIVED, "processing_time": {"value": 1, "unit": "working_days"}}
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([
        line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **one_day),
        line("E2", "SUPPLEMENT_REQUESTED", "2026-03-02T09:00:00+07:00"),
        line("E3", "RESUMED", "2045-03-02T09:00:00+07:00"),
        line("E4", "TRANSFERRED", "2045-03-02T10:00:00+07:00", unit_code="X-02"),
        line("F1", "RECEIVED", "2045-03-02T09:00:00+07:00", dossier="D2", **one_day),
    ]) + "\n")
    result = replay(events, "--catalog", catalog, "--as-of", "2045-03-03T00:00:00+07:00")
    assert result.returncode == 3, result.stderr
    failed = "failed: ValueError: calendar: no working time within 3700 days of 2045-03-02"
    assert result.stderr.splitlines() == [
        f"{events}: event E3 of dossier D1: skipped: {failed}",
        f"{events}: event F1 of dossier D2: skipped: {failed}",
        "dossierflow replay: skipped 0 malformed lines and 2 events the rules failed on "
        "(listed above); replayed 3 events",
    ]
    (row,) = rows(result.stdout)  # D2 had no other event
    assert row["dossier_id"] == "D1" and row["handling_unit_code"] == "X-02"
    assert row["status"] == "PAUSED" and row["due_at"] == "2026-03-03T08:00:00+07:00"


def test_as_of_without_an_offset_is_refused_with_a_hint_that_works(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED) + "\n")
    refused = replay(events, "--as-of", "2026-03-04T08:00")
    assert refused.returncode == 2
    hint = refused.stderr.rsplit("e.g. ", 1)[1].strip()
    assert hint == "2026-03-04T08:00:00+07:00"
    assert replay(events, "--as-of", hint).returncode == 0
    for nonsense in ("yesterday", "2026-03-04+07:00"):  # the latter, the former hint
        refused = replay(events, "--as-of", nonsense)
        assert refused.returncode == 2, nonsense
        assert "write e.g. 2026-03-04 or 04/03/2026" in refused.stderr, nonsense


def test_as_of_leaves_out_the_dossiers_not_received_yet_and_says_how_many(
    tmp_path: Path,
) -> None:
    """Issue 19: they were listed as PENDING with every field empty."""
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join([
        line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", dossier="D1", **RECEIVED),
        line("E2", "RECEIVED", "2026-03-05T08:00:00+07:00", dossier="D2", **RECEIVED),
        line("E3", "SUBMITTED", "2026-03-06T08:00:00+07:00", dossier="D3"),
    ]) + "\n", encoding="utf-8")
    result = replay(events, "--as-of", "2026-03-04")
    assert result.returncode == 0
    assert [row["dossier_id"] for row in rows(result.stdout)] == ["D1"]
    assert result.stderr.splitlines() == [
        "dossierflow replay: 2 dossiers with no event by 2026-03-04T00:00:00+07:00 "
        "(not received yet) left out"
    ]
