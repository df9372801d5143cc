"""The shipped reverse proxy (deploy/nginx/dossierflow.conf) in front of a real sink.

Debian's nginx (deploy/install_nginx.sh) runs the shipped file, with only its placeholders
(name, ports, folder) replaced, in front of a real `dossierflow sink` process holding a
token, Kafka down (the sink serves its HTTP endpoint while it waits). TLS with a
certificate from a test CA (trustme).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from dossierflow.kafka.local_broker import free_port
from dossierflow.store import connect, migrate
from tests.test_report import History, write

pytestmark = [pytest.mark.clickhouse, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "deploy" / "nginx" / "dossierflow.conf"
NGINX = "/usr/sbin/nginx"
NAME = "localhost"
TOKEN = "proxy-test-token-" + "7" * 32
PERSON, PASSWORD = "chanh.vp", "mật-khẩu-thử"
MARCH = "/report?from=2026-03-01&to=2026-04-01&format=csv"


@dataclass
class Stack:
    proxy: str
    sink: str
    tls: ssl.SSLContext


def _config(folder: Path, https_port: int, http_port: int, sink_port: int) -> Path:
    """The shipped file with its placeholders replaced, inside a main file for this test."""
    text = SHIPPED.read_text()
    for placeholder, value in {
        "bao-cao.example.gov.vn": NAME,
        "127.0.0.1:8686": f"127.0.0.1:{sink_port}",
        "/etc/nginx/dossierflow/": f"{folder}/",
        "listen 443 ": f"listen 127.0.0.1:{https_port} ",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
    }.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    (folder / "dossierflow.conf").write_text(text)
    main = folder / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""  # the test's files are the test's own
    main.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  access_log {folder}/access.log;\n"
        + "".join(f"  {kind}_temp_path {folder}/{kind};\n"
                  for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {folder}/dossierflow.conf;\n}}\n"
    )
    return main


def _password_file(folder: Path) -> None:
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=PASSWORD,
                            capture_output=True, text=True, check=True).stdout.strip()
    (folder / "htpasswd").write_text(f"{PERSON}:{hashed}\n")


def _wait_for(url: str, process: subprocess.Popen[str], context: ssl.SSLContext | None) -> None:
    for _ in range(300):
        assert process.poll() is None, process.communicate()[1][-3000:]
        try:
            urllib.request.urlopen(url, timeout=2, context=context).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@contextmanager
def serving(command: list[str], ready: str, *, env: dict[str, str] | None = None,
            tls: ssl.SSLContext | None = None) -> Iterator[None]:
    """`command` running until the block ends, once `ready` answers."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(ready, process, tls)
        yield
    finally:
        process.terminate()
        process.wait(30)


@contextmanager
def running_sink(tmp_path: Path) -> Iterator[str]:
    """A real `dossierflow sink` holding TOKEN, on a chDB store with one dossier, Kafka
    down (it serves HTTP while it waits): its URL."""
    (tmp_path / "token").write_text(TOKEN + "\n")
    store_url = f"chdb://{tmp_path / 'ch'}"
    store = connect(store_url)
    migrate(store)
    write(store, History("D1").received("2026-03-02 09:00", due="2026-03-20 17:00").facts())
    store.close()
    port = free_port()
    env = {**os.environ, "DOSSIERFLOW_STARTUP_WAIT": "0",
           "DOSSIERFLOW_SINK_TOKEN_FILE": str(tmp_path / "token")}
    with serving([sys.executable, "-m", "dossierflow.cli", "sink", "--store", store_url,
                  "--http-port", str(port), "--bootstrap", f"127.0.0.1:{free_port()}"],
                 f"http://127.0.0.1:{port}/healthz", env=env):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    assert os.access(NGINX, os.X_OK), f"{NGINX} is missing: run `bash deploy/install_nginx.sh`"
    folder = tmp_path / "nginx"
    folder.mkdir()
    ca = trustme.CA()
    ca.issue_cert(NAME).private_key_and_cert_chain_pem.write_to_path(folder / "tls.crt")
    shutil.copy(folder / "tls.crt", folder / "tls.key")  # one PEM holds the key and chain
    (folder / "sink-token.map").write_text(f'default "Bearer {TOKEN}";\n')
    _password_file(folder)
    https_port, http_port = free_port(), free_port()
    with running_sink(tmp_path) as sink:
        main = _config(folder, https_port, http_port, int(sink.rpartition(":")[2]))
        tls = ssl.create_default_context()
        ca.configure_trust(tls)
        with serving([NGINX, "-c", str(main), "-p", str(folder)],
                     f"https://{NAME}:{https_port}/healthz", tls=tls):
            yield Stack(f"https://{NAME}:{https_port}", sink, tls)


def fetch(
    url: str, tls: ssl.SSLContext | None = None, **headers: str
) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30, context=tls) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def basic(person: str, password: str) -> str:
    return "Basic " + b64encode(f"{person}:{password}".encode()).decode()


def test_a_person_without_credentials_is_asked_for_them(stack: Stack) -> None:
    status, _, headers = fetch(stack.proxy + MARCH, stack.tls)
    assert status == 401
    assert headers["WWW-Authenticate"] == 'Basic realm="dossierflow"'
    assert headers["Server"] == "nginx"  # server_tokens off: no version
    assert fetch(stack.proxy + MARCH, stack.tls, Authorization=basic(PERSON, "sai"))[0] == 401


def test_a_person_with_credentials_gets_the_report_and_the_dashboard(stack: Stack) -> None:
    auth = basic(PERSON, PASSWORD)
    status, text, headers = fetch(stack.proxy + MARCH, stack.tls, Authorization=auth)
    assert status == 200, text
    assert text.splitlines()[1].startswith("X1,")
    assert headers["Strict-Transport-Security"] == "max-age=31536000"
    assert headers["X-Frame-Options"] == "DENY"  # the sink's own headers come through
    status, page, _ = fetch(stack.proxy + "/dashboard", stack.tls, Authorization=auth)
    assert status == 200 and "<!doctype html>" in page


def test_a_machine_with_the_token_passes_and_a_wrong_token_does_not(stack: Stack) -> None:
    status, text, _ = fetch(stack.proxy + MARCH, stack.tls, Authorization=f"Bearer {TOKEN}")
    assert status == 200 and text.startswith("unit_code,")
    wrong = fetch(stack.proxy + MARCH, stack.tls, Authorization=f"Bearer {TOKEN[:-1]}0")
    assert wrong[0] == 401 and "Bearer" in wrong[2]["WWW-Authenticate"]  # the sink said no


def test_the_sink_refuses_a_direct_request_without_the_token(stack: Stack) -> None:
    assert fetch(stack.sink + MARCH)[0] == 401
    assert fetch(stack.sink + MARCH, Authorization=f"Bearer {TOKEN}")[0] == 200


def test_probes_answer_without_credentials_and_tell_nothing(stack: Stack) -> None:
    assert fetch(stack.proxy + "/healthz", stack.tls)[:2] == (200, '{"status": "alive"}')
    # the caller's token is not passed on by the probe location: no details either
    status, text, _ = fetch(stack.proxy + "/readyz", stack.tls, Authorization=f"Bearer {TOKEN}")
    assert (status, text) == (503, "not ready\n")


def test_the_proxy_answers_no_other_name(stack: Stack) -> None:
    by_address = stack.proxy.replace(NAME, "127.0.0.1")
    with pytest.raises(urllib.error.URLError):  # no certificate for an unknown name
        urllib.request.urlopen(by_address + "/healthz", timeout=10, context=stack.tls)
