"""promtool on the Prometheus config, the rules and the alert unit tests; every alert has
a unit test where it fires and one where it stays silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "monitoring" / "prometheus"


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
    alerts = {
        rule["alert"]: rule
        for group in yaml.safe_load((PROMETHEUS_DIR / "rules/alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    }
    cases = [
        case
        for test in yaml.safe_load((PROMETHEUS_DIR / "tests/alerts_test.yml").read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    for name, rule in alerts.items():
        outcomes = {bool(c["exp_alerts"]) for c in cases if c["alertname"] == name}
        assert outcomes == {True, False}, f"{name}: needs a firing and a silent case"
        assert rule.get("for"), f"{name} has no for: window"
        assert rule["annotations"]["runbook_url"].startswith("docs/monitoring.md#")
    runbooks = (PROMETHEUS_DIR.parents[1] / "docs" / "monitoring.md").read_text().lower()
    for name in alerts:
        assert f"### {name.lower()}" in runbooks, f"no runbook section for {name}"
