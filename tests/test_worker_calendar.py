"""A real worker whose event-time clock enters a year the override file does not confirm."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from tests.worker_process import WorkerTopics, free_port, running_worker

GAUGE_2027 = 'dossierflow_calendar_year_unconfirmed{year="2027"} 1.0'


def _received(dossier_id: str, occurred_at: str) -> bytes:
    return json.dumps({
        "schema_version": 1, "event_id": f"{dossier_id}-1", "dossier_id": dossier_id,
        "type": "RECEIVED", "occurred_at": occurred_at, "unit_code": "X-01",
        "procedure_code": "1.000894", "channel": "ONLINE",
    }).encode()


def _metrics_once(port: int, wanted: str, timeout: float = 60) -> str:
    """The worker's /metrics once it shows `wanted`, or as it is after `timeout` seconds."""
    text, deadline = "", time.monotonic() + timeout
    while time.monotonic() < deadline and wanted not in text:
        time.sleep(0.5)
        try:
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
        except OSError:  # not serving yet
            continue
    return text


def test_the_clock_entering_2027_is_said_once_in_the_log_and_in_the_gauge(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """2026 is confirmed by the shipped file, 2027 is not: the clock first reaches a day of
    December 2026 (gauge 0 for 2026), then 2 January 2027 (gauge 1 for 2027, one warning)."""
    topics = WorkerTopics(kafka_bootstrap, partitions=1)
    env = {"DOSSIERFLOW_IDLE_PARTITION_SECONDS": "1"}
    port = free_port()
    with running_worker(topics, tmp_path, "--event-time", env=env, metrics_port=port):
        topics.produce([_received("Y-1", "2026-12-30T09:00:00+07:00")])
        text = _metrics_once(port, 'dossierflow_calendar_year_unconfirmed{year="2026"} 0.0')
        assert 'dossierflow_calendar_year_unconfirmed{year="2026"} 0.0' in text
        topics.produce([_received("Y-2", "2027-01-02T09:00:00+07:00"),
                        _received("Y-3", "2027-01-04T09:00:00+07:00")])
        text = _metrics_once(port, GAUGE_2027)
    assert GAUGE_2027 in text
    assert 'year="2026"' not in text
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert log.count("calendar: 2027 is not confirmed by the override file") == 1
    assert "calendar: 2026 is not confirmed" not in log
