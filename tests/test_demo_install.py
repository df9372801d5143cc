"""The install that `bash deploy/dev.sh demo` starts with on a fresh clone (a minute or two)
says what it does, step by step, and shows no setuptools warning a newcomer cannot act on.

Run for real: a fresh venv, `deploy/install.sh` with a lock holding the project's pinned pip
and setuptools, and a small project laid out as dossierflow is (its package under src/, a
subpackage mapped to a top-level folder), which makes setuptools warn on an editable install.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _build_tools_lock() -> str:
    """constraints.txt's entries for pip and setuptools, hashes included: the versions whose
    output a first install shows."""
    lock = (ROOT / "constraints.txt").read_text()
    entries = re.findall(r"^(?:pip|setuptools)==.*?(?=^\S|\Z)", lock, re.M | re.S)
    assert len(entries) == 2, entries
    return "".join(entries)


def _project(folder: Path) -> Path:
    for package in ("src/tiny", "extra"):
        (folder / package).mkdir(parents=True)
        (folder / package / "__init__.py").write_text("")
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tiny"\nversion = "1"\n'
        '[tool.setuptools]\npackages = ["tiny", "tiny.extra"]\n'
        '[tool.setuptools.package-dir]\n"tiny" = "src/tiny"\n"tiny.extra" = "extra"\n'
    )
    return folder


def test_the_install_names_each_step_and_hides_the_editable_warning(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    lock = tmp_path / "lock.txt"
    lock.write_text(_build_tools_lock())
    project = _project(tmp_path / "project")
    # Output to a pipe, as in CI or a log: pip is quiet there, the step lines are the progress.
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "install.sh"), str(venv), str(lock), "-e", str(project)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line.startswith("install.sh: [")]
    assert steps == [
        f"install.sh: [1/3] the packages pinned by {lock} (2, wheels checked against its "
        "sha256) …",
        f"install.sh: [2/3] the project (-e {project}), no dependencies of its own, built by "
        "the locked setuptools …",
        "install.sh: [3/3] pip check: the lock held every dependency the project declares …",
    ]
    assert re.search(r"^install\.sh: done in \d+ s$", result.stdout, re.M), result.stdout
    assert "Editable installation" not in result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stderr
    # Installed all the same: the venv imports the project from its src/ folder.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tiny; print(tiny.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert where.stdout.strip() == str(project / "src" / "tiny" / "__init__.py")
