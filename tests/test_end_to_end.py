"""End to end on the real Kafka broker and real chDB: events -> worker -> facts -> sink -> report.

The events are those of `tests/district2022.py` (the district 2022 figures of docs/domain.md),
produced to the events topic in time order; `dossierflow worker --event-time` (a subprocess,
memory store) derives deadlines and outcomes and publishes facts and alerts; the sink
(`dossierflow/sink_service.serve`, in-process, the code behind `dossierflow sink`) writes them
into a temporary chDB; `dossierflow report ... --format json` (a subprocess) reads the report
through the sink's HTTP endpoint. The published alerts (topic and `dossier_alerts`) must be exactly
those `dossierflow replay` gives for the same events. Nothing is mocked, except that the
ClickHouse test wraps the real chDB client so that inserts fail for a while
(`faults_harness.OutageClient`). The harness is the fault suite's (tests/faults_harness.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.district2022 import (
    COMMUNE,
    DISTRICT,
    PERIOD_FROM,
    PERIOD_TO,
    as_lines,
    expected_total,
    generate,
)
from tests.faults_harness import (
    AlertKey,
    OutageClient,
    Pipeline,
    ReportQuery,
    Reports,
    cli,
    pipeline,
    replay_alerts,
    report_json,
)
from tests.worker_process import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse, pytest.mark.timeout(600)]

SCOPES: dict[str, ReportQuery] = {
    "district": (PERIOD_FROM, PERIOD_TO, ("--level", "district")),
    "commune": (PERIOD_FROM, PERIOD_TO, ("--level", "commune")),
    "province": (PERIOD_FROM, PERIOD_TO, ()),
}


# --- the pipeline --------------------------------------------------------------------------


async def trickle_produce(run: Pipeline, lines: list[bytes], chunk: int = 100) -> None:
    """`lines` in time order, `chunk` at a time every 0.1 s: a stream that keeps coming."""
    for start in range(0, len(lines), chunk):
        await asyncio.to_thread(run.topics.produce, lines[start : start + chunk])
        await asyncio.sleep(0.1)


async def district_pipeline(
    bootstrap: str,
    tmp: Path,
    lines: list[bytes],
    alerts: dict[AlertKey, str],
    *,
    trickle: bool = False,
    kill_worker_after_facts: int | None = None,
    client_wrapper: Callable[[Any], Any] | None = None,
    communes: bool = True,
) -> tuple[Reports, dict[str, float]]:
    """Run worker and sink on fresh topics and store until every event of `lines` is in
    the report; check that the published alerts are `alerts` (replay's); the reports and
    timings (without the communes' report when the history has none: it is refused, saying
    where the dossiers are). The events are produced up front (history already in Kafka, as
    in a backfill), or with `trickle` in chunks while the pipeline runs."""
    timings: dict[str, float] = {}
    started = time.monotonic()
    run = Pipeline(bootstrap, tmp)
    producing: asyncio.Task[None] | None = None
    if not trickle:
        await asyncio.to_thread(run.topics.produce, lines)
        timings["produce"] = time.monotonic() - started
    async with pipeline(run, client_wrapper) as sink:
        try:
            if trickle:
                producing = asyncio.create_task(trickle_produce(run, lines))
            if kill_worker_after_facts is not None:
                await run.facts_reach(kill_worker_after_facts)
                run.kill_worker()
                timings["killed_at"] = time.monotonic() - started
                committed = await asyncio.to_thread(run.committed)
                assert committed is not None
                assert sum(committed.values()) < len(lines), (
                    "the kill came too late to interrupt anything"
                )
                run.start_worker()
            if producing is not None:
                await producing
            killed = kill_worker_after_facts is not None
            await run.settle(sink, timeout=150 if killed else 400)
        finally:
            if producing is not None and not producing.done():
                producing.cancel()
        timings["pipeline"] = time.monotonic() - started
        timings["worker_restarts"] = run.restarts
        await asyncio.to_thread(run.check_alerts, alerts)
        scopes = {k: v for k, v in SCOPES.items() if communes or k != "commune"}
        result = await asyncio.to_thread(report_json, run.store_url, run.sink_url, scopes)
        timings["report"] = time.monotonic() - started - timings["pipeline"]
    return result, timings


# --- the expected figures ----------------------------------------------------------------


def check_district_2022(reports: Reports, *, communes: bool = True) -> None:
    district = reports["district"]
    assert district["period"] == {"from": PERIOD_FROM, "to": PERIOD_TO}
    assert [r["unit_code"] for r in district["rows"]] == ["H-01"]
    total = district["total"]
    assert {k: total[k] for k in expected_total(DISTRICT)} == expected_total(DISTRICT)
    # docs/domain.md verbatim: 1,396 received; 1,332 early, 3 on time, 56 overdue, 5 in progress.
    assert (total["received"], total["resolved_early"], total["resolved_on_time"]) == (
        1_396, 1_332, 3,
    )
    assert (total["resolved_overdue"], total["in_progress"]) == (56, 5)
    assert total["received_in_person"] + total["received_online"] + total[
        "received_postal"
    ] == total["received"]
    if not communes:
        assert "commune" not in reports
        return
    commune = reports["commune"]
    assert [r["unit_code"] for r in commune["rows"]] == ["X-H01-01", "X-H01-02"]
    total = commune["total"]
    assert {k: total[k] for k in expected_total(COMMUNE)} == expected_total(COMMUNE)
    # docs/domain.md verbatim: 31,125 received; 31,118 resolved, 7 in progress.
    resolved = total["resolved_early"] + total["resolved_on_time"] + total["resolved_overdue"]
    assert (total["received"], resolved, total["in_progress"]) == (31_125, 31_118, 7)
    province = reports["province"]["total"]
    assert province["received"] == 1_396 + 31_125
    assert province["in_progress"] == 5 + 7


# --- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def district_lines() -> list[bytes]:
    return as_lines(generate(communes=False))


@pytest.fixture(scope="module")
def district_alerts(
    district_lines: list[bytes], tmp_path_factory: pytest.TempPathFactory
) -> dict[AlertKey, str]:
    """`replay`'s alerts for the district level's events."""
    return replay_alerts(district_lines, tmp_path_factory.mktemp("replay"))


def test_district_2022_figures_through_kafka_worker_clickhouse_and_report(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    """All 32,521 dossiers (65,036 events) of docs/domain.md's district 2022 example through
    the whole pipeline; the report reproduces the published figures exactly, and the alerts
    are replay's."""
    lines = as_lines(generate())
    assert len(lines) == 65_036
    alerts = replay_alerts(lines, tmp_path / "replay")
    reports, timings = asyncio.run(district_pipeline(kafka_bootstrap, tmp_path, lines, alerts))
    print(f"full district 2022 run: {timings}")
    check_district_2022(reports)


@pytest.fixture(scope="module")
def uninterrupted(
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
    district_lines: list[bytes],
    district_alerts: dict[AlertKey, str],
) -> Reports:
    """The reports of an uninterrupted run on the district level's 2,789 events."""
    reports, timings = asyncio.run(
        district_pipeline(
            kafka_bootstrap, tmp_path_factory.mktemp("uninterrupted"), district_lines,
            district_alerts, communes=False,
        )
    )
    print(f"uninterrupted district run: {timings}")
    return reports


def test_district_level_2022_figures_through_kafka(uninterrupted: Reports) -> None:
    check_district_2022(uninterrupted, communes=False)


def test_worker_killed_mid_run_then_restarted_gives_the_same_report(
    kafka_bootstrap: str,
    tmp_path: Path,
    district_lines: list[bytes],
    district_alerts: dict[AlertKey, str],
    uninterrupted: Reports,
) -> None:
    """SIGKILL (no graceful stop: no final commit, no flush) while events keep coming and
    about a third of them are processed; a new worker on the same app id recovers its table
    from the changelog, re-reads from the last committed offset, and the report is exactly
    the one of an uninterrupted run."""
    reports, timings = asyncio.run(
        district_pipeline(
            kafka_bootstrap, tmp_path, district_lines, district_alerts,
            trickle=True, kill_worker_after_facts=len(district_lines) // 3, communes=False,
        )
    )
    print(f"run with a SIGKILLed worker: {timings}")
    assert reports == uninterrupted
    check_district_2022(reports, communes=False)


def test_clickhouse_unreachable_for_a_while_then_the_report_is_complete_and_exact(
    kafka_bootstrap: str,
    tmp_path: Path,
    district_lines: list[bytes],
    district_alerts: dict[AlertKey, str],
    uninterrupted: Reports,
) -> None:
    """Every insert fails like an unreachable server for 6 s, starting once a third of the
    facts are stored while events keep coming; the sink pauses, backs off, catches up."""
    outages: list[OutageClient] = []

    def down_for_a_while(client: Any) -> OutageClient:
        outages.append(OutageClient(client, after_rows=len(district_lines) // 3, seconds=6.0))
        return outages[-1]

    reports, timings = asyncio.run(
        district_pipeline(
            kafka_bootstrap, tmp_path, district_lines, district_alerts,
            trickle=True, client_wrapper=down_for_a_while, communes=False,
        )
    )
    print(f"run with ClickHouse down for 6 s: {timings}")
    (outage,) = outages
    assert outage.down_from is not None, "the outage never started"
    assert 1 <= outage.failed_inserts < 30  # retried with backoff, not in a busy loop
    assert outage.rows_after_outage > 0  # the rest landed after it
    assert reports == uninterrupted
    check_district_2022(reports, communes=False)


def test_district_2022_figures_through_replay_store(tmp_path: Path) -> None:
    """All 32,521 dossiers (65,036 events) through `dossierflow replay --store` (the same
    `ClickHouseSink` as the live sink) and `dossierflow report` on the store directly."""
    events = tmp_path / "district2022.jsonl"
    lines = as_lines(generate())
    assert len(lines) == 65_036
    events.write_bytes(b"\n".join(lines) + b"\n")
    store = f"chdb://{tmp_path / 'clickhouse'}"
    started = time.monotonic()
    done = cli("replay", str(events), "--store", store)
    assert done.returncode == 0, done.stderr
    assert "stored 65036 facts" in done.stderr
    replayed = time.monotonic() - started
    no_sink = f"http://127.0.0.1:{free_port()}"  # nothing listens: report reads the store
    result = report_json(store, no_sink, SCOPES)
    print(f"replay --store: {replayed:.1f} s, reports: {time.monotonic() - started:.1f} s")
    check_district_2022(result)
