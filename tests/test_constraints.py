"""Reproducible installs: constraints.txt pins every package `.[test]` needs, and the suite
runs with those versions (deploy/dev.sh and so CI install with `-c constraints.txt`)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            pins[_normalized(name)] = version.strip()
    return pins


def _requirement_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    return {_normalized(re.split(r"[\s<>=!~;\[]", spec, maxsplit=1)[0]) for spec in requirements}


def test_every_requirement_of_the_project_is_pinned() -> None:
    missing = _requirement_names() - set(_pins())
    assert not missing, f"not in constraints.txt (run deploy/lock.sh): {sorted(missing)}"


def test_the_installed_versions_are_the_pinned_ones() -> None:
    installed = {_normalized(d.metadata["Name"]): d.version for d in metadata.distributions()}
    differing = {
        name: (installed[name], pinned)
        for name, pinned in _pins().items()
        if name in installed and installed[name] != pinned
    }
    assert not differing, (
        f"installed ≠ constraints.txt: {differing}; "
        'install with `pip install -c constraints.txt -e ".[test]"`'
    )
