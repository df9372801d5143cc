"""The vulnerability audit CI runs (deploy/audit.py, pip-audit over the hashed lock), against a
real HTTP server speaking the OSV query API (`POST /v1/query`, https://google.github.io/osv.dev/post-v1-query/)
that pip-audit is pointed at with `--osv-url`, and against no database at all."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dossierflow.kafka.local_broker import free_port

ROOT = Path(__file__).resolve().parents[1]

# PYSEC-2018-28 (CVE-2018-18074): Requests before 2.20.0 sends the Authorization header on
# a redirect from https to http; fixed in 2.20.0 (https://osv.dev/vulnerability/PYSEC-2018-28).
REQUESTS_ADVISORY = {
    "id": "PYSEC-2018-28",
    "aliases": ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"],
    "details": "The Requests package before 2.20.0 for Python sends an HTTP Authorization "
    "header to an http URI upon receiving a same-hostname https-to-http redirect.",
    "affected": [{
        "package": {"name": "requests", "ecosystem": "PyPI"},
        "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
    }],
}
# requests 2.19.0's wheel on PyPI (its sha256 as PyPI lists it).
VULNERABLE_LOCK = """requests==2.19.0 \\
    --hash=sha256:421cfc8d9dde7d6aff68196420afd86b88c65d77d8da9cf83f4ecad785d7b9d6
"""


class OsvServer:
    """An OSV database that knows one advisory, or answers every query with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.asked: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name, version = query["package"]["name"], query["version"]
                owner.asked.append((name, version))
                known = name == "requests" and version == "2.19.0"
                body = json.dumps({"vulns": [REQUESTS_ADVISORY]} if known else {}).encode()
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/query"


@pytest.fixture
def osv() -> Iterator[OsvServer]:
    database = OsvServer()
    thread = threading.Thread(target=database.server.serve_forever, daemon=True)
    thread.start()
    yield database
    database.server.shutdown()
    database.server.server_close()


def audit(*options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "audit.py"), *options],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )


def osv_options(database: OsvServer) -> list[str]:
    return ["--vulnerability-service", "osv", "--osv-url", database.url]


def _locked_packages() -> set[tuple[str, str]]:
    text = (ROOT / "constraints.txt").read_text()
    return {
        (re.sub(r"[-_.]+", "-", name).lower(), version)
        for name, version in re.findall(r"^([A-Za-z0-9][\w.-]*)==(\S+)", text, re.MULTILINE)
    }


def test_the_audit_asks_the_database_about_every_locked_package(osv: OsvServer) -> None:
    run = audit(*osv_options(osv))
    assert run.returncode == 0, run.stdout + run.stderr
    asked = {(re.sub(r"[-_.]+", "-", name).lower(), version) for name, version in osv.asked}
    assert asked == _locked_packages()
    assert len(asked) > 80
    assert f"no known vulnerabilities in the {len(asked)} packages" in run.stdout


def test_a_known_vulnerability_with_a_fix_fails_the_audit_and_names_the_fix(
    osv: OsvServer, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(VULNERABLE_LOCK)
    run = audit("--lock", str(lock), *osv_options(osv))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "requests 2.19.0: PYSEC-2018-28 (fixed in 2.20.0)" in run.stdout
    assert "no known vulnerabilities" not in (run.stdout + run.stderr).lower()


def test_an_accepted_risk_is_ignored_by_its_id(osv: OsvServer, tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(VULNERABLE_LOCK)
    run = audit("--lock", str(lock), *osv_options(osv), "--ignore-vuln", "PYSEC-2018-28")
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_database_answering_errors_is_said_not_audited(osv: OsvServer) -> None:
    osv.status = 503
    run = audit(*osv_options(osv))
    assert run.returncode == 2
    assert "NOT AUDITED" in run.stderr
    assert "no known vulnerabilities" not in (run.stdout + run.stderr).lower()


def test_an_unreachable_pypi_is_said_not_audited() -> None:
    # The default database, PyPI's JSON API, behind a proxy nothing listens on.
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"PATH": "/usr/bin:/bin", "HTTPS_PROXY": dead, "HTTP_PROXY": dead, "NO_PROXY": "",
           "HOME": str(Path.home())}
    run = audit("--timeout", "5", env=env)
    assert run.returncode == 2
    assert "NOT AUDITED" in run.stderr
    assert "no known vulnerabilities" not in (run.stdout + run.stderr).lower()
