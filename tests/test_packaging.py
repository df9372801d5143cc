"""The wheel is the product: it carries what `dossierflow kafka start` needs, and no
development tools; installed outside the checkout, the broker command works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dossierflow.kafka.local_broker import ensure_jars, free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel, and what its build printed (pip shows the build backend's output only
    with `-v`)."""
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps",
         "--wheel-dir", str(out), str(ROOT)],
        check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )
    [built] = out.glob("dossierflow-*.whl")
    return built, done.stdout


@pytest.fixture(scope="module")
def wheel(wheel_build: tuple[Path, str]) -> Path:
    return wheel_build[0]


def test_the_build_gives_a_newcomer_no_warnings_to_read(wheel_build: tuple[Path, str]) -> None:
    """Every folder of package data is declared as a package, so setuptools has nothing to
    warn about (it said "Package would be ignored" in 40 lines for each of four folders)."""
    output = wheel_build[1]
    assert "running build_py" in output, output  # the backend's output is there to check
    assert re.findall(r"\w*Warning: .*", output) == []


def test_the_wheel_ships_the_broker_files_and_no_development_tools(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("pom.xml", "server.properties", "log4j.properties"):
        assert f"dossierflow/kafka/broker/{name}" in names
    assert not [n for n in names if n.startswith(("devtools/", "tests/", "deploy/"))]
    assert "dossierflow/local_worker.py" not in names


@pytest.mark.kafka
def test_kafka_start_works_from_an_installed_wheel_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    ensure_jars()  # the user cache: the installed copy finds them there too
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)], check=True, capture_output=True, timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DOSSIERFLOW_KAFKA_HOME", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dossierflow.cli", *args], cwd=elsewhere,
                              env=env, capture_output=True, text=True, timeout=180)

    where = subprocess.run(
        [sys.executable, "-c", "import dossierflow; print(dossierflow.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )
    assert where.stdout.startswith(str(site))  # the installed copy, not the checkout
    data = tmp_path / "kafka-data"
    port = str(free_port())
    started = cli("kafka", "start", "--data-dir", str(data), "--port", port)
    try:
        assert started.returncode == 0, started.stderr
        status = cli("kafka", "status", "--data-dir", str(data))
        assert status.returncode == 0 and f"running on 127.0.0.1:{port}" in status.stdout
    finally:
        stopped = cli("kafka", "stop", "--data-dir", str(data))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert list(elsewhere.iterdir()) == []
