"""The Grafana dashboards as code: `python -m monitoring.dashboards` writes
`monitoring/grafana/dashboards/*.json` (committed; a test fails when they are stale).

The JSON model and layout are in `monitoring.grafana_model`, the rollout dashboard in
`monitoring.rollout_dashboard`. Every panel queries the provisioned Prometheus datasource;
most read the recording rules of `monitoring/prometheus/rules`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from monitoring.grafana_model import FLAG, Panel, Row, dashboard
from monitoring.rollout_dashboard import rollout

DASHBOARD_DIR = Path(__file__).resolve().parent / "grafana" / "dashboards"
GPU_ONLY = ("nv_gpu_", "nv_energy_")
"""Metric prefixes Triton exports only on GPU hosts."""
ROLLOUT_ONLY = ("sentiment_gateway_shadow_", "rollout_candidate_calls")
"""Parts of metric names with series only while a rollout runs: shadow copies exist in
shadow mode, the candidate's observed share in canary mode."""

SERVING_VERSION = 'sum by (version) (rate(nv_inference_count{model="sentiment"}[5m]))'


def service_overview() -> dict[str, Any]:
    return dashboard(
        "sentiment-service",
        "Sentiment service: overview",
        [
            Row(
                "Traffic and errors",
                [
                    Panel(
                        "Requests/s by method",
                        [("method:sentiment_gateway_requests:rate5m", "{{method}}")],
                        "reqps",
                        width=8,
                    ),
                    Panel(
                        "Requests/s by status",
                        [
                            (
                                "sum by (code) (method_code:sentiment_gateway_requests:rate5m)",
                                "{{code}}",
                            )
                        ],
                        "reqps",
                        width=8,
                    ),
                    Panel(
                        "Server error ratio",
                        [("sentiment_gateway_errors:ratio_rate5m", "errors")],
                        "percentunit",
                        width=8,
                        description=(
                            "INTERNAL, UNKNOWN, UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS and "
                            "UNIMPLEMENTED over all calls; alert above 5%."
                        ),
                    ),
                ],
            ),
            Row(
                "Latency",
                [
                    Panel(
                        "Gateway latency percentiles",
                        [
                            ("method:sentiment_gateway_request_seconds:p50_5m", "p50 {{method}}"),
                            ("method:sentiment_gateway_request_seconds:p95_5m", "p95 {{method}}"),
                            ("method:sentiment_gateway_request_seconds:p99_5m", "p99 {{method}}"),
                        ],
                        "s",
                        description="SLO: p99 under 500 ms.",
                    ),
                    Panel(
                        "Triton call p99 (seen from the gateway)",
                        [("model:sentiment_gateway_triton_seconds:p99_5m", "{{model}}")],
                        "s",
                    ),
                ],
            ),
            Row(
                "Load shedding",
                [
                    Panel(
                        "Rejections/s by reason",
                        [("reason:sentiment_gateway_rejections:rate5m", "{{reason}}")],
                        "reqps",
                    ),
                    Panel(
                        "In flight", [("sum(sentiment_gateway_in_flight)", "in flight")], "short"
                    ),
                ],
            ),
            Row(
                "Audit health",
                [
                    Panel(
                        "Audit spool depth",
                        [("sentiment_gateway_audit_spool_depth", "{{instance}}")],
                        "short",
                        width=8,
                        description="Audit records accepted but not yet in the database.",
                    ),
                    Panel(
                        "Audit write lag",
                        [("sentiment_gateway_audit_write_lag_seconds", "{{instance}}")],
                        "s",
                        width=8,
                        description="Age of the oldest audit record not yet in the database.",
                    ),
                    Panel(
                        "Drift samples/s",
                        [("sentiment_gateway_drift_samples:rate15m", "sampled")],
                        "reqps",
                        width=8,
                    ),
                ],
            ),
            Row(
                "Targets",
                [
                    Panel(
                        "Scrape targets up",
                        [('up{job=~"triton|sentiment-gateway|sentiment-drift"}', "{{job}}")],
                        kind="stat",
                        width=24,
                        options=FLAG,
                    ),
                ],
            ),
        ],
        ["gateway"],
    )


