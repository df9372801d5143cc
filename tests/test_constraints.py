"""Reproducible installs: constraints.txt pins every package `.[test]` needs, the build backend
and pip, each with the sha256 of its files; requirements-runtime.txt the product's share of
them; every install path installs from one of them with hash checking (deploy/install.sh),
and the suite runs with those versions."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


LOCKS = ("constraints.txt", "requirements-runtime.txt")


def _entries(lock: str = "constraints.txt") -> dict[str, tuple[str, list[str]]]:
    """Name -> (version, sha256 hashes) of a lock: `name==version \\` lines, each followed
    by its `--hash=sha256:...` lines (pip's requirements format, as pip-compile writes it)."""
    text = (ROOT / lock).read_text(encoding="utf-8").replace("\\\n", " ")
    entries = {}
    for line in text.splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        spec, *options = requirement.split()
        name, _, version = spec.partition("==")
        assert version, f"{lock}: {spec!r} is not an exact pin (name==version)"
        hashes = [o.removeprefix("--hash=sha256:") for o in options if o.startswith("--hash=")]
        entries[_normalized(name)] = (version, hashes)
    return entries


def _pins() -> dict[str, str]:
    return {name: version for name, (version, _) in _entries().items()}


def _names(requirements: list[str]) -> set[str]:
    return {_normalized(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]) for spec in requirements}


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirement_names() -> set[str]:
    project = _pyproject()["project"]
    return _names([*project["dependencies"], *project["optional-dependencies"]["test"]])


def test_every_requirement_of_the_project_is_pinned() -> None:
    missing = _requirement_names() - set(_pins())
    assert not missing, f"not in constraints.txt (run deploy/lock.sh): {sorted(missing)}"


def test_every_pin_of_both_locks_carries_sha256_hashes() -> None:
    for lock in LOCKS:
        entries = _entries(lock)
        assert len(entries) > 40, lock
        unhashed = [name for name, (_, hashes) in entries.items() if not hashes]
        assert unhashed == [], f"{lock}: no --hash for {unhashed} (run deploy/lock.sh)"
        for name, (_, hashes) in entries.items():
            assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{lock}: {name}"


def test_the_runtime_lock_is_the_products_share_of_the_tested_versions() -> None:
    everything, runtime = _entries(), _entries("requirements-runtime.txt")
    assert {n: e for n, e in everything.items() if n in runtime} == runtime
    assert _names(_pyproject()["project"]["dependencies"]) <= set(runtime)
    assert not {"pytest", "mypy", "ruff", "selenium", "pip-audit"} & set(runtime)


def test_the_build_backend_and_pip_are_locked_and_pyproject_asks_for_that_backend() -> None:
    (required,) = _pyproject()["build-system"]["requires"]
    name, _, version = required.partition("==")
    assert _normalized(name) == "setuptools" and version, f"pin it exactly: {required!r}"
    for lock in LOCKS:
        entries = _entries(lock)
        assert entries["setuptools"][0] == version, lock
        assert "pip" in entries, lock


def test_every_install_path_installs_from_a_lock_with_hash_checking() -> None:
    installer = (ROOT / "deploy" / "install.sh").read_text()
    (locked,) = [line for line in installer.splitlines() if '-r "$lock"' in line]
    assert "--require-hashes" in locked and "--only-binary :all:" in locked
    # The lock is complete (pip check follows): resolving the packages' own requirements let
    # an extra's range (CacheControl[filecache]>=0.13.0) pick a newer, unpinned version.
    assert "--no-deps" in locked
    (project,) = [line for line in installer.splitlines() if '"$@"' in line and "pip" in line]
    assert "--no-deps" in project and "--no-build-isolation" in project
    paths = {
        "deploy/dev.sh": "constraints.txt",
        "deploy/Dockerfile": "requirements-runtime.txt",
        "deploy/systemd/README.md": "requirements-runtime.txt",
    }
    for path, lock in paths.items():
        text = (ROOT / path).read_text()
        assert re.search(rf"bash \S*deploy/install\.sh \S+ \S*{re.escape(lock)} ", text), path
        # No other way in: any pip install outside deploy/install.sh is unchecked.
        others = re.findall(r"pip3? (?:install|wheel)[^\n]*", text)
        assert others == [], f"{path}: {others}"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "exec bash deploy/dev.sh test" in ci  # exactly the README's test command
    test_command = (ROOT / "deploy" / "dev.sh").read_text().split("  test)", 1)[1]
    assert "deploy/audit.py" in test_command.split(";;", 1)[0]  # which audits the lock


def test_the_installed_versions_are_the_pinned_ones() -> None:
    installed = {_normalized(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differing = {
        name: (installed[name], pinned)
        for name, pinned in _pins().items()
        if name in installed and installed[name] != pinned
    }
    assert not differing, (
        f"installed ≠ constraints.txt: {differing}; "
        "install with `bash deploy/dev.sh install`"
    )
