"""The Grafana dashboards' PromQL, checked by promtool, and their provisioning.

Every Prometheus query of every dashboard in deploy/grafana/dashboards is written into a
temporary rules file as a recording rule, with Grafana's interval macros replaced by
durations, and `promtool check rules` must accept it. tests/test_prometheus_live.py runs
the same queries against a real Prometheus scraping a real worker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.promtool import DEPLOY, exported_series_names, promtool, series_names_in

GRAFANA = DEPLOY / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
OPS = DASHBOARDS / "ops.json"
PROMETHEUS_DATASOURCE_UID = "dossierflow-prometheus"
GRAFANA_MACROS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows hold their panels
    return panels


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL with the macros substituted) of every Prometheus target."""
    queries = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in _panels(json.loads(path.read_text())):
            for target in panel.get("targets", []):
                datasource = target.get("datasource") or panel.get("datasource") or {}
                if datasource.get("type") != "prometheus":
                    continue
                expr = target["expr"]
                for macro, value in GRAFANA_MACROS.items():
                    expr = expr.replace(macro, value)
                queries.append((f"{path.name}: {panel['title']} [{target['refId']}]", expr))
    return queries


def test_promtool_accepts_every_dashboard_query(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    rules = {
        "groups": [{
            "name": "dashboards",
            "rules": [
                {"record": f"dashboard:query_{index}", "expr": expr}
                for index, (_, expr) in enumerate(queries)
            ],
        }]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(queries)} rules found" in promtool("check", "rules", path).stdout


def test_dashboard_queries_read_only_series_the_processes_export() -> None:
    exported = exported_series_names()
    for where, expr in dashboard_queries():
        names = series_names_in(expr)
        assert names, f"{where}: no series found in {expr!r}"
        assert names <= exported, f"{where}: nobody exports {sorted(names - exported)}"


def test_the_ops_dashboard_covers_what_operators_watch() -> None:
    used = {name for _, expr in dashboard_queries() for name in series_names_in(expr)}
    assert {
        "dossierflow_events_total",  # throughput
        "dossierflow_consumer_lag",  # lag per partition
        "dossierflow_event_processing_seconds_bucket",  # latency quantiles
        "dossierflow_alerts_total",  # alerts by kind
        "dossierflow_dead_letters_total",
        "dossierflow_timer_scan_seconds_bucket",  # timers
        "dossierflow_event_time_watermark_seconds",
    } <= used
    dashboard = json.loads(OPS.read_text())
    for panel in _panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == PROMETHEUS_DATASOURCE_UID, panel["title"]


def test_grafana_provisions_the_prometheus_source_and_the_dashboards_folder() -> None:
    sources = [
        source
        for path in (GRAFANA / "provisioning" / "datasources").glob("*.yaml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    prometheus = [s for s in sources if s["uid"] == PROMETHEUS_DATASOURCE_UID]
    assert [s["type"] for s in prometheus] == ["prometheus"]
    assert prometheus[0]["url"] == "http://prometheus:9090"  # the compose service
    providers = [
        provider
        for path in (GRAFANA / "provisioning" / "dashboards").glob("*.yaml")
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    # docker-compose.yml mounts deploy/grafana/dashboards at this path.
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards/dossierflow"]


def test_every_data_source_a_dashboard_uses_is_provisioned() -> None:
    provisioned = {
        source["uid"]: source["type"]
        for path in (GRAFANA / "provisioning" / "datasources").glob("*.yaml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    }
    used = {
        (path.name, source["uid"], source["type"])
        for path in sorted(DASHBOARDS.glob("*.json"))
        for panel in _panels(json.loads(path.read_text()))
        if panel["type"] != "row"
        for source in [panel["datasource"], *(t.get("datasource") for t in panel["targets"])]
        if source
    }
    assert {name for name, _, _ in used} == {"ops.json", "province.json"}
    assert [(name, uid) for name, uid, kind in used if provisioned.get(uid) != kind] == []