def triton() -> dict[str, Any]:
    return dashboard(
        "sentiment-triton",
        "Sentiment service: Triton",
        [
            Row(
                "Throughput",
                [
                    Panel(
                        "Inferences/s by model and version",
                        [("model_version:nv_inference_count:rate5m", "{{model}} v{{version}}")],
                        "reqps",
                    ),
                    Panel(
                        "Requests/s: success and failure",
                        [
                            ("model:nv_inference_request_success:rate5m", "ok {{model}}"),
                            ("model:nv_inference_request_failure:rate5m", "failed {{model}}"),
                        ],
                        "reqps",
                    ),
                ],
            ),
            Row(
                "Where the time goes",
                [
                    Panel(
                        "Queue vs compute per request",
                        [
                            ("model:nv_inference_queue_us_per_request:rate5m", "queue {{model}}"),
                            (
                                "model:nv_inference_compute_us_per_request:rate5m",
                                "compute {{model}}",
                            ),
                        ],
                        "µs",
                        width=8,
                    ),
                    Panel(
                        "Share of server time queued",
                        [("model:nv_inference_queue_share:rate5m", "{{model}}")],
                        "percentunit",
                        width=8,
                        description="Alert above 50% for 10 minutes.",
                    ),
                    Panel(
                        "Average batch size (inferences / executions)",
                        [("model:nv_inference_batch_size:avg5m", "{{model}}")],
                        "short",
                        width=8,
                    ),
                    Panel(
                        "Pending requests",
                        [("sum by (model) (nv_inference_pending_request_count)", "{{model}}")],
                        "short",
                        width=24,
                    ),
                ],
            ),
            Row(
                "Hardware",
                [
                    Panel(
                        "CPU utilization",
                        [("nv_cpu_utilization", "{{instance}}")],
                        "percentunit",
                        width=6,
                    ),
                    Panel(
                        "CPU memory",
                        [
                            ("nv_cpu_memory_used_bytes", "used"),
                            ("nv_cpu_memory_total_bytes", "total"),
                        ],
                        "bytes",
                        width=6,
                    ),
                    Panel(
                        "GPU utilization (GPU hosts)",
                        [("nv_gpu_utilization", "{{gpu_uuid}}")],
                        "percentunit",
                        width=6,
                        description="Triton exports GPU metrics only on GPU hosts: empty on CPU.",
                    ),
                    Panel(
                        "GPU memory (GPU hosts)",
                        [
                            ("nv_gpu_memory_used_bytes", "used {{gpu_uuid}}"),
                            ("nv_gpu_memory_total_bytes", "total {{gpu_uuid}}"),
                        ],
                        "bytes",
                        width=6,
                    ),
                ],
            ),
        ],
        ["triton"],
    )


def model_quality() -> dict[str, Any]:
    return dashboard(
        "sentiment-model-quality",
        "Sentiment service: model quality and drift",
        [
            Row(
                "Verdict (last drift run)",
                [
                    Panel(
                        "Dataset drift",
                        [("sentiment_drift_dataset_drift", "dataset drift")],
                        kind="stat",
                        width=6,
                        options=FLAG,
                        description=(
                            "1: at least half of the text features drifted; 0: none; "
                            "NaN: too few samples."
                        ),
                    ),
                    Panel(
                        "Prediction drift",
                        [("sentiment_drift_prediction_drift", "prediction drift")],
                        kind="stat",
                        width=6,
                        options=FLAG,
                    ),
                    Panel(
                        "Window samples (vs minimum)",
                        [
                            ("sentiment_drift_window_samples", "samples"),
                            ("sentiment_drift_min_samples", "minimum"),
                        ],
                        kind="stat",
                        width=6,
                    ),
                    Panel(
                        "Last run age",
                        [("sentiment_drift_last_run:age_seconds", "age")],
                        "s",
                        kind="stat",
                        width=6,
                    ),
                ],
            ),
            Row(
                "Drift scores",
                [
                    Panel(
                        "Drift score per feature (p-value: lower = more different)",
                        [("sentiment_drift_score", "{{feature}} ({{method}})")],
                        "short",
                        description="Evidently K-S p-values; a feature drifts below 0.05.",
                    ),
                    Panel(
                        "Features drifted",
                        [
                            ("sentiment_drift_feature_drifted", "{{feature}}"),
                            ("sentiment_drift_drifted_share", "share of text features"),
                        ],
                        "short",
                    ),
                ],
            ),
            Row(
                "Predictions",
                [
                    Panel(
                        "Predicted label shares: window vs reference",
                        [("sentiment_drift_label_share", "{{label}} ({{dataset}})")],
                        "percentunit",
                        width=8,
                    ),
                    Panel(
                        "Confidence distribution (quantiles)",
                        [("sentiment_drift_confidence_quantile", "q{{quantile}} ({{dataset}})")],
                        "percentunit",
                        width=8,
                    ),
                    Panel(
                        "Model version serving (inferences/s)",
                        [
                            (
                                SERVING_VERSION,
                                "version {{version}}",
                            )
                        ],
                        "reqps",
                        width=8,
                    ),
                    Panel(
                        "Drift runs by outcome (last hour)",
                        [
                            (
                                "sum by (outcome) (increase(sentiment_drift_runs_total[1h]))",
                                "{{outcome}}",
                            )
                        ],
                        "short",
                        width=24,
                    ),
                ],
            ),
        ],
        ["drift", "model"],
    )


DASHBOARDS = {
    "service-overview.json": service_overview,
    "triton.json": triton,
    "model-quality.json": model_quality,
    "rollout.json": rollout,
}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


def main() -> int:
    DASHBOARD_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (DASHBOARD_DIR / name).write_text(text)
        print(DASHBOARD_DIR / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
