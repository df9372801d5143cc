"""The layers of the package, read from the source's imports (static, nothing is run):

- the rules (`rules/`) and the contracts (`schemas/`) are pure: they import the standard
  library, each other (the rules the contracts, never the reverse), `dossierflow.errors` (the
  error base every layer shares) and the few pure libraries listed below, never Faust, Kafka,
  ClickHouse or HTTP;
- the sinks do not import reporting: reports read the store, sinks write it, and the sink
  process that serves both is `dossierflow.sink_service`;
- nothing below the command line (`dossierflow.cli`, `dossierflow.commands`) imports it.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PURE_LIBRARIES = {"holidays", "msgspec", "yaml", "dateutil"}
"""Third-party imports the rules and contracts may use: data and calendars, no I/O."""


def source_modules() -> dict[str, Path]:
    """Every module of the package by its dotted name, from pyproject's package-dir map."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_dir: dict[str, str] = mapping["tool"]["setuptools"]["package-dir"]
    modules: dict[str, Path] = {}
    for package, folder in sorted(package_dir.items(), key=lambda item: len(item[0])):
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in relative.parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """The absolute names `path` imports, with their line (relative imports are not used)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, node.lineno


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


MODULES = source_modules()


def layer_violations(module: str, imported: str) -> str | None:
    """Why `module` may not import `imported`, or None."""
    top = imported.split(".")[0]
    if within(module, "dossierflow.rules", "dossierflow.schemas"):
        allowed: tuple[str, ...] = ("dossierflow.schemas", "dossierflow.errors")
        if within(module, "dossierflow.rules"):
            allowed += ("dossierflow.rules",)
        if top == "dossierflow":
            return None if within(imported, *allowed) else "the rules import only the contracts"
        if top not in sys.stdlib_module_names and top not in PURE_LIBRARIES:
            return f"{top} is not a pure library (PURE_LIBRARIES)"
    if within(module, "dossierflow.sinks") and within(imported, "dossierflow.reporting"):
        return "sinks do not import reporting"
    if not within(module, "dossierflow.cli", "dossierflow.commands") and within(
        imported, "dossierflow.cli", "dossierflow.commands"
    ):
        return "nothing below the command line imports it"
    return None


def test_the_layers_hold() -> None:
    broken = [
        f"{MODULES[module].relative_to(ROOT)}:{line}: {imported}: {why}"
        for module in sorted(MODULES)
        for imported, line in imports_of(MODULES[module])
        if (why := layer_violations(module, imported))
    ]
    assert not broken, "\n".join(broken)


def test_the_package_map_finds_every_layer() -> None:
    for package in ("rules", "schemas", "sinks", "streams", "reporting", "commands", "notify"):
        assert any(within(m, f"dossierflow.{package}") for m in MODULES), package


@pytest.mark.parametrize(
    ("module", "imported", "why"),
    [
        ("dossierflow.rules.alerts", "faust", "faust is not a pure library (PURE_LIBRARIES)"),
        ("dossierflow.rules.alerts", "dossierflow.store", "the rules import only the contracts"),
        ("dossierflow.schemas.event", "dossierflow.rules.calendar",
         "the rules import only the contracts"),
        ("dossierflow.sinks.clickhouse", "dossierflow.reporting.queries",
         "sinks do not import reporting"),
        ("dossierflow.store", "dossierflow.commands.options",
         "nothing below the command line imports it"),
    ],
)
def test_a_broken_layer_is_named(module: str, imported: str, why: str) -> None:
    assert layer_violations(module, imported) == why


def test_allowed_imports_pass() -> None:
    assert layer_violations("dossierflow.rules.alerts", "dossierflow.schemas.event") is None
    assert layer_violations("dossierflow.rules.calendar", "holidays") is None
    assert layer_violations("dossierflow.commands.sink", "dossierflow.sink_service") is None
