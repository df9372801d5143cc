"""Run Debian's promtool (installed by deploy/install_prometheus.sh) from the tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`promtool ARGS`; fails the test with promtool's own output when it does."""
    executable = shutil.which("promtool")
    assert executable, "promtool is not installed: run `bash deploy/install_prometheus.sh`"
    result = subprocess.run(
        [executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (
        f"promtool {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


PROMETHEUS_OWN = frozenset({"up", "ALERTS", "process_start_time_seconds"})
"""Series Prometheus makes itself, or every prometheus-client process exports."""
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series_names() -> frozenset[str]:
    """Names of the series the worker, the sink, the notifier and the intake export."""
    import importlib

    from prometheus_client import REGISTRY

    names = set(PROMETHEUS_OWN)
    modules = ["dossierflow.streams.metrics", "dossierflow.sinks.metrics",
               "dossierflow.notify.metrics", "dossierflow.intake.metrics"]
    for module in modules:
        importlib.import_module(module)
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return frozenset(names)


def series_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (ours, Prometheus' and the process')."""
    return set(re.findall(r"\b(dossierflow_\w+|process_\w+|up|ALERTS)\b(?=\s*[{\[)]|\s*$)", expr))
