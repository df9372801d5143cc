"""The dashboard's "at risk" and the AT_RISK alerts agree (issue 19): histories through the
rules, stored by the backfill path (facts and fired alerts), read back as the unit page does."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from dossierflow.backfill import backfill
from dossierflow.replay import read_events, replay
from dossierflow.reporting.dashboard.views import at_risk_horizon, classify_open
from dossierflow.reporting.queries import open_dossiers
from dossierflow.rules.alerts import AlertKind
from dossierflow.rules.catalog import Catalog, load_catalog
from dossierflow.sinks.clickhouse import ClickHouseSink
from dossierflow.store import Store

pytestmark = pytest.mark.clickhouse

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=HCM)  # a Tuesday
UNIT = "X-01"


def received(dossier: str, at: str, procedure: str) -> dict[str, object]:
    return {
        "schema_version": 1, "event_id": f"{dossier}-1", "dossier_id": dossier,
        "type": "RECEIVED", "occurred_at": f"{at}:00+07:00", "unit_code": UNIT,
        "procedure_code": procedure, "channel": "ONLINE", "online_level": "FULL",
        "sequence": 1,
    }


EVENTS = [
    # Filed online on Monday evening: the clock starts at Tuesday's opening (07:30), the one
    # working day ends Tuesday 17:00, and 8 working hours before it is the clock start
    # itself, so no AT_RISK alert. Re-derived from received_at, 07:30 is after receipt, and
    # the dashboard said "at risk" from Tuesday 07:30.
    received("EVENING", "2026-03-09T17:30", "1.000894"),
    # Received after the 15:00 cut-off of 1.001193: the clock starts the next working day,
    # as above.
    received("AFTER-CUTOFF", "2026-03-09T15:30", "1.001193"),
    # Ten working days from Tuesday 24 February 10:00 end on Tuesday 10 March 10:00; its
    # AT_RISK alert fired on Monday 9 March 10:00.
    received("AT-RISK", "2026-02-24T10:00", "2.002"),
    # Ten working days from 10 March: neither at risk nor overdue yet.
    received("LATER", "2026-03-10T08:00", "2.002"),
]


def through_the_rules(store: Store, catalog: Catalog, tmp_path: Path) -> set[str]:
    """Store the histories' facts and alerts as of NOW; the dossiers with an AT_RISK alert."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    evaluations = list(replay(read_events(path, lambda n, reason: None), catalog, NOW))
    backfill(evaluations, catalog, ClickHouseSink(store), "test")
    return {
        e.state.dossier_id for e in evaluations for a in e.alerts if a.kind is AlertKind.AT_RISK
    }


def test_the_unit_pages_at_risk_are_the_dossiers_with_an_at_risk_alert(
    store: Store, tmp_path: Path
) -> None:
    catalog = load_catalog()
    alerted = through_the_rules(store, catalog, tmp_path)
    assert alerted == {"AT-RISK"}
    rows = open_dossiers(store, {UNIT}, at_risk_horizon(NOW, catalog), NOW)
    assert {r.dossier_id for r in rows} >= {"EVENING", "AFTER-CUTOFF", "AT-RISK"}
    listed = classify_open(rows, NOW, catalog)
    assert {i.dossier.dossier_id for i in listed if not i.overdue} == alerted
    assert [i.overdue for i in listed] == [False]
