"""promtool on the Prometheus config, the rules and the alert unit tests; every alert has
a unit test where it fires and one where it stays silent; every recording rule is read,
and the rollout rules' arithmetic has expression tests."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"


def rules(name: str) -> list[dict[str, Any]]:
    """The rules of rules/<name>.yml, each with its group's name under "group"."""
    groups = yaml.safe_load((PROMETHEUS_DIR / "rules" / f"{name}.yml").read_text())["groups"]
    return [{**rule, "group": group["name"]} for group in groups for rule in group["rules"]]


def unit_tests() -> list[dict[str, Any]]:
    return list(yaml.safe_load((PROMETHEUS_DIR / "tests/alerts_test.yml").read_text())["tests"])


def run(promtool: str, *args: str) -> str:
    result = subprocess.run(
        [promtool, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_config_is_valid(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "check", "config", "prometheus.yml")


def test_rules_are_valid(promtool: str) -> None:
    run(promtool, "check", "rules", "rules/recording.yml", "rules/alerts.yml")


def test_alert_unit_tests_pass(promtool: str) -> None:
    assert "SUCCESS" in run(promtool, "test", "rules", "tests/alerts_test.yml")


def test_every_alert_is_tested_both_ways() -> None:
    alerts = {rule["alert"]: rule for rule in rules("alerts")}
    cases = [case for test in unit_tests() for case in test.get("alert_rule_test", [])]
    for name, rule in alerts.items():
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: needs a firing and a silent case"
        assert rule.get("for"), f"{name} has no for: window"
        assert rule["annotations"]["runbook_url"].startswith("docs/monitoring.md#")
    runbooks = (PROMETHEUS_DIR.parents[1] / "docs" / "monitoring.md").read_text().lower()
    for name in alerts:
        assert f"### {name.lower()}" in runbooks, f"no runbook section for {name}"


def reads(expr: str, name: str) -> bool:
    """Whether a PromQL expression reads the series `name` (not just a longer name)."""
    return re.search(rf"(?<![a-zA-Z0-9_:]){re.escape(name)}(?![a-zA-Z0-9_:])", expr) is not None


def test_every_recording_rule_is_read() -> None:
    """By a dashboard panel, an alert (expression or annotation) or another rule."""
    import json

    from monitoring.dashboards import DASHBOARD_DIR, DASHBOARDS
    from monitoring.grafana_model import panel_queries

    readers = [r["expr"] for r in rules("recording")]
    for alert in rules("alerts"):
        readers += [alert["expr"], *alert["annotations"].values()]
    for name in DASHBOARDS:
        readers += [e for _, e in panel_queries(json.loads((DASHBOARD_DIR / name).read_text()))]
    for rule in rules("recording"):
        assert any(reads(e, rule["record"]) for e in readers), f"{rule['record']} is never read"


def test_rollout_rules_have_expression_tests() -> None:
    """Their joins (the candidate from rollout_info) and `or 0 * ...` guards (a version
    with no error yet has ratio 0) are checked on numbers, not only parsed."""
    tested = [case["expr"] for test in unit_tests() for case in test.get("promql_expr_test", [])]
    rollout = [r["record"] for r in rules("recording") if r["group"] == "sentiment-rollout"]
    assert len(rollout) >= 6
    for name in rollout:
        assert any(reads(e, name) for e in tested), f"{name} has no promql_expr_test"
