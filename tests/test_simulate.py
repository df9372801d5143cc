"""Profiles of `dossierflow simulate`: shipped ones load, bad ones are refused with the file
and the field named, and each knob moves the history the way its name says."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from dossierflow.cli import main
from dossierflow.simulate import (
    DEFAULT_PROFILE,
    Profile,
    ProfileError,
    generate_events,
    load_profile,
    parse_profile,
    profile_start,
    shipped_profiles,
)

TODAY = date(2026, 6, 1)
DISTRICT_LEVEL = {"H-01", "X-H01-01", "X-H01-02"}  # dissolved on 30/6/2025


def _events(
    profile: Profile, seed: int = 1, days: int | None = None
) -> list[dict[str, Any]]:
    return list(
        generate_events(
            None, seed, start=profile_start(profile), days=days or profile.days,
            today=TODAY, profile=profile,
        )
    )


def test_every_shipped_profile_loads() -> None:
    assert {"province-small", "province-2024"} <= set(shipped_profiles())
    for name in shipped_profiles():
        assert load_profile(name).description


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("shares:\n  resolved: 1.5\n", "$.shares.resolved", "<= 1"),
        ("channels:\n  online: -0.1\n", "$.channels.online", ">= 0"),
        ("channels:\n  online: 0.8\n  postal: 0.3\n", "$.channels", "online + postal"),
        ("shares:\n  resolved: 0.9\n  withdrawn: 0.2\n", "$.shares", "resolved + withdrawn"),
        ("arrivals:\n  weekdays: {mon: 1, fry: 2}\n", "$.arrivals.weekdays", "'fry'"),
        ("arrivals:\n  hours: {6: 1}\n", "$.arrivals.hours", "hour 6"),
        ("shares:\n  late_resolutions: 0.1\n", "$.shares", "late_resolutions"),
        ("days: soon\n", "$.days", "Expected `int`"),
        ("start: 2026-02-30\n", "", "day is out of range"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, text: str, field: str, problem: str
) -> None:
    path = tmp_path / "tinh.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as error:
        load_profile(str(path))
    message = str(error.value)
    assert message.startswith(f"{path}: ")
    assert field in message and problem in message


def test_the_command_says_what_is_wrong_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tinh.yaml"
    path.write_text("shares:\n  stopped: 2\n")
    assert main(["simulate", "--profile", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("dossierflow simulate: ") and "$.shares.stopped" in line
    assert main(["simulate", "--profile", "no-such-province"]) == 2
    assert "province-small" in capsys.readouterr().err  # names what exists
    path.write_text("shares: {stopped: 0.1\n")  # not YAML: its place on the one line
    assert main(["simulate", "--profile", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"dossierflow simulate: {path}: ") and "line 2, column 1" in line


def test_the_same_profile_and_seed_give_the_same_file(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b", "c"):
        out = tmp_path / f"{name}.jsonl"
        seed = "2" if name == "c" else "1"
        argv = ["simulate", "--profile", "province-small", "--seed", seed,
                "--today", TODAY.isoformat(), "--days", "14", "--out", str(out)]
        assert main(argv) == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]


def test_dates_are_read_as_report_reads_them_and_success_says_what_was_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = []
    for start, today in (("2026-03-02", "2026-06-01"), ("02/03/2026", "1/6/2026")):
        out = tmp_path / f"{start.replace('/', '-')}.jsonl"
        argv = ["simulate", "--start", start, "--today", today, "--days", "5", "--out", str(out)]
        assert main(argv) == 0
        lines = out.read_bytes().splitlines()
        assert capsys.readouterr().err == (
            f"simulate: {len(lines)} events of profile 'province-small' from 02/03/2026, "
            f"5 days, to {out}\n"
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] and outputs[0]
    with pytest.raises(SystemExit) as usage:
        main(["simulate", "--start", "31/02/2026", "--out", str(tmp_path / "x.jsonl")])
    assert usage.value.code == 2
    assert "--start: '31/02/2026': not a date; write YYYY-MM-DD or dd/mm/yyyy" in (
        capsys.readouterr().err
    )


def test_the_historical_profile_with_a_count_starts_on_the_start_given(tmp_path: Path) -> None:
    common = ["--seed", "3", "--start", "2026-02-02", "--days", "20", "--today", TODAY.isoformat()]
    out = tmp_path / "events.jsonl"
    argv = ["simulate", "--profile", "historical", "--count", "1000", *common, "--out", str(out)]
    assert main(argv) == 0
    events = [json.loads(line) for line in out.read_bytes().splitlines()]
    assert len(events) == 1000
    received = [e["occurred_at"] for e in events if e["type"] == "RECEIVED"]
    assert min(received) >= "2026-02-02"  # --start, not the profile's 5 January


def test_volume_follows_dossiers_per_working_day() -> None:
    # 2026-03-02..2026-03-15: ten working days (no holiday in the sample calendar then).
    profile = parse_profile(b"start: 2026-03-02\ndays: 14\ndossiers_per_working_day: 25\n", "t")
    received = {e["dossier_id"] for e in _events(profile) if e["type"] in ("SUBMITTED", "RECEIVED")}
    assert len(received) == 250


def test_weekday_and_hour_weights_shape_the_arrivals() -> None:
    profile = parse_profile(
        b"start: 2026-03-02\ndays: 28\ndossiers_per_working_day: 50\n"
        b"channels: {online: 0, postal: 0}\n"
        b"arrivals: {weekdays: {mon: 4, tue: 1, wed: 1, thu: 1, fri: 0}, hours: {8: 1, 14: 3}}\n",
        "t",
    )
    received = [
        datetime.fromisoformat(e["occurred_at"]) for e in _events(profile)
        if e["type"] == "RECEIVED"
    ]
    by_day = Counter(at.strftime("%a") for at in received)
    assert by_day["Fri"] == 0
    assert by_day["Mon"] > 3 * by_day["Tue"] * 0.8  # weight 4 against 1
    assert {at.hour for at in received} == {8, 14}
    assert sum(at.hour == 14 for at in received) > 2 * sum(at.hour == 8 for at in received)


def _share_of_received_with(events: list[dict[str, Any]], event_type: str) -> float:
    received = {e["dossier_id"] for e in events if e["type"] == "RECEIVED"}
    having = {e["dossier_id"] for e in events if e["type"] == event_type}
    return len(having & received) / len(received)


@pytest.mark.parametrize(
    ("shares", "event_type"),
    [
        ("supplement: {}", "SUPPLEMENT_REQUESTED"),
        ("financial_obligation: {}", "FINANCIAL_OBLIGATION_REQUESTED"),
        ("apology: {}", "APOLOGY_ISSUED"),
        ("withdrawn: {}, resolved: 0.3", "WITHDRAWN"),
    ],
)
def test_each_step_share_is_the_share_of_dossiers_that_take_that_step(
    shares: str, event_type: str
) -> None:
    # Every paused dossier resumes, so each step is reached by every received dossier.
    base = ("start: 2026-03-02\ndays: 28\ndossiers_per_working_day: 40\n"
            "shares: {resumed: 1, %s}\n")
    never = _events(parse_profile((base % shares.format(0)).encode(), "t"))
    assert _share_of_received_with(never, event_type) == 0
    half = _events(parse_profile((base % shares.format(0.5)).encode(), "t"))
    assert 0.44 < _share_of_received_with(half, event_type) < 0.56


def test_channel_shares_set_how_dossiers_arrive() -> None:
    profile = parse_profile(
        b"start: 2026-03-02\ndays: 28\ndossiers_per_working_day: 40\n"
        b"channels: {online: 0.7, postal: 0.2, online_full: 0.25}\n"
        b"shares: {not_accepted: 0.5}\n",
        "t",
    )
    events = _events(profile)
    submitted = {e["dossier_id"] for e in events if e["type"] == "SUBMITTED"}
    refused = {e["dossier_id"] for e in events if e["type"] == "NOT_ACCEPTED"}
    received = list({e["dossier_id"]: e for e in events if e["type"] == "RECEIVED"}.values())
    dossiers = len(received) + len(refused)
    assert 0.64 < len(submitted) / dossiers < 0.76  # every online filing is submitted first
    assert 0.44 < len(refused) / len(submitted) < 0.56
    channels = Counter(e["channel"] for e in received)
    assert 0.15 < channels["POSTAL"] / dossiers < 0.25
    assert 0.07 < channels["IN_PERSON"] / dossiers < 0.13
    online = [e for e in received if e["channel"] == "ONLINE"]
    assert 0.19 < sum(e["online_level"] == "FULL" for e in online) / len(online) < 0.31


def _resolution_days(events: list[dict[str, Any]]) -> list[float]:
    received = {e["dossier_id"]: e["occurred_at"] for e in events if e["type"] == "RECEIVED"}
    return [
        (datetime.fromisoformat(e["occurred_at"])
         - datetime.fromisoformat(received[e["dossier_id"]])).total_seconds() / 86400
        for e in events if e["type"] == "RESOLVED" and e["dossier_id"] in received
    ]


def test_late_resolution_share_resolves_that_share_weeks_later() -> None:
    base = b"start: 2026-01-05\ndays: 60\ndossiers_per_working_day: 20\n"
    on_time = _resolution_days(_events(parse_profile(base, "t")))
    late = _resolution_days(_events(parse_profile(base + b"shares: {late_resolution: 0.3}\n", "t")))
    # Without the knob no dossier takes 30 days (at most 9 days per step, few steps).
    assert not any(days >= 30 for days in on_time)
    share = sum(days >= 30 for days in late) / len(late)
    assert 0.25 < share < 0.35


def test_steps_share_reports_that_share_of_resolved_dossiers_step_by_step() -> None:
    base = b"start: 2026-03-02\ndays: 28\ndossiers_per_working_day: 20\n"
    assert not any(e["type"].startswith("STEP_") for e in _events(parse_profile(base, "t")))
    events = _events(parse_profile(base + b"shares: {steps: 0.5}\n", "t"))
    by_dossier: dict[str, list[dict[str, Any]]] = {}
    for event in {e["event_id"]: e for e in events}.values():
        by_dossier.setdefault(event["dossier_id"], []).append(event)
    resolved = [h for h in by_dossier.values() if any(e["type"] == "RESOLVED" for e in h)]
    stepped = [h for h in resolved if any(e["type"] == "STEP_STARTED" for e in h)]
    assert 0.4 < len(stepped) / len(resolved) < 0.6
    late = 0
    for history in stepped:
        at = {e["type"]: e["occurred_at"] for e in history if not e["type"].startswith("STEP_")}
        steps = sorted((e for e in history if e["type"].startswith("STEP_")),
                       key=lambda e: e["occurred_at"])
        # Started, completed, started, ...: 2 or 3 steps, each handed on before the next
        # begins, all between reception and resolution, at distinct instants.
        assert [e["type"] for e in steps] == ["STEP_STARTED", "STEP_COMPLETED"] * (len(steps) // 2)
        assert len(steps) in (4, 6)
        instants = [datetime.fromisoformat(e["occurred_at"]) for e in steps]
        assert len(set(instants)) == len(instants)
        assert datetime.fromisoformat(at["RECEIVED"]) < instants[0]
        assert instants[-1] < datetime.fromisoformat(at["RESOLVED"])
        for start, end in zip(steps[::2], steps[1::2], strict=True):
            assert start["step_id"] == end["step_id"] and start["step_unit_code"]
            due = datetime.fromisoformat(start["step_due_at"])
            assert due > datetime.fromisoformat(start["occurred_at"])
            late += datetime.fromisoformat(end["occurred_at"]) > due
    assert late > 10  # some steps overrun, so a delay has a unit that caused it


def test_the_2024_profile_keeps_the_district_level_until_its_dissolution() -> None:
    profile = load_profile("province-2024")
    events = _events(profile, days=400)
    units = Counter(
        (e["unit_code"] in DISTRICT_LEVEL, datetime.fromisoformat(e["occurred_at"]).date()
         >= date(2025, 7, 1))
        for e in events if e["type"] == "RECEIVED"
    )
    assert units[(True, False)] > 0  # districts and their communes received before
    assert units[(True, True)] == 0  # and nothing after 30/6/2025
    assert units[(False, True)] > 0


def test_the_default_profile_is_the_generators_historical_one() -> None:
    assert load_profile(str(Path(__file__).parent / "fixtures" / "profile-empty.yaml")) \
        == DEFAULT_PROFILE


@pytest.mark.kafka
def test_produce_publishes_the_same_events_keyed_by_dossier(
    tmp_path: Path, kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    from kafka import KafkaConsumer

    topic = topic_factory(partitions=2)
    common = ["simulate", "--profile", "province-small", "--seed", "4", "--days", "7",
              "--today", TODAY.isoformat()]
    out = tmp_path / "events.jsonl"
    assert main([*common, "--out", str(out)]) == 0
    assert main([*common, "--produce", "--rate", "2000", "--bootstrap", kafka_bootstrap,
                 "--topic", topic]) == 0
    expected = [json.loads(line) for line in out.read_text().splitlines()]
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap,
                             auto_offset_reset="earliest", consumer_timeout_ms=10_000)
    try:
        records = list(consumer)
    finally:
        consumer.close()
    assert all(r.key.decode() == json.loads(r.value)["dossier_id"] for r in records)
    assert sorted(r.value for r in records) == sorted(
        json.dumps(e, ensure_ascii=False, separators=(",", ":")).encode() for e in expected
    )
