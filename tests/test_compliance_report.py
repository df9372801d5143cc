"""Compliance figures per unit through the real CLI: `replay --store` into chDB, then
`report --store --format json` (migration 011's bi_compliance_report).

The sample catalogue: 2.001 takes 10 working days; 1.000894 (same-day in the sample) is
received here with one working day, as a certification extended by agreement is. Days off
of spring 2026: Mon 27/4, Thu 30/4, Fri 1/5. Every expected figure is worked out by hand below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from dossierflow.rules.calendar import VIETNAM

pytestmark = pytest.mark.clickhouse

LAND, COPY = "2.001", "1.000894"


def line(event_id: str, dossier: str, kind: str, at: str, **fields: Any) -> str:
    return json.dumps({
        "schema_version": 1, "event_id": event_id, "dossier_id": dossier, "type": kind,
        "occurred_at": at, **fields,
    })


def received(dossier: str, at: str, procedure: str) -> str:
    stated = {"processing_time": {"value": 1, "unit": "working_days"}} if procedure == COPY else {}
    return line(f"{dossier}-r", dossier, "RECEIVED", at, unit_code="X-01",
                procedure_code=procedure, channel="IN_PERSON", **stated)


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
    # "Xin lỗi muộn" (late apologies): at 80 columns its header wraps a word a line
    assert all(word in compliance for word in ("Xin", "muộn", "Hồ sơ"))


def test_replay_fires_apology_due_when_the_catalogue_turns_it_on(tmp_path: Path) -> None:
    """LAND: ten working days from Fri 24/4 09:00 make it due Wed 13/5 09:00 (Tue 28/4, Wed
    29/4, Mon 4/5 ... Wed 13/5), so its last day to apologise is Tue 12/5: APOLOGY_DUE at
    07:30. OPEN (due Tue 26/5 08:00): the last day, Mon 25/5, is its day of receipt, no alert."""
    sample = Path(__file__).resolve().parents[1] / "src/dossierflow/data/catalog.yaml"
    catalog = tmp_path / "catalog.yaml"
    text = sample.read_text(encoding="utf-8")
    assert "  apology_due_alert: false\n" in text
    catalog.write_text(text.replace("  apology_due_alert: false\n", "  apology_due_alert: true\n"),
                       encoding="utf-8")
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


# --- the report's readings (rules/readings.py, bi_period_outcomes) ---------------------------

READINGS_EVENTS = [
    # due Tue 5/5 08:00; resolved that day at 10:00: on time by date, overdue by instant
    received("R1", "2026-05-04T08:00:00+07:00", COPY),
    line("R1-z", "R1", "RESOLVED", "2026-05-05T10:00:00+07:00"),
    # apologised in time with a new date Thu 7/5 17:00, resolved Wed 6/5: overdue against the
    # slip, early against the new date
    received("R2", "2026-05-04T08:00:00+07:00", COPY),
    line("R2-a", "R2", "APOLOGY_ISSUED", "2026-05-04T16:00:00+07:00",
         new_due_at="2026-05-07T17:00:00+07:00"),
    line("R2-z", "R2", "RESOLVED", "2026-05-06T10:00:00+07:00"),
    # due Tue 26/5 08:00, new date Wed 10/6 17:00, open on 1/6
    received("R3", "2026-05-25T08:00:00+07:00", COPY),
    line("R3-a", "R3", "APOLOGY_ISSUED", "2026-05-25T16:00:00+07:00",
         new_due_at="2026-06-10T17:00:00+07:00"),
    # resolved Tue 5/5 07:45, before its 08:00 deadline: on time either way
    received("R4", "2026-05-04T08:00:00+07:00", COPY),
    line("R4-z", "R4", "RESOLVED", "2026-05-05T07:45:00+07:00"),
]
CLASSES = ("resolved_early", "resolved_on_time", "resolved_overdue", "in_progress_overdue")


@pytest.fixture(scope="module")
def readings_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("readings")
    events = folder / "events.jsonl"
    events.write_text("\n".join(READINGS_EVENTS) + "\n", encoding="utf-8")
    url = f"chdb://{folder / 'ch'}"
    done = cli("replay", str(events), "--store", url)
    assert done.returncode == 0, done.stderr
    sample = Path(__file__).resolve().parents[1] / "src/dossierflow/data/catalog.yaml"
    catalog = folder / "instant.yaml"
    text = sample.read_text(encoding="utf-8")
    assert "  outcome_reading: date\n" in text
    catalog.write_text(text.replace("  outcome_reading: date\n", "  outcome_reading: instant\n"),
                       encoding="utf-8")
    return url, catalog


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), (0, 2, 1, 1)),  # R1 R4 on time; R2 overdue; R3 open past 26/5
        (("--outcome-reading", "instant"), (0, 1, 2, 1)),  # R1 overdue at 10:00 > 08:00
        (("--appointment", "rescheduled"), (1, 2, 0, 0)),  # R2 early for 7/5; R3 due 10/6
        (("--outcome-reading", "instant", "--appointment", "rescheduled"), (1, 1, 1, 0)),
    ],
)
def test_each_reading_gives_its_hand_worked_classes(
    readings_store: tuple[str, Path], options: tuple[str, ...], expected: tuple[int, ...]
) -> None:
    done = cli("report", "--from", "2026-05-01", "--to", "2026-06-01", "--store",
               readings_store[0], "--format", "json", "--sink-url", "http://127.0.0.1:9",
               *options)
    assert done.returncode == 0, done.stderr
    total = json.loads(done.stdout)["total"]
    assert tuple(total[k] for k in CLASSES) == expected
    assert total["resolved_early"] + total["resolved_on_time"] + total["resolved_overdue"] == 3


def test_the_catalogue_chooses_the_reading_and_the_option_overrides_it(
    readings_store: tuple[str, Path],
) -> None:
    url, catalog = readings_store
    base = ("report", "--from", "2026-05-01", "--to", "2026-06-01", "--store", url,
            "--format", "json", "--sink-url", "http://127.0.0.1:9", "--catalog", str(catalog))
    by_catalogue = json.loads(cli(*base).stdout)["total"]
    assert tuple(by_catalogue[k] for k in CLASSES) == (0, 1, 2, 1)
    overridden = json.loads(cli(*base, "--outcome-reading", "date").stdout)["total"]
    assert tuple(overridden[k] for k in CLASSES) == (0, 2, 1, 1)
    refused = cli(*base, "--appointment", "later")
    assert refused.returncode != 0 and "--appointment" in refused.stderr


def test_the_default_reading_of_the_outcomes_view_is_the_period_reports(tmp_path: Path) -> None:
    """bi_period_outcomes with date/original must give bi_period_report's classes, here on
    test_report's hand-built dossiers and a dossier whose RESUMED on 12/3 moved its deadline
    from 6/3 to 20/3 (overdue on 11/3, not on 1/4)."""
    from dossierflow.reporting.queries import OUTCOME_KEYS, OUTCOMES_SQL, fetch_figures
    from dossierflow.store import connect, migrate
    from tests.test_report import History, all_facts, write

    moved = (
        History("D22", "X2").received("2026-03-02 08:00", due="2026-03-06 17:00")
        .add("SUPPLEMENT_REQUESTED", "2026-03-04 08:00")
        .add("RESUMED", "2026-03-12 08:00", status="OPEN", due_at=datetime(
            2026, 3, 20, 17, tzinfo=VIETNAM))
    )
    store = connect(f"chdb://{tmp_path / 'ch'}")
    try:
        migrate(store)
        write(store, all_facts() + moved.facts())
        for start, end in ((date(2026, 3, 1), date(2026, 4, 1)),
                           (date(2026, 3, 1), date(2026, 3, 11))):
            figures = fetch_figures(store, start, end)
            rows = store.client.query(OUTCOMES_SQL, parameters={
                "period_from": f"{start} 00:00:00", "period_to": f"{end} 00:00:00",
                "reading": "date", "appointment": "original",
            }).result_rows
            got = {str(r[0]): tuple(map(int, r[1:])) for r in rows}
            assert got == {
                unit: tuple(getattr(f, k) for k in OUTCOME_KEYS) for unit, f in figures.items()
            }
        assert got["X2"][3] == 1  # D22 overdue on 11/3 by the deadline it had then
    finally:
        store.close()


async def test_get_report_and_the_dashboard_follow_the_catalogues_reading(
    readings_store: tuple[str, Path],
) -> None:
    """The sink's GET /report and the dashboard's JSON, over the same store: the catalogue says
    `instant`, a query parameter overrides it, a bad one is a 400 naming it."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from dossierflow.reporting.http import add_reporting_routes
    from dossierflow.rules.catalog import load_catalog, parse_catalog
    from dossierflow.store import connect, refresh_rollups

    catalog = parse_catalog(readings_store[1].read_bytes(), "instant.yaml", load_catalog_dir())
    assert catalog.report.outcome_reading.value == "instant"
    store = connect(readings_store[0], create=False)
    try:
        refresh_rollups(store)
        app = web.Application()
        add_reporting_routes(app, store, catalog)
        async with TestClient(TestServer(app)) as client:
            may = "from=2026-05-01&to=2026-06-01"

            async def classes(path: str) -> tuple[int, ...]:
                response = await client.get(path)
                assert response.status == 200, await response.text()
                total = (await response.json())["total"]
                return tuple(total[k] for k in CLASSES)

            assert await classes(f"/report?{may}") == (0, 1, 2, 1)
            assert await classes(f"/report?{may}&outcome_reading=date") == (0, 2, 1, 1)
            assert await classes(f"/api/dashboard?{may}") == (0, 1, 2, 1)
            response = await client.get(f"/report?{may}&appointment=later")
            assert response.status == 400
            assert (await response.json())["error"] == (
                "appointment 'later': use one of original, rescheduled"
            )
            body = await (await client.get(f"/report?{may}")).json()
            assert body["total"]["in_progress_overdue_no_apology"] == 0  # R3 apologised
            assert load_catalog().report.outcome_reading.value == "date"
    finally:
        store.close()


