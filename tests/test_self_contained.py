"""The repository carries everything its tests and documents need: nothing reads a `shared`
folder beside the clone (a user's clone has none)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `../shared`, `/work/shared`, `parents[2] / "shared"`, `DOSSIERFLOW_SHARED`: every way the
# tests once found the workspace's folder beside the repository.
OUTSIDE = re.compile(r"\.\./shared|/work/shared|parents\[\d\]\s*/\s*[\"']shared[\"']|_SHARED\b")


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name]


def test_no_file_reads_a_shared_folder_beside_the_repository() -> None:
    this = Path(__file__).resolve()
    offenders = []
    for path in _repository_files():
        if path == this or not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [
            f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for number, line in enumerate(text.splitlines(), 1)
            if OUTSIDE.search(line)
        ]
    assert not offenders, "files that read outside the repository:\n" + "\n".join(offenders)


def test_the_pattern_catches_each_way_of_reaching_outside() -> None:
    for line in [
        'EXAMPLES = Path("../shared/examples/worked-examples.jsonl")',
        'SHARED = Path(__file__).resolve().parents[2] / "shared"',
        'os.environ.get("DOSSIERFLOW_SHARED")',
        "see /work/shared/DOMAIN.md",
    ]:
        assert OUTSIDE.search(line), line
    assert not OUTSIDE.search("the machine has 2 shared cores")
