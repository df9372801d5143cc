"""In Kubernetes, people reach the sink through ingress-nginx, which authenticates them
(deploy/k8s/ingress.yaml), then the sink pod's own proxy (deploy/k8s/sink-proxy.conf),
which adds the sink's bearer token; the browser and the Ingress object never hold it.

The files are read against each other (no cluster here), and the proxy's file runs in
Debian's nginx (deploy/install_nginx.sh) in front of a real sink, with the token map
written by the init container's own command line.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dossierflow.kafka.local_broker import free_port
from tests.test_deploy_files import K8S, k8s_objects
from tests.test_nginx_proxy import (
    NGINX,
    PASSWORD,
    PERSON,
    TOKEN,
    basic,
    fetch,
    running_sink,
    serving,
)

CONF = K8S / "sink-proxy.conf"
ANNOTATION = "nginx.ingress.kubernetes.io/"


def _object(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in k8s_objects()
                if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _pod() -> dict[str, Any]:
    return dict(_object("Deployment", "sink")["spec"]["template"]["spec"])


def _container(pod: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in pod.get("initContainers", []) + pod["containers"]
                if c["name"] == name]
    return dict(found)


def _volumes(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Mount path -> volume, of a container."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    return {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}


def test_people_come_through_the_ingress_s_authentication_to_the_proxy() -> None:
    people = _object("Ingress", "sink-people")
    annotations = people["metadata"]["annotations"]
    assert annotations[f"{ANNOTATION}auth-type"] == "basic"
    assert annotations[f"{ANNOTATION}auth-secret"] == "dossierflow-proxy-htpasswd"
    ((rule,),) = [[r] for r in people["spec"]["rules"]]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = _object("Service", backend["name"])
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
    proxy = _container(_pod(), "proxy")
    (served,) = [p for p in proxy["ports"] if p["name"] == port["targetPort"]]
    assert f"listen {served['containerPort']};" in CONF.read_text()
    # machines go straight to the sink, which checks their token itself
    machines = _object("Ingress", "sink-machines")
    assert not [k for k in machines["metadata"].get("annotations", {}) if "auth" in k]
    (rule,) = machines["spec"]["rules"]
    assert rule["http"]["paths"][0]["backend"]["service"]["port"]["name"] == "http"
    kustomization = (K8S / "kustomization.yaml").read_text()
    assert "auth=../site/secrets/proxy/htpasswd" in kustomization


def test_the_proxy_has_the_token_from_the_sinks_own_secret_and_nothing_else() -> None:
    pod = _pod()
    sink, writer, proxy = (_container(pod, n) for n in ("sink", "proxy-token", "proxy"))
    token_file = {e["name"]: e.get("value") for e in sink["env"]}["DOSSIERFLOW_SINK_TOKEN_FILE"]
    sink_secret = _volumes(pod, sink)[str(Path(token_file).parent)]["secret"]["secretName"]
    (source,) = [v for v in _volumes(pod, writer).values() if "secret" in v]
    assert source["secret"]["secretName"] == sink_secret
    assert source["secret"]["items"] == [{"key": Path(token_file).name,
                                          "path": Path(token_file).name}]
    assert not [v for v in _volumes(pod, proxy).values() if "secret" in v]
    shared = _volumes(pod, proxy)["/run/proxy"]
    assert shared is _volumes(pod, writer)["/run/proxy"]
    assert shared["emptyDir"]["medium"] == "Memory"
    assert "include /run/proxy/sink-token.map;" in CONF.read_text()
    config = _volumes(pod, proxy)["/etc/dossierflow-proxy"]["configMap"]["name"]
    assert f"- name: {config}\n    files:\n      - nginx.conf=sink-proxy.conf" in (
        K8S / "kustomization.yaml").read_text()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[str]:
    assert os.access(NGINX, os.X_OK), f"{NGINX} is missing: run `bash deploy/install_nginx.sh`"
    folder = tmp_path / "pod"
    (folder / "run/secrets/sink-token").mkdir(parents=True)
    (folder / "run/proxy").mkdir()
    (folder / "run/secrets/sink-token/sink-token").write_text(TOKEN + "\n")
    (script,) = _container(_pod(), "proxy-token")["command"][2:]
    subprocess.run(["sh", "-c", script.replace("/run/", f"{folder}/run/")], check=True)
    port = free_port()
    with running_sink(tmp_path) as sink:
        text = CONF.read_text()
        here = {"/run/proxy/": f"{folder}/run/proxy/", "/tmp/": f"{folder}/",
                "listen 8687;": f"listen 127.0.0.1:{port};",
                "127.0.0.1:8686": sink.removeprefix("http://")}
        assert all(old in text for old in here), "sink-proxy.conf changed: update the test"
        text = re.sub("|".join(map(re.escape, here)), lambda m: here[m[0]], text)
        user = "user root;\n" if os.geteuid() == 0 else ""  # the test's files are its own
        (folder / "nginx.conf").write_text(user + text)
        # the container's own command line, on this file
        command = _container(_pod(), "proxy")["command"]
        assert command[:3] == ["nginx", "-c", "/etc/dossierflow-proxy/nginx.conf"]
        with serving([NGINX, "-c", str(folder / "nginx.conf"), *command[3:], "-p", str(folder)],
                     f"http://127.0.0.1:{port}/dashboard"):
            yield f"http://127.0.0.1:{port}"


def test_a_person_the_ingress_let_in_gets_the_dashboard_and_never_the_token(proxy: str) -> None:
    for headers in ({"Authorization": basic(PERSON, PASSWORD)},
                    {"X-Auth-Request-User": PERSON}):
        status, page, answer = fetch(proxy + "/dashboard", None, **headers)
        assert status == 200 and "<!doctype html>" in page, headers
        assert TOKEN not in page and TOKEN not in str(answer), headers


def test_a_request_the_ingress_did_not_authenticate_is_refused(proxy: str) -> None:
    assert fetch(proxy + "/dashboard")[0] == 401
    # a machine's token is for the API host (the sink itself): here it is no person
    assert fetch(proxy + "/dashboard", Authorization=f"Bearer {TOKEN}")[0] == 401
