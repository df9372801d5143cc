"""The alert rules and the scrape configuration, checked and unit-tested by promtool."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.promtool import PROMETHEUS_DIR, exported_series_names, promtool, series_names_in

RULES = PROMETHEUS_DIR / "rules.yml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yml"
OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_the_rules_and_the_scrape_configurations(tmp_path: Path) -> None:
    assert "SUCCESS: 20 rules found" in promtool("check", "rules", RULES).stdout
    # promtool wants the sink job's token file to exist: a copy names one made here. (Debian's
    # Prometheus is built without Kubernetes discovery: kubernetes.yml is read by
    # tests/test_deploy_files.py and test_deploy_security.py only.)
    (tmp_path / "rules.yml").write_text(RULES.read_text())
    (tmp_path / "token").write_text("t" * 64 + "\n")
    for name in ("prometheus.yml",):
        config = yaml.safe_load((PROMETHEUS_DIR / name).read_text())
        for job in config["scrape_configs"]:
            if "authorization" in job:
                job["authorization"]["credentials_file"] = str(tmp_path / "token")
        (tmp_path / name).write_text(yaml.safe_dump(config))
        promtool("check", "config", tmp_path / name)


def test_the_rule_unit_tests_pass() -> None:
    promtool("test", "rules", RULES_TEST.name, cwd=PROMETHEUS_DIR)


def test_the_rules_read_only_series_the_processes_export() -> None:
    exported = exported_series_names()
    for rule in _alerts():
        names = series_names_in(rule["expr"])
        assert names, f"{rule['alert']}: no series found in its expression"
        assert names <= exported, f"{rule['alert']}: nobody exports {sorted(names - exported)}"


def test_every_alert_has_a_unit_test_where_it_fires() -> None:
    cases = [
        case
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    assert {rule["alert"] for rule in _alerts()} - firing == set()


def test_every_alert_links_to_its_runbook_section() -> None:
    headings = {
        # GitHub's anchor of a Markdown heading: lower case, spaces to hyphens.
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _alerts():
        runbook = rule["annotations"]["runbook"]
        assert runbook == f"docs/operations.md#{rule['alert'].lower()}", rule["alert"]
        assert runbook.split("#")[1] in headings, f"no section {rule['alert']} in operations.md"
