"""The dashboards: committed JSON equals what `monitoring.dashboards` generates; panels use
the provisioned datasource; recording rules they read exist; the rollout dashboard charts
what a rollout is judged by."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from monitoring.dashboards import DASHBOARD_DIR, DASHBOARDS, render
from monitoring.grafana_model import panel_queries

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


def test_rollout_dashboard_charts_share_agreement_errors_and_latency_by_version() -> None:
    document = json.loads((DASHBOARD_DIR / "rollout.json").read_text())
    read = " ".join(expr for _, expr in panel_queries(document))
    for metric in (
        "sentiment_gateway_rollout_info",  # the state: served, candidate, mode
        "sentiment_gateway_rollout_candidate_share",  # configured share
        "model_version:sentiment_gateway_version_calls:share5m",
        "model:sentiment_gateway_rollout_candidate_calls:share5m",  # observed share
        "model_version:sentiment_gateway_version_errors:ratio_rate5m",
        "model_version:sentiment_gateway_version_seconds:p50_5m",
        "model_version:sentiment_gateway_version_seconds:p99_5m",
        "model_version:sentiment_gateway_shadow_agreement:ratio_rate5m",
        "model_version:sentiment_gateway_shadow_dropped:ratio_rate5m",
        "sentiment_gateway_rollout_guardrail_rollbacks_total",
    ):
        assert metric in read, f"the rollout dashboard does not chart {metric}"
    legends = [  # a series per version must say which version it is
        target["legendFormat"]
        for panel in document["panels"]
        for target in panel.get("targets", [])
        if target["expr"].startswith("model_version")
    ]
    assert legends and all("{{version}}" in legend for legend in legends), legends
