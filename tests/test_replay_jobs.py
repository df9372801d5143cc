"""`dossierflow replay --jobs N` writes the bytes of one process: stdout, stderr, exit code."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from dossierflow import replay_jobs
from dossierflow.replay import Share, read_events
from dossierflow.rules.catalog import load_catalog
from tests.fixtures import WORKED_EXAMPLES, WORKED_EXAMPLES_EXPECTED
from tests.test_replay import BARE_RECEIVED as RECEIVED  # the catalogue's processing time
from tests.test_replay import MARCH_2026_ONLY, line, replay


def same_in_one_and_three_processes(*args: str | Path) -> subprocess.CompletedProcess[str]:
    one, three = replay(*args, "--jobs", "1"), replay(*args, "--jobs", "3")
    assert one.stdout and one.stdout == three.stdout
    assert one.stderr == three.stderr
    assert one.returncode == three.returncode
    return one


def test_worked_examples_in_three_processes_are_the_expected_file() -> None:
    result = same_in_one_and_three_processes(WORKED_EXAMPLES, "--as-of", "2026-09-01")
    assert result.returncode == 0, result.stderr
    assert result.stdout == WORKED_EXAMPLES_EXPECTED.read_text(encoding="utf-8")


def simulated(path: Path, count: int) -> list[bytes]:
    subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "simulate", "--profile", "province-2024",
         "--count", str(count), "--seed", "3", "--today", "2026-12-01", "--out", str(path)],
        check=True, capture_output=True, timeout=120,
    )
    return path.read_bytes().splitlines()


def test_a_simulated_history_with_malformed_lines_in_three_processes(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    lines = simulated(events, 3000)
    some = json.loads(lines[10])
    escaped = json.dumps({**json.loads(lines[20]), "event_id": "ESCAPED"}).replace(
        '"dossier_id": "H', '"dossier_id": "\\u0048'
    )  # its dossier's other events, routed by the same dossier_id once unescaped
    assert "\\u0048" in escaped
    bad = {
        5: b"not json",
        40: b"\xff\xfe not UTF-8",
        41: b'{"schema_version": 1, "type": "RECEIVED"}',  # no dossier_id: no route
        77: json.dumps({**some, "dossier_id": 5}).encode(),
        120: json.dumps({**some, "event_id": "X1", "type": "TELEPORTED"}).encode(),
        121: json.dumps({**some, "event_id": "X2", "occurred_at": "9999-01-01T00:00:00Z"}).encode(),
        300: json.dumps({**some, "event_id": "X3", "x": "y" * 70_000}).encode(),  # oversized
        301: (json.dumps({**some, "event_id": "X4"})[:-1] + ', "x": ' + "[" * 1000
              + "]" * 1000 + "}").encode(),
    }
    for number in sorted(bad):
        lines.insert(number - 1, bad[number])
    lines.insert(500, b"")
    lines.insert(600, escaped.encode())
    lines.append(line("V1", "RECEIVED", "2025-01-02T08:00:00+07:00", dossier="HỒ-SƠ-1",
                      **RECEIVED).encode())
    events.write_bytes(b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n")

    result = same_in_one_and_three_processes(events)
    assert result.returncode == 3
    skipped = [e for e in result.stderr.splitlines() if e.startswith(f"{events}:")]
    assert [int(e.split(":")[1]) for e in skipped] == sorted(bad)  # each once, in line order
    assert result.stderr.splitlines()[-1].startswith(
        "dossierflow replay: skipped 8 malformed lines and 0 events the rules failed on"
    )
    dossiers = [json.loads(row)["dossier_id"] for row in result.stdout.splitlines()]
    assert dossiers == sorted(dossiers) and len(dossiers) == len(set(dossiers))
    assert '"dossier_id": "HỒ-SƠ-1"' in result.stdout


def test_events_the_rules_fail_on_are_reported_as_one_process_does(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(MARCH_2026_ONLY)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(
        event
        for n in range(12)
        for event in (
            line(f"E{n}", "RECEIVED", "2026-03-02T08:00:00+07:00", dossier=f"D{n}", **RECEIVED,
                 processing_time={"value": 1, "unit": "working_days"}),
            line(f"F{n}", "RECEIVED", "2045-03-02T09:00:00+07:00", dossier=f"L{n}", **RECEIVED),
        )
    ) + "\n")
    result = same_in_one_and_three_processes(
        events, "--catalog", catalog, "--as-of", "2045-03-03T00:00:00+07:00"
    )
    assert result.returncode == 3
    failed = [e.split(" of dossier ")[1].split(":")[0] for e in result.stderr.splitlines()[:-1]]
    assert failed == sorted(f"L{n}" for n in range(12))


def test_a_pipe_is_replayed_whole_in_one_process() -> None:
    """Three processes opening /dev/stdin would each read a part of the pipe."""
    piped = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "replay", "/dev/stdin", "--jobs", "3",
         "--as-of", "2026-09-01"],
        input=WORKED_EXAMPLES.read_text(encoding="utf-8"), capture_output=True, text=True,
        encoding="utf-8", timeout=120, check=False,
    )
    assert (piped.returncode, piped.stderr) == (0, "")
    assert piped.stdout == WORKED_EXAMPLES_EXPECTED.read_text(encoding="utf-8")


def test_a_file_of_bad_lines_only_ends_the_same_in_three_processes(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"not json\n\n{}\n" + line("E1", "RESOLVED", "2026-03-02").encode())
    one, three = replay(events, "--jobs", "1"), replay(events, "--jobs", "3")
    assert (one.returncode, one.stdout) == (three.returncode, three.stdout) == (3, "")
    assert one.stderr == three.stderr
    assert one.stderr.splitlines()[-2:] == [
        "dossierflow replay: no valid events",
        "dossierflow replay: skipped 3 malformed lines and 0 events the rules failed on "
        "(listed above); replayed 0 events",
    ]


def test_a_share_reads_the_bytes_the_file_had_when_the_replay_began(tmp_path: Path) -> None:
    """Each process opens the file itself: one appended to meanwhile must not give a process
    more lines than the others."""
    first = line("E1", "RECEIVED", "2026-03-02T08:00:00+07:00", **RECEIVED) + "\n"
    events = tmp_path / "events.jsonl"
    events.write_text(first + line("E2", "RESOLVED", "2026-03-02T16:00:00+07:00") + "\n")
    read = read_events(events, lambda _n, _why: None, Share(0, 1, len(first)), progress=False)
    assert (read.count, read.bad_lines) == (1, [])
    whole = read_events(events, lambda _n, _why: None, Share(0, 1), progress=False)
    assert whole.count == 2


def test_a_share_that_fails_raises_its_traceback_and_leaves_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fails(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("a bug in one share")

    monkeypatch.setattr(replay_jobs, "replay_share", fails)  # the forked shares inherit it
    with pytest.raises(RuntimeError, match="replay job 1 of 3 failed") as raised:
        replay_jobs.replay_file(WORKED_EXAMPLES, load_catalog(), None, 3)
    assert "ZeroDivisionError: a bug in one share" in "".join(raised.value.__notes__)
    assert multiprocessing.active_children() == []


def test_jobs_must_be_a_whole_number_of_one_or_more() -> None:
    refused = replay(WORKED_EXAMPLES, "--jobs", "0")
    assert refused.returncode == 2 and "--jobs" in refused.stderr


def test_each_output_line_is_what_json_dumps_writes_for_it(tmp_path: Path) -> None:
    """The rows are written from a template (replay.summary_line); `json.dumps(row,
    ensure_ascii=False)` is the format, quotes, backslashes and Vietnamese included."""
    events = tmp_path / "events.jsonl"
    lines = simulated(events, 2000)
    odd = {**RECEIVED, "unit_code": 'UBND "Phường" Bến\\Thành', "procedure_code": "9.9/ĐỎ"}
    lines.append(line("Q1", "RECEIVED", "2025-01-02T08:00:00+07:00", dossier='HS"1\\2',
                      **odd).encode())
    events.write_bytes(b"\n".join(lines) + b"\n")
    result = replay(events, "--jobs", "2")
    assert result.returncode == 0, result.stderr
    written = result.stdout.splitlines(keepends=True)
    assert len(written) > 100
    assert any("procedure_unknown" in row for row in written)
    assert any('"outcome": "OVERDUE"' in row and '"alerts": [{' in row for row in written)
    for row in written:
        assert row == json.dumps(json.loads(row), ensure_ascii=False) + "\n"
    assert json.loads(written[0])["unit_code"] == 'UBND "Phường" Bến\\Thành'
