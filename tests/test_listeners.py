"""Every listener answers on the loopback address unless told otherwise.

Real processes (`python -m dossierflow.cli ...`) with Kafka down, so they wait for it with
their HTTP endpoints up; the address each listens on is read from the kernel's socket table
(/proc/net/tcp), not from the code under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dossierflow.kafka.local_broker import free_port
from tests.test_operations import worker_args

pytestmark = pytest.mark.timeout(120)

LISTEN = "0A"
"""TCP_LISTEN in /proc/net/tcp's state column."""


def _address(hex_address: str) -> str:
    """`0100007F` -> 127.0.0.1 (IPv4, little-endian), IPv6 as 32 hex digits."""
    if len(hex_address) == 8:
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return "::" if set(hex_address) == {"0"} else hex_address


def listening_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hex_port = local.partition(":")
                if state == LISTEN and int(hex_port, 16) == port:
                    found.add(_address(address))
    return found


@contextmanager
def running(
    args: list[str], port: int, env: dict[str, str] | None = None
) -> Iterator[set[str]]:
    """The process of `args`, Kafka down, until `port` listens; the addresses it listens on."""
    env = {**os.environ, "DOSSIERFLOW_STARTUP_WAIT": "0", **(env or {})}
    process = subprocess.Popen(
        [sys.executable, "-m", "dossierflow.cli", *args], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        addresses: set[str] = set()
        for _ in range(600):
            addresses = listening_addresses(port)
            if addresses or process.poll() is not None:
                break
            time.sleep(0.1)
        assert addresses, process.communicate()[1] if process.poll() is not None else "none"
        yield addresses
    finally:
        process.terminate()
        process.wait(30)


def sink_args(tmp_path: Path, port: int) -> list[str]:
    return ["sink", "--bootstrap", f"127.0.0.1:{free_port()}", "--http-port", str(port),
            "--store", f"chdb://{tmp_path / 'ch'}"]


def test_the_worker_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    port = free_port()
    with running(worker_args(tmp_path, f"127.0.0.1:{free_port()}", port), port) as addresses:
        assert addresses == {"127.0.0.1"}


def test_the_worker_listens_where_it_is_told(tmp_path: Path) -> None:
    port = free_port()
    args = worker_args(tmp_path, f"127.0.0.1:{free_port()}", port)
    with running([*args, "--metrics-host", "127.0.0.2"], port) as addresses:
        assert addresses == {"127.0.0.2"}


@pytest.mark.clickhouse
def test_the_sink_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    port = free_port()
    with running(sink_args(tmp_path, port), port) as addresses:
        assert addresses == {"127.0.0.1"}


@pytest.mark.clickhouse
def test_the_sink_listens_where_its_variable_says(tmp_path: Path) -> None:
    port = free_port()
    env = {"DOSSIERFLOW_SINK_HTTP_HOST": "127.0.0.3"}
    with running(sink_args(tmp_path, port), port, env) as addresses:
        assert addresses == {"127.0.0.3"}
