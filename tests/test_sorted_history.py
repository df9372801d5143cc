"""A history sorted by dossier on disk (src/dossierflow/sorted_history.py) gives `golive` what
the whole history in memory gave it: the same facts and alerts in the same order (so the same
batches), the same records for the worker, the same lines and events reported."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from dossierflow.backfill import output_records
from dossierflow.golive import Seeding
from dossierflow.replay import read_events, replay, replay_histories
from dossierflow.rules.catalog import load_catalog
from dossierflow.rules.evaluation import Evaluation
from dossierflow.schemas.event import DossierEvent
from dossierflow.schemas.facts import DossierAlert, DossierFact
from dossierflow.simulate import generate_lines
from dossierflow.sorted_history import spill
from dossierflow.streams.processor import DossierProcessor


def _history(path: Path) -> datetime:
    """A simulated history, shuffled so that each dossier's events are spread over the file
    (some out of time order), with bad lines, a blank one and a last line without its newline;
    the cut-over two thirds into it, so that later events and dossiers are left out."""
    lines = list(generate_lines(3000, seed=7))
    instants = sorted(datetime.fromisoformat(json.loads(line)["occurred_at"]) for line in lines)
    random.Random(7).shuffle(lines)
    lines[10:10] = [b"not json\n", b"\n", b'{"schema_version": 1, "dossier_id": "X"}\n']
    path.write_bytes(b"".join(lines).rstrip(b"\n"))
    return instants[len(instants) * 2 // 3]


def _outputs(
    evaluations: list[Evaluation], clock: datetime
) -> tuple[list[DossierFact | DossierAlert], Seeding]:
    catalog = load_catalog()
    seeding = Seeding(DossierProcessor(catalog), clock, partitions=4)
    records = list(output_records(seeding.passing(evaluations), catalog))
    return records, seeding


def test_the_history_sorted_on_disk_gives_golive_the_same_outputs_as_in_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.jsonl"
    clock = _history(path)
    catalog = load_catalog()
    bad: dict[str, list[tuple[int, str]]] = {"memory": [], "disk": []}
    failed: dict[str, list[tuple[str, str]]] = {"memory": [], "disk": []}

    def failing(way: str) -> Callable[[DossierEvent, str], None]:
        return lambda event, reason: failed[way].append((event.event_id, reason))

    in_memory = read_events(path, lambda *line: bad["memory"].append(line), progress=False)
    expected = list(replay(in_memory, catalog, clock, failing("memory")))

    (tmp_path / "runs").mkdir()
    on_disk = spill(path, tmp_path / "runs", lambda *line: bad["disk"].append(line),
                    run_bytes=16_000)
    assert len(on_disk.runs) > 10  # many runs, each dossier's events spread over several
    got = list(replay_histories(on_disk.histories(), on_disk.latest, catalog, clock,
                                failing("disk")))

    assert [number for number, _reason in bad["disk"]] == [11, 13]  # line 12 is blank
    assert bad["disk"] == bad["memory"]
    assert failed["disk"] == failed["memory"]
    assert (on_disk.count, on_disk.latest, on_disk.dossiers) == (
        in_memory.count, in_memory.latest, len(in_memory.by_dossier))
    assert len(got) < len(in_memory.by_dossier)  # dossiers received after the cut-over left out
    facts_alerts, seeded = _outputs(got, clock)
    expected_facts_alerts, expected_seeded = _outputs(expected, clock)
    assert facts_alerts == expected_facts_alerts
    assert seeded.records == expected_seeded.records and seeded.records
    assert seeded.alerts_marked == expected_seeded.alerts_marked > 0


def test_a_dossiers_events_come_in_file_order_across_runs(tmp_path: Path) -> None:
    """Three events of one dossier, each in its own run, the file's order not the time's."""
    lines = [json.loads(line) for line in generate_lines(400, seed=3)]
    dossier = lines[0]["dossier_id"]
    mine = [line for line in lines if line["dossier_id"] == dossier][:3]
    assert len(mine) == 3
    order = [mine[2], mine[0], mine[1]]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in order))
    on_disk = spill(path, tmp_path, lambda *_: None, run_bytes=1)
    assert len(on_disk.runs) == 3
    [(dossier_id, events)] = list(on_disk.histories())
    assert dossier_id == dossier
    assert [event.event_id for event in events] == [line["event_id"] for line in order]
    assert all(isinstance(event, DossierEvent) for event in events)


def test_golive_refuses_a_sort_dir_that_is_not_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(next(generate_lines(1, seed=1)))
    done = subprocess.run(
        [sys.executable, "-m", "dossierflow.cli", "golive", str(path), "--store",
         f"chdb://{tmp_path / 'store'}", "--sort-dir", str(tmp_path / "missing")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert f"--sort-dir {tmp_path / 'missing'}: not a folder" in done.stderr
