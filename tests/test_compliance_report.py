"""Compliance figures per unit through the real CLI: `replay --store` into chDB, then
`report --store --format json` (migration 011's bi_compliance_report).

The sample catalogue: 2.001 takes 10 working days, 1.000894 one. Days off of spring 2026:
Mon 27/4, Thu 30/4, Fri 1/5. Every expected figure is worked out by hand below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.clickhouse

LAND, COPY = "2.001", "1.000894"


def line(event_id: str, dossier: str, kind: str, at: str, **fields: Any) -> str:
    return json.dumps({
        "schema_version": 1, "event_id": event_id, "dossier_id": dossier, "type": kind,
        "occurred_at": at, **fields,
    })


def received(dossier: str, at: str, procedure: str) -> str:
    return line(f"{dossier}-r", dossier, "RECEIVED", at, unit_code="X-01",
                procedure_code=procedure, channel="IN_PERSON")


EVENTS = [
    # received Fri 24/4 09:00: a request is in time through Mon 4/5, the 3rd working day
    received("SUP-LATE", "2026-04-24T09:00:00+07:00", LAND),
    line("SUP-LATE-s", "SUP-LATE", "SUPPLEMENT_REQUESTED", "2026-05-05T08:00:00+07:00"),
    received("SUP-OK", "2026-04-24T09:00:00+07:00", LAND),
    line("SUP-OK-s", "SUP-OK", "SUPPLEMENT_REQUESTED", "2026-05-04T15:00:00+07:00"),
    # received Mon 4/5 08:00 with one working day: due Tue 5/5 08:00, apologise by Mon 4/5
    received("APO-LATE", "2026-05-04T08:00:00+07:00", COPY),
    line("APO-LATE-a", "APO-LATE", "APOLOGY_ISSUED", "2026-05-05T07:45:00+07:00",
         new_due_at="2026-05-07T17:00:00+07:00"),
    line("APO-LATE-z", "APO-LATE", "RESOLVED", "2026-05-06T10:00:00+07:00"),
    received("APO-OK", "2026-05-04T08:00:00+07:00", COPY),
    line("APO-OK-a", "APO-OK", "APOLOGY_ISSUED", "2026-05-04T16:00:00+07:00",
         new_due_at="2026-05-07T17:00:00+07:00"),
    line("APO-OK-z", "APO-OK", "RESOLVED", "2026-05-06T10:00:00+07:00"),
    received("NO-APO", "2026-05-04T08:00:00+07:00", COPY),
    line("NO-APO-z", "NO-APO", "RESOLVED", "2026-05-06T10:00:00+07:00"),
    # due Tue 26/5 08:00, still open on 1/6 and never apologised
    received("OPEN", "2026-05-25T08:00:00+07:00", COPY),
]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", *args],
        capture_output=True, text=True, encoding="utf-8", timeout=300, check=False,
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("compliance")
    events = folder / "events.jsonl"
    events.write_text("\n".join(EVENTS) + "\n", encoding="utf-8")
    url = f"chdb://{folder / 'ch'}"
    done = cli("replay", str(events), "--store", url)
    assert done.returncode == 0, done.stderr
    return url


def report(store: str, start: str, end: str, lang: str = "en") -> dict[str, Any]:
    done = cli("report", "--from", start, "--to", end, "--store", store, "--format", "json",
               "--lang", lang, "--sink-url", "http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_may_counts_each_breach_once_for_its_unit(store: str) -> None:
    data = report(store, "2026-05-01", "2026-06-01")
    (row,) = [r for r in data["rows"] if r["unit_code"] == "X-01"]
    assert row["resolved_overdue"] == 3  # APO-LATE, APO-OK, NO-APO: resolved Wed 6/5
    # open on 1/6 past their deadline: OPEN (Tue 26/5) and the two SUP-* dossiers, paused
    # with the deadline they had, Wed 13/5 (paused dossiers count as in progress)
    assert row["in_progress_overdue"] == 3
    assert {k: row[k] for k in (
        "supplement_requests_late", "apologies_late",
        "resolved_overdue_no_apology", "in_progress_overdue_no_apology",
    )} == {
        "supplement_requests_late": 1,  # SUP-LATE on Tue 5/5, the 4th working day
        "apologies_late": 1,  # APO-LATE on Tue 5/5, the deadline's day
        "resolved_overdue_no_apology": 1,  # NO-APO
        "in_progress_overdue_no_apology": 3,  # none of them apologised
    }
    assert data["total"]["apologies_late"] == 1


def test_a_period_before_the_breaches_counts_none(store: str) -> None:
    data = report(store, "2026-04-01", "2026-05-01")
    assert data["total"]["supplement_requests_late"] == 0
    assert data["total"]["apologies_late"] == 0
    assert data["total"]["in_progress_overdue_no_apology"] == 0  # SUP-*: due 13/5


def test_the_printed_report_has_the_compliance_table(store: str) -> None:
    done = cli("report", "--from", "2026-05-01", "--to", "2026-06-01", "--store", store,
               "--lang", "vi", "--sink-url", "http://127.0.0.1:9")
    assert done.returncode == 0, done.stderr
    compliance = done.stdout[done.stdout.index("Tuân thủ quy định"):]
    assert "Xin lỗi" in compliance and "muộn" in compliance  # the header may wrap


def test_replay_fires_apology_due_when_the_catalogue_turns_it_on(tmp_path: Path) -> None:
    """LAND: ten working days from Fri 24/4 09:00 make it due Wed 13/5 09:00 (Tue 28/4, Wed
    29/4, Mon 4/5 ... Wed 13/5), so its last day to apologise is Tue 12/5: APOLOGY_DUE at
    07:30. OPEN (due Tue 26/5 08:00): the last day, Mon 25/5, is its day of receipt, no alert."""
    sample = Path(__file__).resolve().parents[1] / "src/dossierflow/data/catalog.yaml"
    catalog = tmp_path / "catalog.yaml"
    text = sample.read_text(encoding="utf-8")
    catalog.write_text(text.replace("calendar:\n", "compliance: {apology_due_alert: true}\n"
                                    "calendar:\n", 1), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    events.write_text(received("LAND", "2026-04-24T09:00:00+07:00", LAND) + "\n"
                      + received("OPEN", "2026-05-25T08:00:00+07:00", COPY) + "\n",
                      encoding="utf-8")
    done = cli("replay", str(events), "--catalog", str(catalog),
               "--as-of", "2026-06-01T00:00:00+07:00")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(text) for text in done.stdout.splitlines() if text.strip()]
    alerts = {row["dossier_id"]: row["alerts"] for row in rows}
    assert alerts["LAND"][0] == {"kind": "APOLOGY_DUE", "at": "2026-05-12T07:30:00+07:00"}
    assert "APOLOGY_DUE" not in {a["kind"] for a in alerts["OPEN"]}
    plain = cli("replay", str(events), "--as-of", "2026-06-01T00:00:00+07:00")
    assert "APOLOGY_DUE" not in plain.stdout  # off in the sample catalogue