def load_catalog_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "src/dossierflow/data"


async def test_the_dashboard_shows_the_compliance_figures_of_get_report(store: str) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from dossierflow.reporting.http import add_reporting_routes
    from dossierflow.rules.catalog import load_catalog
    from dossierflow.store import connect, refresh_rollups

    opened = connect(store, create=False)
    try:
        refresh_rollups(opened)
        app = web.Application()
        add_reporting_routes(app, opened, load_catalog())
        async with TestClient(TestServer(app)) as client:
            may = "from=2026-05-01&to=2026-06-01"
            report = await (await client.get(f"/report?{may}")).json()
            dashboard = await (await client.get(f"/api/dashboard?{may}&lang=vi")).json()
    finally:
        opened.close()
    keys = ("supplement_requests_late", "apologies_late", "resolved_overdue_no_apology",
            "in_progress_overdue_no_apology")
    assert {k: dashboard["total"][k] for k in keys} == {k: report["total"][k] for k in keys}
    assert dashboard["compliance_error"] is None
    panel = dashboard["html"]["compliance"]
    # 1 late request, 1 late apology, 1 + 3 overdue without an apology (worked out above)
    assert 'data-key="apologies_late"' in panel and "Xin lỗi muộn" in panel
    assert "1 đã giải quyết, 3 đang xử lý" in panel
