"""The dashboards: committed JSON equals what `monitoring.dashboards` generates; panels use
the provisioned datasource; recording rules they read exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from monitoring.dashboards import DASHBOARD_DIR, DASHBOARDS, panel_queries, render

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"


def test_committed_dashboards_are_generated() -> None:
    for name, text in render().items():
        committed = DASHBOARD_DIR / name
        assert committed.read_text() == text, f"{name} is stale: python -m monitoring.dashboards"
    assert {p.name for p in DASHBOARD_DIR.glob("*.json")} == set(DASHBOARDS)


def test_panels_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uid = provisioned["datasources"][0]["uid"]
    provider = yaml.safe_load(
        (MONITORING / "grafana/provisioning/dashboards/sentiment.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    for name in DASHBOARDS:
        document = json.loads((DASHBOARD_DIR / name).read_text())
        ids = [p["id"] for p in document["panels"]]
        assert len(ids) == len(set(ids))
        for panel in document["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]


def test_recording_rules_the_panels_read_exist() -> None:
    rules = yaml.safe_load((MONITORING / "prometheus/rules/recording.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"]}
    for name in DASHBOARDS:
        for title, expr in panel_queries(json.loads((DASHBOARD_DIR / name).read_text())):
            for metric in re.findall(r"[a-z_]+:[a-z0-9_:]+", expr):
                assert metric in recorded, f"{title}: {metric} is not a recording rule"
